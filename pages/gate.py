"""Gate: evaluate a labeler against its task's criteria; a lead approves or refuses, with a comment."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import streamlit as st

from labelgate import calibrate as cal
from labelgate import export as exporter
from labelgate import gate, governance
from labelgate import gold as goldlib
from labelgate.auth import can_change_settings, can_decide_gate
from labelgate.store import gate as gate_store
from labelgate.store.corrections import current_correction
from labelgate.store.tasks import get_task
from labelgate.ui import format as fmt
from labelgate.ui.session import action, current_user, get_db, require_page
from labelgate.ui.widgets import plain, show_message, task_labelers, task_picker
from qc.gate import Criterion

user = require_page("gate")
AUDIT_ROWS = 50  # the log is a wrapping table: every comment in full, the newest rows only
db = get_db()
S = st.session_state


@st.cache_data(ttl=600, max_entries=16, show_spinner="Evaluating the labeler on both releases…")
def on_both_releases(task_name: str, labeler: str, version: str, old: int, new: int) -> pd.DataFrame:
    """Releases are frozen: keyed by the labeler version and the two release numbers."""
    return gate.metrics_side_by_side(db, get_task(db, task_name), labeler, [old, new])


@st.cache_data(ttl=600, max_entries=16, show_spinner=False)
def release_diff(task_name: str, old: int, new: int) -> goldlib.GoldDiff:
    return goldlib.diff(db, get_task(db, task_name), old, new)


@st.cache_data(ttl=5, max_entries=16, show_spinner=False)
def audit(task_id: int, labeler: str) -> pd.DataFrame:
    return gate_store.events(db, task_id, labeler)


def side_by_side_view(both: pd.DataFrame, old: int, new: int) -> pd.DataFrame:
    """Readable cells: counts as whole numbers, other values to three decimals, "–" when not evaluable."""
    def cell(v) -> str:
        if v is None or pd.isna(v):
            return "–"
        return f"{v:,.0f}" if float(v).is_integer() and abs(v) >= 1 else f"{v:.3f}"

    return pd.DataFrame({"criterion": both["criterion"],
                         f"release {old} (approved)": both[f"release {old}"].map(cell),
                         f"result on {old}": both[f"release {old} result"],
                         f"release {new} (latest)": both[f"release {new}"].map(cell),
                         f"result on {new}": both[f"release {new} result"]})


def evaluated_on(event) -> str:
    r = event["gold_release"]
    return "the unreleased draft" if pd.isna(r) else f"gold release {int(r)}"


def clear() -> None:
    audit.clear()


def flash(kind: str, text: str) -> None:
    S["gate_message"] = (kind, text)


# --- the criteria form: a lead edits the saved criteria against the version loaded -------------

def thr_key(task_name: str, key: str) -> str:
    """The threshold box of a rule (its Criterion.key: the same metric on two task criteria is two boxes)."""
    return f"gate_thr_{task_name}_{key}"


def load_criteria(task_name: str) -> None:
    """Put the saved criteria and human share into the form and remember which versions they are."""
    task = get_task(db, task_name)
    for c in gate.criteria_for(db, task):
        S[thr_key(task_name, c.key)] = float(c.threshold)
    S[f"gate_share_{task_name}"] = round(exporter.task_human_share(db, task) * 100)
    S[f"gate_loaded_{task_name}"] = {k: settings_version(task, k) for k in ("gate_criteria", "human_share")}


def settings_version(task, setting: str) -> int:
    saved = governance.load(db, task, setting)
    return saved.version if saved else 0


def criteria_from_widgets(task_name: str) -> list:
    task = get_task(db, task_name)
    return [replace(c, threshold=float(S.get(thr_key(task_name, c.key), c.threshold)))
            for c in gate.criteria_for(db, task)]


@action("gate")
def on_save_criteria(task_name: str) -> None:
    task, loaded = get_task(db, task_name), S[f"gate_loaded_{task_name}"]
    try:
        if settings_version(task, "human_share") != loaded["human_share"]:  # refuse both, change neither
            raise governance.StaleSettingError("human_share", loaded["human_share"],
                                               governance.load(db, task, "human_share"))
        v = gate.save_criteria(db, task, criteria_from_widgets(task_name), user=current_user(),
                               expected_version=loaded["gate_criteria"])
        w = exporter.save_human_share(db, task, int(S[f"gate_share_{task_name}"]) / 100, user=current_user(),
                                      expected_version=loaded["human_share"])
    except (ValueError, PermissionError) as exc:
        S["gate_criteria_message"] = ("error", str(exc))
        return
    saved = v != loaded["gate_criteria"] or w != loaded["human_share"]
    S[f"gate_loaded_{task_name}"] = {"gate_criteria": v, "human_share": w}
    S["gate_criteria_message"] = ("success", f"Saved the criteria of {task_name} (version {v}); recorded with your "
                                             "name in the change log below." if saved else "Nothing changed.")


@action("gate")
def on_add_or_remove(task_name: str, key: str, add: bool) -> None:
    """Add or remove a rule (a Criterion.key); saved at once, other unsaved edits stay in the form."""
    task, loaded = get_task(db, task_name), S[f"gate_loaded_{task_name}"]
    before = {c.key: c for c in [*gate.criteria_for(db, task), *gate.addable_criteria(db, task)]}
    change = gate.add_criterion if add else gate.remove_criterion
    try:
        v = change(db, task, key, user=current_user(), expected_version=loaded["gate_criteria"])
    except (ValueError, PermissionError) as exc:
        S["gate_criteria_message"] = ("error", str(exc))
        return
    S[f"gate_loaded_{task_name}"] = loaded | {"gate_criteria": v}
    if add:
        S[thr_key(task_name, key)] = float(before[key].threshold)
    S["gate_criteria_message"] = ("success", f"{'Added' if add else 'Removed'} the rule {before[key].name} "
                                             f"(version {v}); recorded with your name in the change log below.")


@action("gate")
def on_reset(task_name: str) -> None:
    task = get_task(db, task_name)
    for c in gate.default_criteria(task):
        S[thr_key(task_name, c.key)] = float(c.threshold)
    S[f"gate_share_{task_name}"] = round(exporter.DEFAULT_HUMAN_SHARE * 100)
    S["gate_criteria_message"] = ("info", "The defaults are in the form: save them to put them in force.")


@action("gate")
def on_evaluate(task_name: str, labeler: str) -> None:
    try:
        task = get_task(db, task_name)
        ev = gate.evaluate(db, task, labeler)
        event_id = gate.record_evaluation(db, ev, user)
    except (ValueError, LookupError, PermissionError) as exc:
        S["gate_eval_message"] = ("error", str(exc))
        return
    S["gate_event"] = event_id
    clear()


@action("gate")
def on_decide(task_name: str, labeler: str, decision: str, shown) -> None:
    """Record a lead's decision -- on the state the lead saw: if the labeler version, task, gold or
    correction changed since the page was drawn, nothing is recorded."""
    if gate.status(db, get_task(db, task_name), labeler).current != shown:
        flash("error", "Not recorded: the labeler, task, gold or correction changed since this page was drawn. "
                       "Look at the evaluation again, then decide.")
        clear()
        return
    try:
        event_id, ev = gate.decide(db, get_task(db, task_name), labeler, user=current_user(), decision=decision,
                                   comment=S.get(f"gate_comment_{task_name}_{labeler}", ""))
    except (ValueError, LookupError, PermissionError) as exc:
        flash("error", str(exc))
        return
    word = "Approved" if decision == "approve" else "Refused"
    flash("success", f"{word} {labeler} version {ev.fingerprint.labeler_version} (audit row {event_id}).")
    S["gate_event"] = event_id
    S[f"gate_comment_{task_name}_{labeler}"] = ""
    clear()


def render_alignment_lab(sentence: str, metrics: dict) -> None:
    """The alignment lab's dev and test numbers of a promoted labeler (evidence beside the criteria)."""
    st.markdown("**From the alignment lab**")
    st.caption(plain(sentence[0].upper() + sentence[1:] + "."))
    names = {"accuracy": "Accuracy", "cohen_kappa": "Cohen's kappa", "macro_f1": "Macro-F1",
             "quadratic_kappa": "Quadratic kappa", "spearman": "Spearman correlation",
             "krippendorff_alpha": "Krippendorff's alpha"}

    def ci(m) -> str:
        return "–" if not m or m.get("estimate") is None else (
            f"{fmt.number(m['estimate'])} [{fmt.number(m.get('ci_low'))}, {fmt.number(m.get('ci_high'))}]")

    shown = [k[len("align_dev_"):] for k in metrics if k.startswith("align_dev_")]
    rows = []
    for m in shown:
        dev, test = metrics.get(f"align_dev_{m}"), metrics.get(f"align_test_{m}")
        gap = dev["estimate"] - test["estimate"] if dev and test and dev.get("estimate") is not None \
            and test.get("estimate") is not None else None
        rows.append({"Metric": names.get(m, m), "On dev (95% CI)": ci(dev), "On test (95% CI)": ci(test),
                     "Optimism gap (dev − test)": "–" if gap is None else f"{gap:+.3f}"})
    if rows:
        fmt.text_table(pd.DataFrame(rows))


