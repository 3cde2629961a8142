"""Monitor: a labeler's batches over time; a threshold breach blocks a batch."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from labelgate import governance, targeted
from labelgate import monitor as mon
from labelgate.auth import can_change_settings
from labelgate.store.tasks import get_task
from labelgate.ui import format as fmt
from labelgate.ui.monitor_charts import distribution_figure, lines_figure
from labelgate.ui.session import action, current_user, get_db, require_page
from labelgate.ui.widgets import criterion_picker, plain, show_message, task_labelers, task_picker

user = require_page("monitor")
db = get_db()
S = st.session_state


@st.cache_data(ttl=60, max_entries=8, show_spinner="Computing the batch metrics…")
def monitor_data(task_name: str, criterion: str | None, labeler: str, revision: int) -> mon.Monitor:
    """The labeler's batches on the task, or on one of its criteria."""
    task = get_task(db, task_name)
    return mon.monitor(db, task.criterion(criterion) if criterion else task, labeler)


@st.cache_data(ttl=60, max_entries=16, show_spinner=False)
def thresholds(task_name: str) -> mon.Thresholds:
    return mon.thresholds_for(db, get_task(db, task_name))


def saved_version(task_name: str) -> int:
    saved = governance.load(db, get_task(db, task_name), "monitor_thresholds")
    return saved.version if saved else 0


def load_thresholds(task_name: str) -> None:
    """Put the thresholds in force into the form and remember which version they are."""
    thr = mon.thresholds_for(db, get_task(db, task_name))
    for f in mon.Thresholds.LABELS:
        value = getattr(thr, f)
        S[f"monitor_on_{task_name}_{f}"] = value is not None
        S[f"monitor_thr_{task_name}_{f}"] = float(value if value is not None else getattr(mon.Thresholds(), f) or 0.5)
    S[f"monitor_loaded_{task_name}"] = saved_version(task_name)


@action("monitor")
def on_save_thresholds(task_name: str) -> None:
    values = {}
    for f in mon.Thresholds.LABELS:
        values[f] = float(S[f"monitor_thr_{task_name}_{f}"]) if S.get(f"monitor_on_{task_name}_{f}") else None
    try:  # loosening a threshold can unblock a batch: the service lets only a lead save
        v = mon.save_thresholds(db, get_task(db, task_name), mon.Thresholds.from_dict(values),
                                user=current_user(), expected_version=S[f"monitor_loaded_{task_name}"])
    except (ValueError, PermissionError) as exc:
        S["monitor_thr_message"] = ("error", str(exc))
        return
    S[f"monitor_loaded_{task_name}"] = v
    S["monitor_thr_message"] = ("success", f"Saved the monitor thresholds of {task_name} (version {v}); the change "
                                           "is in the Gate page's change log.")
    thresholds.clear()
    monitor_data.clear()


@action("monitor")
def on_draw_anchors(task_name: str) -> None:
    try:
        chosen = mon.draw_anchor_set(db, get_task(db, task_name), size=int(S["monitor_anchor_size"]),
                                     seed=int(S["monitor_anchor_seed"]), created_by=user.name)
    except ValueError as exc:
        S["monitor_message"] = ("error", str(exc))
        return
    S["monitor_message"] = ("success", f"Drew an anchor set of {len(chosen)} gold items for {task_name}.")
    monitor_data.clear()


def render_all_criteria(task_name: str, task, labeler: str) -> None:
    """The labeler's latest batch on every criterion in one table, and how many of its batches are blocked."""
    rows = []
    for name in task.criterion_names:
        m = monitor_data(task_name, name, labeler, task.revision)
        if m.batches.empty:
            rows.append({"criterion": name, "batches": "0"})
            continue
        latest = m.latest
        rows.append({"criterion": name, "batches": fmt.count(len(m.batches)),
                     "blocked batches": fmt.count(len(m.blocked)), "latest batch": str(latest["batch"]),
                     "labels": fmt.count(latest["n_labels"]), "label entropy": fmt.number(latest["entropy"]),
                     "top label (share)": f"{latest['top_label']} ({latest['top_share']:.0%})",
                     "anchor agreement with gold": fmt.number(latest["anchor_gold_agreement"]),
                     "anchor flip rate": fmt.number(latest["flip_rate"]),
                     "cross-family disagreement": fmt.number(latest["cross_family_disagreement"]),
                     "ECE": fmt.number(latest["ece"]),
                     "latest batch blocked": "; ".join(latest["breaches"]) if latest["blocked"] else "no"})
    st.markdown(f"**{plain(labeler)}: the latest batch on every criterion**")
    st.caption("Pick a criterion above for its charts, its batches and the thresholds. A dash: not measurable "
               "(no anchor set, a single family, or no confidence on gold items).")
    fmt.text_table(pd.DataFrame(rows).fillna("–"))


