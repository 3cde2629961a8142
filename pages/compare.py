"""Compare: every labeler and the human gold side by side; where labelers of different families disagree."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from labelgate import calibrate as cal
from labelgate import gold as goldlib
from labelgate import review
from labelgate.store import gold as gold_store
from labelgate.store.tasks import get_task
from labelgate.ui import align_lab, figures
from labelgate.ui import format as fmt
from labelgate.ui.session import get_db, require_page
from labelgate.ui.widgets import criterion_picker, gold_picker, plain, task_picker

user = require_page("compare")
db = get_db()
S = st.session_state


@st.cache_data(ttl=15, max_entries=8, show_spinner=False)
def task_state(task_name: str, criterion: str | None, release: int | None):
    task = get_task(db, task_name)
    task = task.criterion(criterion) if criterion else task
    return task, goldlib.chosen_gold(db, task, release), cal.labeler_refs(db, task)


@st.cache_data(ttl=60, max_entries=16, show_spinner="Comparing labelers…")
def comparison(task_name: str, criterion: str | None, versions: tuple[tuple[str, str], ...], gold_version: str,
               release: int | None):
    """(agreement matrix ordered by family, cross-family disagreements) on one criterion: keyed by labeler and
    gold versions."""
    task, gold, refs = task_state(task_name, criterion, release)
    families = dict(zip(refs["name"], refs["family"], strict=True))
    judgments = gold_store.llm_judgments(db, task.task_id, labelers=list(versions), criterion=task.criterion_name)
    per_item = review.item_labels(task, gold, judgments)
    matrix = review.agreement_matrix(task, per_item)
    order = review.order_by_family(list(matrix.index), families)
    pairs = review.agreement_pairs(task, per_item, order)
    return matrix.loc[order, order], pairs, review.cross_family_disagreements(task, per_item, families)


def render_all_criteria(task_name: str, whole, release: int | None) -> None:
    """Every pair of raters (the gold among them) on every criterion: agreement [95% CI] and the items both
    labeled, in one table."""
    cells: dict[tuple[str, str], dict[str, str]] = {}
    families: dict[str, str] = {review.GOLD: "human"}
    for name in whole.criterion_names:
        task, gold, refs = task_state(task_name, name, release)
        if refs.empty:
            continue
        families |= dict(zip(refs["name"], refs["family"], strict=True))
        versions = tuple(zip(refs["name"], refs["version"], strict=True))
        _, pairs, _ = comparison(task_name, name, versions, gold.version, release)
        for r in pairs.itertuples():
            cells.setdefault((r.rater, r.other), {})[name] = (
                f"{fmt.number(r.agreement)} [{fmt.number(r.ci_low)}, {fmt.number(r.ci_high)}] · {fmt.count(r.items)}"
                if r.items else "–")
    if not cells:
        st.info(f"Task {plain(task_name)} has no labelers yet.")
        return
    st.markdown("**Every pair on every criterion: agreement [95% CI] · items both labeled**")
    st.caption("Agreement: the chance two judgments match (numeric criteria: within tolerance); against the gold, "
               "a labeler's accuracy. The CI is a bootstrap over items. Pick a criterion above for its matrix, "
               "its cross-family disagreements and the alignment lab.")
    with_gold = sorted(cells, key=lambda p: (review.GOLD not in p, p))  # each labeler against the gold first
    fmt.text_table(pd.DataFrame([{"rater": f"{a} ({families.get(a, '')})", "other": f"{b} ({families.get(b, '')})",
                                  **{c: cells[(a, b)].get(c, "–") for c in whole.criterion_names}}
                                 for a, b in with_gold]))


def open_in_review(item_id: str) -> None:
    S["review_focus"] = ("labeler vs labeler", S["cmp_task"], item_id)


st.title("Compare")
st.caption("Labelers from different model families labeling the same items: where they agree with each other "
           "and with the human gold, and the items where they disagree — those go to people.")
c1, c2 = st.columns([1, 2])
task_name = task_picker("cmp_task", where=c1)
whole = get_task(db, task_name)
criterion = criterion_picker(f"cmp_criterion_{task_name}", whole, where=c1)
release = gold_picker(f"cmp_gold_{task_name}", whole, where=c2)
if whole.is_multi and criterion is None:
    render_all_criteria(task_name, whole, release)
    st.stop()
task, gold, refs = task_state(task_name, criterion, release)
if refs.empty:
    st.info(f"Task {plain(task_name)} has no labelers yet.")
    st.stop()
families = dict(zip(refs["name"], refs["family"], strict=True))
families[review.GOLD] = "human"
versions = tuple(zip(refs["name"], refs["version"], strict=True))
matrix, agreement, disagreements = comparison(task_name, criterion, versions, gold.version, release)

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

st.markdown("**Every pair: items both labeled, agreement and 95% CI** (bootstrap over items; each item counts once, "
            "whatever the number of its judgments)")
names = {r: f"{r} ({families.get(r, '')})" for r in matrix.index}
fmt.text_table(pd.DataFrame({
    "rater": agreement["rater"].map(names), "other": agreement["other"].map(names),
    "items": agreement["items"].map(fmt.count), "agreement": agreement["agreement"].map(fmt.number),
    "95% CI": [f"[{fmt.number(lo)}, {fmt.number(hi)}]" if n else "–"
               for lo, hi, n in zip(agreement["ci_low"], agreement["ci_high"], agreement["items"], strict=True)]}))

align_lab.render(task, gold, refs, task_name, criterion, release, refresh=task_state.clear)

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
st.dataframe(fmt.display_columns(view.astype(object).where(view.notna(), "split") if not task.is_numeric else view),
             hide_index=True, key="cmp_disagreements")
if not view.empty:
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    item_id = c1.selectbox("Item", list(view["item_id"]), key="cmp_item")
    if c2.button("Open in Review", key="cmp_open", icon=":material/rate_review:", on_click=open_in_review,
                 args=(item_id,)):
        st.switch_page("pages/review.py")