def observed_text(metric: str, value) -> str:
    if value is None:
        return "–"
    return fmt.count(value) if metric == "n_gold" else fmt.number(value)


st.title("Gate")

c1, c2 = st.columns(2)
task_name = task_picker("gate_task", where=c1)
task = get_task(db, task_name)
versions = task_labelers(task.task_id)
if versions.empty:
    st.info("This task has no labelers yet.")
    st.stop()
labeler = c2.selectbox("Labeler", list(versions["name"]), key="gate_labeler")
row = versions.set_index("name").loc[labeler]
st.caption(plain(f"{labeler}: {row['provider']} · {row['model']} · family {row['family']} · "
                 f"current version {row['version']} · task revision {task.revision}"))

# --- where the labeler stands ------------------------------------------------------------------
# its status and whether the Monitor blocks its latest batch. Not cached: staleness must show as soon as
# the labeler, task, gold or correction changes (possibly through the CLI), and it is a few small queries
check = gate.check(db, task, labeler)
status = check.status
if status.current.gold_release is None:
    st.caption("Judged against the unreleased draft: this task has no gold release yet, so every new expert "
               "answer changes the gold. Publish a release on the Review page.")
else:
    st.caption(f"Judged against gold release {status.current.gold_release} (the latest). "
               + (status.draft.describe() if status.draft else ""))
