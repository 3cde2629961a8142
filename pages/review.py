"""Review: disagreement queues, adjudication of expert disputes, and how reliable the experts are."""

from __future__ import annotations

import streamlit as st

from labelgate import calibrate as cal
from labelgate import review
from labelgate.store import gold as gold_store
from labelgate.store.labels import human_labels
from labelgate.store.tasks import get_task
from labelgate.ui.session import get_db, require_page
from labelgate.ui.widgets import require_task_names

user = require_page("review")
db = get_db()
S = st.session_state


@st.cache_data(ttl=15, max_entries=8, show_spinner=False)
def task_state(task_name: str):
    task = get_task(db, task_name)
    return task, cal.load_task_gold(db, task), cal.labeler_refs(db, task)


@st.cache_data(ttl=60, max_entries=16, show_spinner=False)
def per_item(task_name: str, versions: tuple[tuple[str, str], ...], gold_version: str) -> dict:
    task, gold, refs = task_state(task_name)
    judgments = gold_store.llm_judgments(db, task.task_id, labelers=list(versions))
    return review.item_labels(task, gold, judgments)


@st.cache_data(ttl=15, max_entries=32, show_spinner=False)
def history(task_name: str, item_id: str) -> dict:
    return review.item_history(db, task_state(task_name)[0], item_id)


@st.cache_data(ttl=15, max_entries=8, show_spinner="Bootstrapping expert agreement…")
def reliability(task_name: str, gold_version: str) -> dict:
    task, gold, _ = task_state(task_name)
    return review.expert_reliability(task, human_labels(db, task.task_id), gold)


def on_adjudicate(task_name: str, item_id: str) -> None:
    task = task_state(task_name)[0]
    try:
        review.adjudicate(db, task, item_id, S.get(f"rev_value_{task.name}_{item_id}"), decided_by=user.name,
                          reason=S.get(f"rev_reason_{task.name}_{item_id}", ""))
    except ValueError as exc:
        S["rev_message"] = ("error", f"Not recorded: {exc}")
        return
    for fn in (task_state, per_item, history, reliability):
        fn.clear()
    value = S.get(f"rev_value_{task.name}_{item_id}")
    S["rev_message"] = ("success", f"Recorded the gold of {item_id} as {value} "
                                   f"(decided by {user.name}). The experts' own labels are unchanged.")


st.title("Review")
st.caption("Disagreements go to people: between the experts, between a labeler and the gold, and between "
           "labelers of different families. An adjudication records the final gold label, who decided and why; "
           "it never changes anybody's own labels.")

names = require_task_names()
focus = S.pop("review_focus", None)
if focus and focus[1] in names:  # sent here from Compare
    S["rev_task"], S["rev_queue"] = focus[1], focus[0]
    S[f"rev_item_{focus[1]}"] = S["rev_wanted"] = focus[2]
S.setdefault("rev_queue", review.QUEUES[0])
task_name = st.selectbox("Task", names, key="rev_task")
task, gold, refs = task_state(task_name)
msg = S.pop("rev_message", None)
if msg:
    getattr(st, msg[0])(msg[1])

tab_queue, tab_humans = st.tabs(["Queue", "Human reliability"], key="rev_tabs", on_change="rerun")