st.title("Monitor")
show_message("monitor_message")

c1, c2 = st.columns(2)
task_name = task_picker("monitor_task", where=c1)
task = get_task(db, task_name)
labelers = list(task_labelers(task.task_id)["name"])
if not labelers:
    st.info("This task has no labelers yet.")
    st.stop()
labeler = c2.selectbox("Labeler", labelers, key="monitor_labeler")
criterion = criterion_picker(f"monitor_criterion_{task_name}", task, where=c1)
if task.is_multi and criterion is None:
    render_all_criteria(task_name, task, labeler)
    st.stop()
thr = thresholds(task_name)

lead = can_change_settings(user.role)
if not lead or f"monitor_loaded_{task_name}" not in S:
    load_thresholds(task_name)  # an engineer always sees what is in force; a lead keeps their edits
changed = governance.marks(db, task, "monitor_thresholds", default=mon.Thresholds().to_dict())
with st.expander("Thresholds of this task (a breach blocks the batch)"
                 + (f" · {len(changed)} changed from the defaults" if changed else "")):
    cols = st.columns(3)
    for i, (f, label) in enumerate(mon.Thresholds.LABELS.items()):
        with cols[i % 3]:
            on = st.checkbox(label, key=f"monitor_on_{task_name}_{f}", disabled=not lead)
            st.number_input(label, min_value=0.0, max_value=1.0, step=0.01, format="%.3f",
                            key=f"monitor_thr_{task_name}_{f}", disabled=not (on and lead),
                            label_visibility="collapsed")
            if f in changed:
                st.caption(f"changed by {plain(changed[f].by)} on {changed[f].at:%Y-%m-%d %H:%M}")
    if lead:
        if saved_version(task_name) != S[f"monitor_loaded_{task_name}"]:
            st.warning("Someone saved these thresholds since you loaded them: load theirs before you change them.")
            st.button("Load the saved thresholds", on_click=load_thresholds, args=(task_name,))
        st.button("Save thresholds", on_click=on_save_thresholds, args=(task_name,))
    else:
        st.caption(f"Read-only: only a lead changes the thresholds that block batches; you are signed in as "
                   f"{user.role}.")
# outside the box: its title counts the changed thresholds, so a save redraws it closed
show_message("monitor_thr_message")

m = monitor_data(task_name, criterion, labeler, task.revision)
frame = m.batches
if frame.empty:
    st.info(f"{plain(labeler)} has no labels on {plain(task_name)} yet.")
    st.stop()

latest = m.latest
blocked = m.blocked
k1, k2, k3, k4 = st.columns(4)
k1.metric("Batches", len(frame))
k2.metric("Latest batch", plain(latest["batch"]))
k3.metric("Blocked batches", len(blocked))
k4.metric("Anchor set", f"{m.n_anchor_items} items")
if latest["blocked"]:
    st.error(f"The latest batch **{plain(latest['batch'])}** is blocked — `labelgate gate check` fails until a later "
             "batch passes.", icon=":material/block:")
for r in blocked.tail(10).itertuples(index=False):
    st.error(plain(f"Batch {r.batch} is blocked: " + "; ".join(r.breaches)))
if len(blocked) > 10:
    st.caption(f"… and {len(blocked) - 10} more blocked batches (see the table below).")
if m.n_anchor_items == 0:
    st.warning("This task has no anchor set, so anchor drift cannot be measured: draw one from the gold items.")
    c1, c2, c3 = st.columns([1, 1, 2])
    c1.number_input("Anchor items", min_value=1, value=50, step=10, key="monitor_anchor_size")
    c2.number_input("Seed", min_value=0, value=0, key="monitor_anchor_seed")
    c3.button("Draw the anchor set", on_click=on_draw_anchors, args=(task_name,))

st.plotly_chart(distribution_figure(frame, m.counts, thr), width="stretch")
left, right = st.columns(2)
left.plotly_chart(lines_figure(
    frame, {"anchor_gold_agreement": "agreement with gold", "anchor_first_agreement": "agreement with first anchor run",
            "flip_rate": "flip rate"}, "Anchor drift", thresholds={"max flip rate": thr.max_flip_rate},
    mark="flip_rate"), width="stretch")