if status.state == "approved":
    st.success(f"**Approved** — {plain(status.describe())}", icon=":material/verified:")
elif status.state == "stale":
    d = status.decision
    st.warning(f"**Approval stale** — {plain(labeler)} was approved by {plain(d['actor'])} on "
               f"{pd.Timestamp(d['created_at']):%Y-%m-%d %H:%M}, but since then:", icon=":material/history:")
    for reason in status.stale_reasons:
        st.markdown(f"- {plain(reason)}")
    old, new = status.approved_release, status.current.gold_release
    if old is not None and new is not None and old != new:
        change = release_diff(task_name, old, new)
        st.markdown(f"**What changed in the gold, release {old} → {new}:** {change.summary()}")
        rows = pd.concat([change.added.assign(change="added", old=None).rename(columns={"value": "new"}),
                          change.relabeled.assign(change="relabeled"),
                          change.removed.assign(change="removed", new=None)], ignore_index=True)
        if not rows.empty:
            with st.expander(f"The {len(rows)} item{'' if len(rows) == 1 else 's'} that changed"):
                st.dataframe(rows[["item_id", "change", "old", "new"]], hide_index=True, width="stretch",
                             column_config={"item_id": "item", "old": f"gold in release {old}",
                                            "new": f"gold in release {new}"})
        if status.current.labeler_version == d["labeler_version"]:
            st.markdown(f"**{plain(labeler)} on both releases**")
            both = on_both_releases(task_name, labeler, d["labeler_version"], old, new)
            st.dataframe(side_by_side_view(both, old, new), hide_index=True, width="stretch")
    st.caption("Evaluate again and ask a lead to decide.")
elif status.state == "refused":
    st.error(f"**Refused** — {plain(status.describe())}", icon=":material/block:")
else:
    st.info("**Not approved** — no lead has decided on this labeler yet.", icon=":material/pending:")