with tab_queue:
    kind = st.segmented_control("Queue", review.QUEUES, key="rev_queue") or review.QUEUES[0]
    items = per_item(task_name, tuple(zip(refs["name"], refs["version"], strict=True)), gold.version)
    families = dict(zip(refs["name"], refs["family"], strict=True))
    if kind == "expert vs expert":
        queue = review.expert_vs_expert(gold)
        empty = "No expert disputes are open: every item's experts agree or it has been adjudicated."
    elif kind == "labeler vs gold":
        if refs.empty:
            st.info("This task has no labelers.")
            st.stop()
        labeler = st.selectbox("Labeler", list(refs["name"]), key="rev_labeler")
        queue = review.labeler_vs_gold(task, items, labeler)
        empty = f"{labeler} agrees with the gold on every item."
    else:
        queue = review.cross_family_disagreements(task, items, families)
        empty = "No item has labelers of different families disagreeing."
    st.caption(f"{len(queue)} items in this queue.")
    ids = list(queue["item_id"]) if not queue.empty else []
    wanted = S.get("rev_wanted")
    if wanted and wanted not in ids and wanted in set(items["verdict"].index) | set(gold.labels["item_id"]):
        ids = [wanted, *ids]  # an item sent here stays reachable even if it left the queue
    if not ids:
        st.success(empty)
    else:
        st.dataframe(queue, hide_index=True, key="rev_table", height=min(38 + 35 * len(queue), 250))
        item_id = st.selectbox("Item", ids, key=f"rev_item_{task_name}")
        h = history(task_name, item_id)
        st.subheader(item_id)
        for name, text in h["fields"].items():
            with st.container(border=True):
                st.caption(name)
                st.text(str(text), width="stretch")
        g = gold.labels.set_index("item_id")
        current = g.loc[item_id, "value"] if item_id in g.index else None
        source = g.loc[item_id, "source"] if item_id in g.index else None
        st.markdown(f"**Gold:** {current} ({source})" if current is not None else
                    "**Gold:** none — " + ("in dispute" if item_id in set(gold.disputed["item_id"]) else
                                           "no expert labels"))
        c1, c2 = st.columns(2)
        with c1:
            st.markdown("**Experts' labels** (revealed for review)")
            st.dataframe(h["experts"], hide_index=True, key="rev_experts")
        with c2:
            st.markdown("**Labelers' labels**")
            st.dataframe(h["labelers"], hide_index=True, key="rev_labelers_table")
        if not h["adjudications"].empty:
            st.markdown("**Adjudications** (newest first; the first is the gold)")
            st.dataframe(h["adjudications"], hide_index=True, key="rev_adjudications")
        with st.container(border=True):
            st.markdown("**Adjudicate**: the final gold label of this item")
            if task.kind == "continuous":
                lo, hi = task.spec["range"]
                st.number_input(f"Gold value ({lo:g} to {hi:g})", min_value=float(lo), max_value=float(hi),
                                value=None, key=f"rev_value_{task.name}_{item_id}")
            else:
                st.selectbox("Gold label", task.labels, index=None, key=f"rev_value_{task.name}_{item_id}",
                             placeholder="choose the final label")
            st.text_area("Why", key=f"rev_reason_{task.name}_{item_id}", placeholder="What decided it (required)")
            st.button("Record adjudication", type="primary", key=f"rev_save_{item_id}",
                      disabled=S.get(f"rev_value_{task.name}_{item_id}") is None, on_click=on_adjudicate,
                      args=(task_name, item_id))

with tab_humans:
    rel = reliability(task_name, gold.version)
    if rel["n_raters"] < 2:
        st.info(f"{rel['n_raters']} expert(s) labeled this task: agreement among experts needs at least two "
                "on the same items.")
    else:
        alpha = rel["alpha"]
        st.metric("Krippendorff's alpha among experts", "–" if alpha is None else f"{alpha.estimate:.3f}",
                  help=review.describe(alpha))
        if alpha is not None:
            st.caption(f"95% CI {review.describe(alpha)} (bootstrap over {alpha.n} items labeled by two or more).")
        st.markdown("**Pairwise agreement between experts** (95% CI)")
        st.dataframe(rel["kappa"], hide_index=True, key="rev_kappa")
    st.markdown("**Each expert against the consensus** (gold of the items they labeled; Wilson 95% CI)")
    st.dataframe(rel["consensus"], hide_index=True, key="rev_consensus")
    st.markdown("**Test-retest**: each expert against their own earlier labels")
    if rel["retest"].empty:
        st.caption("No retests answered yet. About 10% of each expert's items come back to them, blind, after "
                   "they have answered 20 more items (or after 24 hours).")
    else:
        st.dataframe(rel["retest"], hide_index=True, key="rev_retest")
    st.caption("Gold is the adjudicated label, else the agreed label of the item's experts; "
               f"{gold.n_disputed} items still in dispute are left out of gold.")
