"""Compare: every labeler and the human gold side by side; where labelers of different families disagree."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from labelgate import calibrate as cal
from labelgate import review
from labelgate.store import gold as gold_store
from labelgate.store.tasks import get_task
from labelgate.ui import figures
from labelgate.ui.session import get_db, require_page
from labelgate.ui.widgets import task_picker

user = require_page("compare")
db = get_db()
S = st.session_state


@st.cache_data(ttl=15, max_entries=8, show_spinner=False)
def task_state(task_name: str):
    task = get_task(db, task_name)
    return task, cal.load_task_gold(db, task), cal.labeler_refs(db, task)


@st.cache_data(ttl=60, max_entries=16, show_spinner="Comparing labelers…")
def comparison(task_name: str, versions: tuple[tuple[str, str], ...], gold_version: str):
    """(agreement matrix ordered by family, cross-family disagreements): keyed by labeler and gold versions."""
    task, gold, refs = task_state(task_name)
    families = dict(zip(refs["name"], refs["family"], strict=True))
    judgments = gold_store.llm_judgments(db, task.task_id, labelers=list(versions))
    per_item = review.item_labels(task, gold, judgments)
    matrix = review.agreement_matrix(task, per_item)
    order = review.order_by_family(list(matrix.index), families)
    return matrix.loc[order, order], review.cross_family_disagreements(task, per_item, families)


def open_in_review(item_id: str) -> None:
    S["review_focus"] = ("labeler vs labeler", S["cmp_task"], item_id)


st.title("Compare")
st.caption("Labelers from different model families labeling the same items: where they agree with each other "
           "and with the human gold, and the items where they disagree — those go to people.")
task_name = task_picker("cmp_task")
task, gold, refs = task_state(task_name)
if refs.empty:
    st.info(f"Task {task_name} has no labelers yet.")
    st.stop()
families = dict(zip(refs["name"], refs["family"], strict=True))
families[review.GOLD] = "human"
matrix, disagreements = comparison(task_name, tuple(zip(refs["name"], refs["version"], strict=True)), gold.version)

metric = "agreement (chance two judgments match)" if not task.is_numeric else "agreement (within tolerance)"
left, right = st.columns([3, 2])
with left:
    st.plotly_chart(figures.agreement_matrix(matrix, families, metric="agreement"), key="cmp_matrix_chart")
with right:
    st.markdown(f"**Pairwise {metric}**")
    st.caption(f"gold = the human gold ({gold.n_items} items; {gold.n_disputed} in dispute left out). Raters are "
               "grouped by family (in brackets); white squares outline families with several labelers. Against "
               "the gold, a pairwise labeler's agreement is its accuracy over both presentation orders.")
    shown = matrix.copy()
    shown.index = [f"{r} ({families.get(r, '')})" for r in shown.index]
    shown.columns = list(shown.index)
    with st.expander("As a table"):
        st.dataframe(shown.round(3), key="cmp_matrix")

st.subheader("Items on which labelers of different families disagree")
if disagreements.empty:
    st.info("No item has labelers of different families disagreeing.")
    st.stop()
pairs = sorted({p for ps in disagreements["families"] for p in ps.split(", ")})
f1, f2, f3 = st.columns([2, 2, 1])
chosen_pairs = f1.multiselect("Family pairs", pairs, key="cmp_pairs", placeholder="all pairs")
involving = f2.multiselect("Labelers", list(refs["name"]), key="cmp_labelers", placeholder="any labeler",
                           help="Only items where one of these labelers disagrees with a labeler of another family.")
gold_only = f3.toggle("With gold only", key="cmp_gold_only")
view = disagreements
if chosen_pairs:
    view = view[view["families"].map(lambda s: any(p in s.split(", ") for p in chosen_pairs))]
if involving:
    labelers = [c for c in refs["name"] if c in view.columns]

    def involved(row: pd.Series) -> bool:
        return any(row[a] != row[b] and families[a] != families[b] and pd.notna(row[a]) and pd.notna(row[b])
                   for a in involving for b in labelers)

    view = view[view.apply(involved, axis=1)] if not view.empty else view
if gold_only and review.GOLD in view.columns:
    view = view[view[review.GOLD].notna()]
st.caption(f"{len(view)} of {len(disagreements)} items. \"split\": the labeler's presentation orders or samples "
           "disagree with each other.")
st.dataframe(view.astype(object).where(view.notna(), "split") if not task.is_numeric else view, hide_index=True,
             key="cmp_disagreements")
if not view.empty:
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    item_id = c1.selectbox("Item", list(view["item_id"]), key="cmp_item")
    if c2.button("Open in Review", key="cmp_open", icon=":material/rate_review:", on_click=open_in_review,
                 args=(item_id,)):
        st.switch_page("pages/review.py")