if check.batch_breaches:
    # an approval lets a labeler label only while its latest batch passes the Monitor's thresholds,
    # which are a setting of their own: say so here, where a lead decides
    st.warning(f"**Latest batch {plain(check.latest_batch)} is blocked** on the Monitor: "
               f"{plain('; '.join(check.batch_breaches))}. `labelgate gate check` refuses {plain(labeler)} until "
               "a batch passes or a lead changes the Monitor's thresholds of this task (Monitor page).",
               icon=":material/block:")

# What the metrics are called on this page (the store and `gate check` keep their short names).
METRIC_WORDS = {"n_gold": "number of gold items", "kappa": "Cohen's kappa", "alpha": "Krippendorff's alpha",
                "expert_alpha": "the experts' Krippendorff's alpha", "ece": "expected calibration error",
                "spearman": "Spearman correlation", "pearson": "Pearson correlation", "mae": "mean absolute error"}
BOUNDS = {"ci_low": "lower 95% bound", "ci_high": "upper 95% bound"}


def metric_words(metric: str) -> str:
    return METRIC_WORDS.get(metric, metric.replace("_", " "))


def why_text(reason: str, c: dict) -> str:
    """qc.gate's reason without the metric's short name (the row names the criterion already), e.g.
    'kappa ci_low 0.52 > 0.40' -> 'lower 95% bound 0.52 > 0.40', 'ece: missing metric' -> 'no value'."""
    head = f"{c['metric']} ({c['criterion']})" if c.get("criterion") else c["metric"]
    if not reason.startswith(head):
        return reason
    rest = reason[len(head):].lstrip(": ")
    for short, words in BOUNDS.items():
        if rest.startswith(short + " "):
            rest = words + rest[len(short):]
    return rest.replace("missing metric", "no value")


# --- criteria ------------------------------------------------------------------------------------
st.subheader("Criteria")
lead = can_change_settings(user.role)
criteria = gate.criteria_for(db, task)
defaults = {c.key: c for c in gate.default_criteria(task)}
marks = gate.criteria_marks(db, task)
share_marks = governance.marks(db, task, "human_share", default=exporter.DEFAULT_HUMAN_SHARE)
saved = governance.load(db, task, "gate_criteria")
if not lead or f"gate_loaded_{task_name}" not in S:
    load_criteria(task_name)  # an engineer always sees what is in force; a lead keeps their edits
removed = gate.removed_defaults(db, task)
n_changed = len(marks) + len(share_marks) + len(removed)
if n_changed:
    st.caption(f"{n_changed} setting{'s differ' if n_changed > 1 else ' differs'} from the defaults (marked "
               f"below with who set {'them' if n_changed > 1 else 'it'}). Saved version {saved.version if saved else 0}"
               + (f" by {plain(saved.changed_by)} on {saved.changed_at:%Y-%m-%d %H:%M}." if saved else "."))
else:
    st.caption("Every criterion is at its default.")
for c in criteria:
    a, b, d, e = st.columns([2, 1, 3, 0.8])
    use = {"estimate": "", "ci_low": " (lower 95% bound)", "ci_high": " (upper 95% bound)"}[c.use]
    about = c.criterion or (task.criterion_name if task.is_multi else None)  # unnamed: the first criterion
    a.markdown(f"**{plain(c.name)}**  \n{plain(metric_words(c.metric))}"
               f"{' of ' + plain(about) if about else ''}{use} "
               f"{plain(c.comparator)}"
               + (f" · n ≥ {c.min_n}" if c.min_n else "") + (" · optional" if c.optional else ""))
    whole = float(c.threshold).is_integer() and c.threshold >= 10
    b.number_input(f"threshold of {plain(c.name)}", step=10.0 if whole else 0.01, format="%.0f" if whole else "%.3f",
                   key=thr_key(task_name, c.key), label_visibility="collapsed", disabled=not lead)
    mark = marks.get(c.key)
    if mark is not None and c.key not in defaults:
        d.markdown(f":blue-badge[:material/add: added] by **{plain(mark.by)}** ({mark.role}) on "
                   f"{mark.at:%Y-%m-%d %H:%M}: not among the defaults")
    elif mark is not None:
        d.markdown(f":orange-badge[:material/edit: changed] from the default {fmt.number(defaults[c.key].threshold)}"
                   f" by **{plain(mark.by)}** ({mark.role}) on {mark.at:%Y-%m-%d %H:%M}")
    else:
        d.markdown(":gray-badge[default]")
    d.caption(plain(c.description))
    if lead and len(criteria) > 1:
        e.button("Remove", key=f"gate_remove_{task_name}_{c.key}", on_click=on_add_or_remove,
                 args=(task_name, c.key, False), icon=":material/remove:",
                 help="Saved at once and recorded in the change log; an approval under the old rules goes stale.")
