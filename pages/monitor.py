"""Monitor: a labeler's batches over time; a threshold breach blocks a batch."""

from __future__ import annotations

import streamlit as st

from labelgate import monitor as mon
from labelgate.auth import can_decide_gate
from labelgate.store.labelers import current_versions
from labelgate.store.tasks import get_task
from labelgate.ui.monitor_charts import distribution_figure, lines_figure
from labelgate.ui.session import get_db, require_page
from labelgate.ui.widgets import show_message, task_picker

user = require_page("monitor")
db = get_db()
S = st.session_state


@st.cache_data(ttl=30, max_entries=16, show_spinner=False)
def labeler_names(task_id: int) -> list[str]:
    return list(current_versions(db, task_id)["name"])


@st.cache_data(ttl=60, max_entries=8, show_spinner="Computing the batch metrics…")
def monitor_data(task_name: str, labeler: str, revision: int) -> mon.Monitor:
    return mon.monitor(db, get_task(db, task_name), labeler)


@st.cache_data(ttl=60, max_entries=16, show_spinner=False)
def thresholds(task_name: str) -> mon.Thresholds:
    return mon.thresholds_for(db, get_task(db, task_name))


def on_save_thresholds(task_name: str) -> None:
    if not can_decide_gate(user.role):  # loosening a threshold can unblock a batch: the lead's call
        S["monitor_message"] = ("error", "Only a lead can change the thresholds that block batches.")
        return
    values = {}
    for f in mon.Thresholds.LABELS:
        values[f] = float(S[f"monitor_thr_{task_name}_{f}"]) if S.get(f"monitor_on_{task_name}_{f}") else None
    try:
        mon.save_thresholds(db, get_task(db, task_name), mon.Thresholds.from_dict(values), user=user.name)
    except ValueError as exc:
        S["monitor_message"] = ("error", str(exc))
        return
    S["monitor_message"] = ("success", f"Saved the monitor thresholds of {task_name}.")
    thresholds.clear()
    monitor_data.clear()


def on_draw_anchors(task_name: str) -> None:
    try:
        chosen = mon.draw_anchor_set(db, get_task(db, task_name), size=int(S["monitor_anchor_size"]),
                                     seed=int(S["monitor_anchor_seed"]), created_by=user.name)
    except ValueError as exc:
        S["monitor_message"] = ("error", str(exc))
        return
    S["monitor_message"] = ("success", f"Drew an anchor set of {len(chosen)} gold items for {task_name}.")
    monitor_data.clear()


st.title("Monitor")
show_message("monitor_message")

c1, c2 = st.columns(2)
task_name = task_picker("monitor_task", where=c1)
task = get_task(db, task_name)
labelers = labeler_names(task.task_id)
if not labelers:
    st.info("This task has no labelers yet.")
    st.stop()
labeler = c2.selectbox("Labeler", labelers, key="monitor_labeler")
thr = thresholds(task_name)

with st.expander("Thresholds of this task (a breach blocks the batch)"):
    cols = st.columns(3)
    for i, (f, label) in enumerate(mon.Thresholds.LABELS.items()):
        value = getattr(thr, f)
        with cols[i % 3]:
            on = st.checkbox(label, value=value is not None, key=f"monitor_on_{task_name}_{f}")
            st.number_input(label, min_value=0.0, max_value=1.0, step=0.01, format="%.3f",
                            value=float(value if value is not None else getattr(mon.Thresholds(), f) or 0.5),
                            key=f"monitor_thr_{task_name}_{f}", disabled=not on, label_visibility="collapsed")
    lead = can_decide_gate(user.role)
    st.button("Save thresholds", on_click=on_save_thresholds, args=(task_name,), disabled=not lead,
              help=None if lead else "Only a lead can change the thresholds that block batches")

m = monitor_data(task_name, labeler, task.revision)
frame = m.batches
if frame.empty:
    st.info(f"{labeler} has no labels on {task_name} yet.")
    st.stop()

latest = m.latest
blocked = m.blocked
k1, k2, k3, k4 = st.columns(4)
k1.metric("Batches", len(frame))
k2.metric("Latest batch", str(latest["batch"]))
k3.metric("Blocked batches", len(blocked))
k4.metric("Anchor set", f"{m.n_anchor_items} items")
if latest["blocked"]:
    st.error(f"The latest batch **{latest['batch']}** is blocked — `labelgate gate check` fails until a later "
             "batch passes.", icon=":material/block:")
for r in blocked.tail(10).itertuples(index=False):
    st.error(f"Batch {r.batch} is blocked: " + "; ".join(r.breaches))
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
table = frame[["batch", "versions", "n_labels", "entropy", "top_label", "top_share", "flip_rate",
               "anchor_gold_agreement", "cross_family_disagreement", "auroc", "ece", "distinct_2", "blocked"]].copy()
table["breaches"] = frame["breaches"].map("; ".join)
st.dataframe(table.iloc[::-1], hide_index=True, width="stretch",
             column_config={c: st.column_config.NumberColumn(format="%.3f") for c in
                            ("entropy", "top_share", "flip_rate", "anchor_gold_agreement", "cross_family_disagreement",
                             "auroc", "ece", "distinct_2")})
