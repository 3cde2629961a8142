"""Student: what a small model would learn from a labeler's labels, before anyone trains it."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from labelgate import calibrate as cal
from labelgate import student as stu
from labelgate.store import student as student_store
from labelgate.store.tasks import get_task, list_tasks
from labelgate.ui import figures
from labelgate.ui.session import action, current_user, get_db, require_page
from labelgate.ui.widgets import plain, show_message, task_picker

user = require_page("student")
db = get_db()
S = st.session_state


@st.cache_data(ttl=15, max_entries=8, show_spinner=False)
def task_state(task_name: str):
    task = get_task(db, task_name)
    return task, cal.load_task_gold(db, task).version, cal.labeler_refs(db, task)


@st.cache_data(ttl=60, max_entries=32, show_spinner=False)
def arms_for(task_name: str, labeler: str, version: str) -> tuple[str, ...]:
    return stu.default_arms(db, get_task(db, task_name), labeler, version)


def use_default_arms(task_name: str, labeler: str, version: str) -> None:
    """The labeler's arms: the confidence filter only when it has a confidence or samples to rank by."""
    S["stu_arms"] = list(arms_for(task_name, labeler, version))
    S["stu_arms_for"] = (task_name, labeler)


@st.cache_data(ttl=3600, max_entries=8, show_spinner=False)
def preview(task_name: str, labeler: str, version: str, gold_version: str, arms: tuple, seeds: int,
            retention: float) -> stu.StudentReport | str:
    """The preview, keyed by the labeler and gold versions it was measured on (or why it cannot run)."""
    task = get_task(db, task_name)
    try:
        return stu.build_preview(db, task, labeler, arms=arms, n_seeds=seeds, retention=retention)
    except stu.StudentRefused as exc:
        return str(exc)


@action("student")
def on_record(task_name: str, report: stu.StudentReport) -> None:
    try:
        pid = stu.record_evidence(db, get_task(db, task_name), report, user=current_user())
    except PermissionError as exc:
        S["stu_message"] = ("error", str(exc))
        return
    S["stu_message"] = ("success", f"Recorded as gate evidence: student preview #{pid} of {report.labeler} version "
                                   f"{report.labeler_version} on {report.gold_name}. The Gate page's student "
                                   "criteria read it.")


def _ci(e) -> str:
    if e is None or not math.isfinite(e.estimate):
        return "–"
    if not math.isfinite(e.ci_low):
        return f"{e.estimate:.3f}"
    return f"{e.estimate:.3f} ({e.ci_low:.3f} to {e.ci_high:.3f})"


def arms_table(report: stu.StudentReport) -> pd.DataFrame:
    p = report.preview
    rows = []
    for a in p.arms:
        rows.append({
            "Label source": a.name,
            "Training rows per fold": f"{a.n_train:,.0f}",
            "Rows a filter removed": f"{a.n_removed:,.0f}" if a.n_removed else "",
            "Macro-F1 (95% CI)": _ci(a.macro_f1),
            f"Recall of '{p.minority}' (95% CI)": _ci(a.recall.get(p.minority)),
            "Macro-F1 lost against gold": "" if a.name == p.reference else _ci(a.f1_loss),
            "Stability (alpha across seeds)": "–" if not math.isfinite(a.stability_alpha)
            else f"{a.stability_alpha:.3f}",
            "Macro-F1 SD across seeds": "–" if not math.isfinite(a.macro_f1_sd) else f"{a.macro_f1_sd:.3f}",
        })
    return pd.DataFrame(rows)


def recall_table(report: stu.StudentReport) -> pd.DataFrame:
    p = report.preview
    classes = [c for c in p.classes if any(c in a.recall for a in p.arms)]
    return pd.DataFrame([{"Label source": a.name, **{f"Recall of '{c}'": _ci(a.recall.get(c)) for c in classes}}
                         for a in p.arms if a.evaluable])


def show_table(frame: pd.DataFrame) -> None:
    """A small static table that wraps instead of cutting text off; every cell shown as written."""
    frame = frame.map(plain)
    frame.columns = [plain(c) for c in frame.columns]
    st.table(frame, hide_index=True)


st.title("Student preview")
st.caption("Proxy students (TF-IDF of words and characters, class-weighted logistic regression) trained on each "
           "label source and scored only on gold items they never saw. A proxy is not your real student: it ranks "
           "label sources and shows their failure modes — lost macro-F1, a collapsing minority class, unstable "
           "students, a learning curve that stops climbing — before anyone trains on them.")
if "stu_task" not in S:  # open on a task the preview can use (the demo's first task in the list is ordinal)
    usable = [t.name for t in list_tasks(db) if t.kind == "categorical"]
    if usable:
        S["stu_task"] = usable[0]