for m in removed.values():
    st.markdown(f":red-badge[:material/remove: removed] **{plain(defaults[m.name].name)}**, a default rule, "
                f"removed by **{plain(m.by)}** ({m.role}) on {m.at:%Y-%m-%d %H:%M}")
addable = gate.addable_criteria(db, task, criteria) if lead else []
if addable:
    a, b, _ = st.columns([2, 1, 3], vertical_alignment="bottom")
    by_name = {c.name: c.key for c in addable}
    pick = a.selectbox("Add a rule", list(by_name), key=f"gate_add_{task_name}",
                       help="A default rule that was removed, agreement with gold on one criterion, or (categorical "
                            "tasks) a student rule, which reads the latest student preview recorded for the "
                            "labeler's current version (Student page).")
    b.button("Add", on_click=on_add_or_remove, args=(task_name, by_name[pick], True), icon=":material/add:")
a, b, d = st.columns([2, 1, 3])
a.markdown("**Human share of exports** (%)  \nat least, of the exported rows")
b.number_input("human share (%)", min_value=10, max_value=20, step=1, format="%d", key=f"gate_share_{task_name}",
               label_visibility="collapsed", disabled=not lead)
if share_marks:
    m = share_marks["human_share"]
    d.markdown(f":orange-badge[:material/edit: changed] from the default "
               f"{exporter.DEFAULT_HUMAN_SHARE:.0%} by **{plain(m.by)}** ({m.role}) on {m.at:%Y-%m-%d %H:%M}")
else:
    d.markdown(":gray-badge[default]")
d.caption("Human gold is never less than this share of an export's rows; an export may ask for more.")

if lead:
    loaded = S[f"gate_loaded_{task_name}"]
    if (settings_version(task, "gate_criteria"), settings_version(task, "human_share")) != \
            (loaded["gate_criteria"], loaded["human_share"]):
        st.warning("Someone saved these settings since you loaded them: load theirs before you change them.",
                   icon=":material/sync_problem:")
        st.button("Load the saved settings", on_click=load_criteria, args=(task_name,), icon=":material/sync:")
    a, b, _ = st.columns([1, 1, 3])
    a.button("Save criteria", type="primary", on_click=on_save_criteria, args=(task_name,), icon=":material/save:")
    b.button("Reset to the defaults", on_click=on_reset, args=(task_name,))
    show_message("gate_criteria_message")
else:
    st.info(f"Read-only: only a lead changes the criteria and the human share; you are signed in as {user.role}.",
            icon=":material/lock:")

st.button("Evaluate", type="primary", on_click=on_evaluate, args=(task_name, labeler), icon=":material/rule:",
          help="Evaluates against the saved criteria, and records the evaluation in the audit log.")
show_message("gate_eval_message")

