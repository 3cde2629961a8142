"""Compare: every labeler and the human gold side by side; where labelers of different families disagree."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from labelgate import align, review
from labelgate import calibrate as cal
from labelgate import gold as goldlib
from labelgate.store import gold as gold_store
from labelgate.store.tasks import get_task
from labelgate.ui import figures
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


@st.cache_data(ttl=30, max_entries=16, show_spinner="Bootstrapping the paired differences on dev…")
def align_view(task_name: str, criterion: str | None, gold_version: str, release: int | None, a: str, b: str,
               versions: tuple[tuple[str, str], ...]):
    """(split or None, test looks, comparison of a and b on dev or None): keyed by gold and labeler versions."""
    task, gold, _ = task_state(task_name, criterion, release)
    try:
        split = align.split_for(db, task, gold)
    except LookupError:
        return None, 0, None
    result = align.compare(db, task, [a, b], gold=gold) if a and b and a != b else None
    return split, align.test_looks(db, split), result


@st.cache_data(ttl=30, max_entries=16, show_spinner="Side by side on dev: bootstrapping every labeler…")
def side_view(task_name: str, criterion: str | None, gold_version: str, release: int | None,
              chosen: tuple[str, ...], baseline: str, versions: tuple[tuple[str, str], ...]):
    """align.side_by_side of the chosen labelers against `baseline`: keyed by gold and labeler versions."""
    task, gold, _ = task_state(task_name, criterion, release)
    return align.side_by_side(db, task, list(chosen), baseline=baseline, gold=gold)


@st.cache_data(ttl=15, max_entries=16, show_spinner=False)
def dev_run_labelers(task_name: str, versions: tuple[tuple[str, str], ...]) -> list[str]:
    """The labelers `labelgate align run` labeled the dev split with, in the order they ran."""
    from labelgate.align.variants import DEV_BATCH
    from labelgate.store import align as align_store

    return align_store.dev_run_labelers(db, get_task(db, task_name).task_id, DEV_BATCH)


METRIC_NAMES = {"accuracy": "Accuracy", "cohen_kappa": "Cohen's kappa", "macro_f1": "Macro-F1",
                "quadratic_kappa": "Quadratic kappa", "spearman": "Spearman correlation",
                "krippendorff_alpha": "Krippendorff's alpha"}


def with_ci(m: dict | None) -> str:
    return "–" if not m else f"{fmt.number(m['estimate'])} [{fmt.number(m['ci_low'])}, {fmt.number(m['ci_high'])}]"


def dollars(x) -> str:
    return "–" if x is None else f"${x:,.6f}" if x < 0.01 else f"${x:,.4f}"


def p_value(p) -> str:
    return "–" if p is None else "< 0.0001" if p < 0.0001 else fmt.number(p, 4)


def on_make_split(task_name: str, criterion: str | None, release: int | None) -> None:
    task, gold, _ = task_state(task_name, criterion, release)
    align.make_split(db, task, gold=gold, created_by=user.name)
    align_view.clear()


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

st.subheader("Alignment lab: two labelers on the dev split")
split, looks, _ = align_view(task_name, criterion, gold.version, release, "", "", versions)
if split is None:
    st.caption(f"No train / dev / test split of {gold.name} yet. The split is made once and stored: labelers are "
               "compared on dev, and test is read only by a recorded final evaluation.")
    st.button("Split the gold: train 20%, dev 40%, test 40%", key="cmp_align_split", on_click=on_make_split,
              args=(task_name, criterion, release), icon=":material/call_split:")
else:
    c = split.counts()
    st.caption(f"Split {split.split_id} of {split.gold_name}: train {fmt.count(c['train'])}, "
               f"dev {fmt.count(c['dev'])}, test {fmt.count(c['test'])} items, stratified by gold label"
               f"{' and ' + plain(split.stratify) if split.stratify else ''}. The test split has been looked at "
               f"{fmt.count(looks)} time{'s' if looks != 1 else ''} (labelgate align final).")
    names_list = list(refs["name"])
    a1, a2 = st.columns(2)
    a_name = a1.selectbox("Labeler A", names_list, key=f"cmp_align_a_{task_name}")
    b_name = a2.selectbox("Labeler B", names_list, index=min(1, len(names_list) - 1), key=f"cmp_align_b_{task_name}")
    if a_name == b_name:
        st.info("Pick two different labelers.")
    else:
        _, _, result = align_view(task_name, criterion, gold.version, release, a_name, b_name, versions)
        st.markdown(f"**{plain(a_name)} minus {plain(b_name)}** on {fmt.count(result['n_items'])} of "
                    f"{fmt.count(result['n_dev_items'])} dev items (paired bootstrap 95% CI over items)")
        rows = [{"metric": name.replace("_", " "), "A − B": fmt.number(m["estimate"]),
                 "95% CI": f"[{fmt.number(m['ci_low'])}, {fmt.number(m['ci_high'])}]",
                 "McNemar p": fmt.number(m["mcnemar_p"], 4) if "mcnemar_p" in m else "–"}
                for name, m in result["metrics"].items()]
        if rows:
            fmt.text_table(pd.DataFrame(rows))
        else:
            st.info(result.get("note", "No metric is defined on these items."))

    st.markdown("**Side by side on the dev split**")
    s1, s2 = st.columns([3, 1])
    ran = [n for n in dev_run_labelers(task_name, versions) if n in names_list]
    chosen = s1.multiselect("Labelers side by side", names_list, default=(ran or names_list)[:6],
                            key=f"cmp_align_sbs_{task_name}", placeholder="pick labelers")
    baseline = s2.selectbox("Baseline", chosen or names_list, key=f"cmp_align_base_{task_name}",
                            help="Each labeler's paired difference is taken against this one, on the same dev items.")
    if not chosen:
        st.info("Pick the labelers to put side by side.")
    else:
        sbs = side_view(task_name, criterion, gold.version, release, tuple(chosen), baseline, versions)
        primary, primary_name = sbs["primary_metric"], METRIC_NAMES[sbs["primary_metric"]]
        metric_names = align.compare_metrics(task)
        st.caption(f"Agreement with the gold on the {fmt.count(sbs['n_dev_items'])} dev items, with bootstrap 95% "
                   "CIs over items; usage per dev item from the calls that produced the labels (imported labels "
                   "have none).")
        fmt.text_table(pd.DataFrame([{
            "Labeler": r["name"], "Dev items labeled": fmt.count(r["n_items"]),
            **{METRIC_NAMES[m]: with_ci(r["metrics"].get(m)) for m in metric_names},
            "Invalid outputs": "–" if r["invalid_rate"] is None else f"{r['invalid_rate']:.1%}",
            "Tokens per item": "–" if r["tokens_per_item"] is None else fmt.count(r["tokens_per_item"]),
            "Cost per item": dollars(r["cost_per_item_usd"]),
            "Latency per item": "–" if r["latency_ms_per_item"] is None
            else f"{fmt.number(r['latency_ms_per_item'] / 1000, 2)} s",
            "Pareto front": "yes" if r["pareto"] else "no"} for r in sbs["variants"]]))
        others = [r for r in sbs["variants"] if "versus_baseline" in r]
        if others:
            st.caption(f"Paired differences against {plain(baseline)} (labeler minus baseline, on the dev items "
                       "both labeled; paired bootstrap 95% CI; McNemar's test for accuracy).")
            fmt.text_table(pd.DataFrame([{
                "Labeler": r["name"], "Items both labeled": fmt.count(r["versus_baseline"]["n_items"]),
                **{f"{METRIC_NAMES[m]} difference": with_ci(r["versus_baseline"]["metrics"].get(m))
                   for m in metric_names},
                **({"McNemar p (accuracy)": p_value(r["versus_baseline"]["metrics"]["accuracy"]["mcnemar_p"])
                    if "accuracy" in r["versus_baseline"]["metrics"] else "–"} if "accuracy" in metric_names else {}),
            } for r in others]))
        if any(r["cost_per_item_usd"] is not None for r in sbs["variants"]):
            st.plotly_chart(figures.cost_vs_agreement(sbs["variants"], metric=primary, metric_label=primary_name),
                            key="cmp_align_pareto")
        else:
            st.caption("No cost is recorded for these labelers (imported labels), so there is no cost-versus-"
                       f"{plain(primary_name)} plot.")

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