right.plotly_chart(lines_figure(
    frame, {"cross_family_disagreement": "disagreement with other families"}, "Cross-family disagreement",
    thresholds={"max": thr.max_cross_family_disagreement}, mark="cross_family_disagreement"), width="stretch")
left.plotly_chart(lines_figure(
    frame, {"distinct_1": "distinct-1", "distinct_2": "distinct-2", "semantic_diversity": "semantic (TF-IDF distance)"},
    f"Diversity of the {'preferred' if task.kind == 'pairwise' else 'labeled'} outputs (last "
    f"{mon.DEFAULT_DIVERSITY_BATCHES} batches)", mark="distinct_2"), width="stretch")
if frame["calib_n"].notna().any():
    right.plotly_chart(lines_figure(
        frame, {"auroc": "AUROC", "ece": "ECE", "accuracy": "accuracy"}, "Confidence vs correctness (gold slice)",
        thresholds={"max ECE": thr.max_ece}, mark="ece"), width="stretch")
else:
    right.info("Confidence vs correctness: this labeler reports no confidence on gold items.")

st.subheader("Batches")
table = frame[["batch", "versions", "n_labels", "entropy", "flip_rate", "anchor_gold_agreement",
               "cross_family_disagreement", "auroc", "ece", "distinct_2"]].copy()
# merged cells and set widths keep the table within a 1400 px window (17 columns scrolled ~260 px sideways)
table.insert(4, "top", [f"{lab} ({share:.0%})" for lab, share in zip(frame["top_label"], frame["top_share"],
                                                                       strict=True)])
table["blocked"] = frame["blocked"].map({True: "yes", False: "no"})
review = targeted.per_batch(db, task, labeler)
table = table.merge(review, on="batch", how="left").fillna({c: 0 for c in review.columns if c != "batch"})
table["review"] = [f"{int(r)} of {int(d)}, {int(w)} wrong" if d else "–"
                   for r, d, w in zip(table["review_reviewed"], table["review_drawn"], table["review_wrong"],
                                      strict=True)]
table = table.drop(columns=["review_drawn", "review_reviewed", "review_wrong"])
# short headers, each explained on hover, and widths (px) that add up to the page's width at a 1400 px window
COLUMNS = {"batch": ("batch", None, 90),
           "versions": ("versions", "The labeler versions that labeled the batch.", 100),
           "n_labels": ("labels", "Labels in the batch.", 55),
           "entropy": ("entropy", "Entropy of the label distribution, in bits.", 62),
           "top": ("top label", "The most frequent label and its share of the labels.", 72),
           "flip_rate": ("flips", "Anchor flip rate: share of the anchor items whose label changed since the "
                                  "first anchor run.", 48),
           "anchor_gold_agreement": ("vs gold", "Agreement with the gold on the anchor items.", 62),
           "cross_family_disagreement": ("cross-family", "Cross-family disagreement: share of the items where "
                                                         "labelers of other families give another label.", 88),
           "auroc": ("AUROC", "How well the labeler's confidence separates its right and wrong labels on gold.", 60),
           "ece": ("ECE", "Expected calibration error of its confidence on gold items.", 45),
           "distinct_2": ("distinct-2", "Diversity of the outputs: share of distinct word pairs.", 72),
           "blocked": ("blocked", "A threshold is breached: the batch is blocked. Which ones: the red messages "
                                  "above, or the batch's cross on the charts.", 62),
           "review": ("review", "Targeted review: drawn items a person reviewed, of those drawn, and how many "
                                "of them the labeler got wrong.", 118)}
RATES = {"entropy": 2, "flip_rate": 3, "anchor_gold_agreement": 3, "cross_family_disagreement": 3, "auroc": 3,
         "ece": 3, "distinct_2": 3}
for c, digits in RATES.items():  # as text: a batch without anchors or confidence shows "–", not "None"
    table[c] = table[c].map(lambda v, d=digits: "–" if pd.isna(v) else f"{v:.{d}f}")
st.dataframe(table.iloc[::-1].rename(columns={c: name for c, (name, _, _) in COLUMNS.items()}), hide_index=True,
             width="stretch",
             column_config={name: st.column_config.Column(help=tip, width=width)
                            for name, tip, width in COLUMNS.values()})