# --- the latest evaluation -----------------------------------------------------------------------
events = audit(task.task_id, labeler)
evals = events[events["kind"].isin(["evaluation", "approve", "refuse"])]
if not evals.empty:
    ev = evals.iloc[0]
    result = json.loads(ev["result"])
    evidence = result.get("evidence", {})
    verdict = result["verdict"]
    st.subheader("Evaluation")
    (st.success if verdict == "pass" else st.error)(
        f"Verdict: **{verdict.upper()}** — {plain(labeler)} version {ev['labeler_version']}, evaluated by "
        f"{plain(ev['actor'])} "
        f"on {pd.Timestamp(ev['created_at']):%Y-%m-%d %H:%M:%S} against {evaluated_on(ev)}")
    if ev["labeler_version"] != row["version"]:
        st.warning("This evaluation is of an earlier version of the labeler: evaluate again.")
    elif not pd.isna(ev["gold_release"]) and int(ev["gold_release"]) != status.current.gold_release:
        st.warning(f"This evaluation is on gold release {int(ev['gold_release'])}, not the latest: evaluate again.")
    rows = []
    for r in result["results"]:
        c = r["criterion"]
        rule = Criterion.from_dict(c)   # its name and key say which task criterion it reads
        use = {"ci_low": " (lower 95% bound)", "ci_high": " (upper 95% bound)"}.get(c.get("use"), "")
        rows.append({"criterion": rule.name,
                     "result": {True: "pass", False: "FAIL", None: "skipped"}[r["passed"]],
                     "observed": observed_text(c["metric"], r["observed"]),
                     "n": fmt.count(r["n"]) if r.get("n") is not None else "–",
                     "required": f"{c['comparator']} {fmt.number(c['threshold'])}{use}"
                                 + (f", n ≥ {c['min_n']}" if c.get("min_n") else ""),
                     "why": why_text(r["reason"], c), "evidence": evidence.get(rule.key, "")})
    fmt.text_table(pd.DataFrame(rows))
    if evidence.get("alignment_lab"):
        render_alignment_lab(evidence["alignment_lab"], json.loads(ev["metrics"]))
    corr = current_correction(db, task.task_id, labeler, row["version"], criterion=task.criterion_name)
    if corr is not None:
        st.markdown(f"**Correction in force:** {plain(cal.describe_correction(corr))}")

# --- the decision --------------------------------------------------------------------------------
st.subheader("Decision")
if can_decide_gate(user.role):
    if status.current.gold_release is None:
        # said where the lead decides, not only in the grey caption at the top
        st.warning("No gold release yet: an approval now is against the live draft and goes stale with the next "
                   "expert answer. Publish a release on the Review page first, then evaluate and approve.",
                   icon=":material/warning:")
    st.text_area("Comment (required)", key=f"gate_comment_{task_name}_{labeler}",
                 placeholder="Why you approve or refuse this labeler")
    a, b, _ = st.columns([1, 1, 4])
    a.button("Approve", type="primary", on_click=on_decide, args=(task_name, labeler, "approve", status.current),
             icon=":material/check_circle:")
    b.button("Refuse", on_click=on_decide, args=(task_name, labeler, "refuse", status.current),
             icon=":material/cancel:")
    show_message("gate_message")
else:
    st.info(f"Only a lead can approve or refuse a labeler; you are signed in as {user.role}.")

# --- the audit log -------------------------------------------------------------------------------
st.subheader("Audit log")
st.caption("Append-only: every evaluation, decision and export, with the versions it was about.")
if events.empty:
    st.caption("Nothing recorded yet.")
else:
    shown = events.head(AUDIT_ROWS)
    if len(events) > AUDIT_ROWS:
        st.caption(f"The newest {AUDIT_ROWS} of {len(events)} rows.")
    fmt.text_table(pd.DataFrame({
        "row": shown["event_id"].map(fmt.count),
        "when": shown["created_at"].map(lambda t: f"{pd.Timestamp(t):%Y-%m-%d %H:%M:%S}"),
        "kind": shown["kind"], "actor": shown["actor"], "verdict": shown["verdict"],
        "labeler version": shown["labeler_version"], "task revision": shown["task_revision"].map(fmt.count),
        "gold release": shown["gold_release"].map(lambda r: "draft" if pd.isna(r) else fmt.count(r)),
        "gold version": shown["gold_version"],
        "correction #": shown["correction_id"].map(lambda c: "–" if pd.isna(c) else fmt.count(c)),
        "forced": shown["forced"].map({True: "yes", False: "no"}), "comment": shown["comment"]}))

st.subheader("Changes to the settings")
st.caption("Who changed a criterion, a monitor threshold or the human share of this task, when, from what to what.")
changes = governance.change_log(db, task)
if changes.empty:
    st.caption("No setting of this task has been changed: the defaults are in force.")
else:
    changes["when"] = changes["when"].map(lambda t: f"{pd.Timestamp(t):%Y-%m-%d %H:%M:%S}")
    fmt.text_table(changes)