task_name = task_picker("stu_task")
task, gold_version, refs = task_state(task_name)
if task.kind != "categorical":
    st.info(f"The student preview needs a categorical task with text items; {plain(task_name)} is {task.kind}.")
    st.stop()
if refs.empty:
    st.info(f"Task {plain(task_name)} has no labelers yet.")
    st.stop()

versions = dict(zip(refs["name"], refs["version"], strict=True))
# outside the form: the arms offered by default follow the labeler picked
labeler = st.selectbox("Labeler", list(refs["name"]), key="stu_labeler")
if S.get("stu_arms_for") != (task_name, labeler):
    use_default_arms(task_name, labeler, versions[labeler])
with st.form("stu_form", border=True):
    c2, c3 = st.columns(2)
    seeds = c2.number_input("Students per arm and fold (seeds)", min_value=2, max_value=10, value=5, key="stu_seeds")
    # a share as people read it (80%, as the README and the findings write it), not 0.80
    keep = c3.slider("Filters keep", min_value=50, max_value=95, value=round(stu.DEFAULT_RETENTION * 100), step=5,
                     format="%d%%", key="stu_retention",
                     help="Share of the labeler's rows the confidence and error-predictor filters keep: "
                          "both at the same retention, so they are compared at equal cost.")
    retention = keep / 100
    arms = st.multiselect("Label sources (arms)", list(stu.ARMS), key="stu_arms",
                          format_func=lambda k: stu.ARM_TITLES[k],
                          help="Gold (the reference) and the labeler's labels on all items always run. "
                               + " ".join(f"{stu.ARM_TITLES[k]}: {v}." for k, v in stu.ARMS.items()))
    if "confidence_filter" not in arms_for(task_name, labeler, versions[labeler]):
        st.caption(f"The confidence filter is not chosen: {plain(labeler)} states no confidence and gave one "
                   "sample per item, so there is nothing to filter by.")
    run = st.form_submit_button("Run the preview", type="primary")
if run:
    S["stu_request"] = (task_name, labeler, int(seeds), float(retention), tuple(arms))

request = S.get("stu_request")
if not request or request[0] != task_name:
    st.info("Choose a labeler and run the preview: about half a minute for 1,000 items with 5 seeds.")
    st.stop()
_, labeler, seeds, retention, arms = request
if labeler not in versions:
    st.info(f"{plain(labeler)} is no longer a labeler of {plain(task_name)}.")
    st.stop()
with st.spinner(f"Training proxy students on the labels of {plain(labeler)}…"):
    report = preview(task_name, labeler, versions[labeler], gold_version, arms, seeds, retention)
if isinstance(report, str):
    st.error(plain(report))
    st.stop()

p = report.preview
st.subheader("Findings")
for line in report.findings:
    st.markdown("- " + plain(line))
st.caption(f"{p.n_eval:,} gold items, each scored by students that never trained on its fold ({p.n_folds} folds, "
           f"the same for every arm); {p.n_seeds} students per arm and fold, each on a bootstrap resample of the "
           f"training rows; the filters keep {retention:.0%} of the labeler's rows. Minority class: "
           f"'{plain(p.minority)}'. Gold version {report.gold_version}, labeler version {report.labeler_version}.")
recorded = student_store.latest_preview(db, task.task_id, labeler)
same = recorded is not None and (recorded["labeler_version"], recorded["gold_version"]) == \
    (report.labeler_version, report.gold_version)
a, b = st.columns([1, 3], vertical_alignment="center")
a.button("Record as gate evidence", on_click=on_record, args=(task_name, report), icon=":material/fact_check:",
         help="Stores these numbers for the gate's student criteria (a lead adds them on the Gate page). They hold "
              "for this labeler version and this gold; a new version or release needs a new record.")
if recorded is None:
    b.caption(f"No preview of {plain(labeler)} is recorded as gate evidence yet.")
else:
    b.caption(f"Latest record: preview #{recorded['preview_id']} by {plain(recorded['created_by'])} on "
              f"{recorded['created_at']:%Y-%m-%d %H:%M}, " + ("this labeler version and gold." if same else
              f"version {recorded['labeler_version']} on {plain(recorded['gold_name'])}: not the ones shown here."))
show_message("stu_message")
st.subheader("Students by label source")
show_table(arms_table(report))
notes = [f"{a.name}: {a.note}" for a in p.arms if a.note]
if notes:
    st.caption(plain("Not evaluable in some folds — " + "; ".join(notes)))
st.subheader("Learning curves")
st.plotly_chart(figures.learning_curves(p), key="stu_curves")
st.caption("Each arm's macro-F1 as its training rows grow, with 95% CIs. An arm whose last segment's slope is "
           "indistinguishable from zero has plateaued: more of those labels would not help.")
st.subheader("Recall by class")
show_table(recall_table(report))
