"""The Compare page's alignment lab: the split, two labelers paired on dev, several side by side with the
Pareto plot, the final evaluation on the sealed test split (dev against test) and saving the chosen variant
as the task's labeler for the gate."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from labelgate import align
from labelgate.align import promote as promoting
from labelgate.store.tasks import get_task
from labelgate.ui import align_propose, figures
from labelgate.ui import format as fmt
from labelgate.ui.session import action, current_user, get_db
from labelgate.ui.widgets import plain, show_message

S = st.session_state
METRIC_NAMES = {"accuracy": "Accuracy", "cohen_kappa": "Cohen's kappa", "macro_f1": "Macro-F1",
                "quadratic_kappa": "Quadratic kappa", "spearman": "Spearman correlation",
                "krippendorff_alpha": "Krippendorff's alpha"}


def _task(task_name: str, criterion: str | None):
    task = get_task(get_db(), task_name)
    return task.criterion(criterion) if criterion else task


def _gold(task, release: int | None):
    from labelgate import gold as goldlib

    return goldlib.chosen_gold(get_db(), task, release)


@st.cache_data(ttl=30, max_entries=16, show_spinner="Bootstrapping the paired differences on dev…")
def align_view(task_name: str, criterion: str | None, gold_version: str, release: int | None, a: str, b: str,
               versions: tuple[tuple[str, str], ...], looks_key: int = 0):
    """(split or None, test looks, comparison of a and b on dev or None): keyed by gold and labeler versions."""
    db = get_db()
    task = _task(task_name, criterion)
    gold = _gold(task, release)
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
    task = _task(task_name, criterion)
    return align.side_by_side(get_db(), task, list(chosen), baseline=baseline, gold=_gold(task, release))


@st.cache_data(ttl=15, max_entries=16, show_spinner=False)
def dev_run_labelers(task_name: str, versions: tuple[tuple[str, str], ...]) -> list[str]:
    """The labelers `labelgate align run` labeled the dev split with, in the order they ran."""
    from labelgate.align.variants import DEV_BATCH
    from labelgate.store import align as align_store

    db = get_db()
    return align_store.dev_run_labelers(db, get_task(db, task_name).task_id, DEV_BATCH)


@st.cache_data(ttl=30, max_entries=16, show_spinner="Dev against test…")
def test_view(task_name: str, criterion: str | None, gold_version: str, release: int | None, labeler: str,
              versions: tuple[tuple[str, str], ...], looks: int) -> dict:
    """promote.dev_versus_test (reads only recorded final evaluations): keyed by versions and the looks count."""
    task = _task(task_name, criterion)
    return promoting.dev_versus_test(get_db(), task, labeler, gold=_gold(task, release))


@st.cache_data(ttl=30, max_entries=16, show_spinner=False)
def finals(task_name: str, looks: int) -> pd.DataFrame:
    from labelgate.align.compare import final_history

    db = get_db()
    return final_history(db, get_task(db, task_name))


def with_ci(m: dict | None) -> str:
    return "–" if not m else f"{fmt.number(m['estimate'])} [{fmt.number(m['ci_low'])}, {fmt.number(m['ci_high'])}]"


def dollars(x) -> str:
    return "–" if x is None else f"${x:,.6f}" if x < 0.01 else f"${x:,.4f}"


def p_value(p) -> str:
    return "–" if p is None else "< 0.0001" if p < 0.0001 else fmt.number(p, 4)


@action("compare")
def on_make_split(task_name: str, criterion: str | None, release: int | None) -> None:
    task = _task(task_name, criterion)
    align.make_split(get_db(), task, gold=_gold(task, release), created_by=current_user().name)
    align_view.clear()


@action("compare")
def on_run_variants(task_name: str, criterion: str | None, release: int | None, refresh=None) -> None:
    """Save the variants typed in (YAML or JSON) as labeler versions and run them on dev (cached calls are free)."""
    from labelgate.align.variants import OverBudget, VariantError, parse_variants, run_variants
    from labelgate.llm.secrets import MissingApiKeyError

    user = current_user()
    if user.role not in ("engineer", "lead"):
        S["cmp_run_message"] = ("error", f"Not run: {user.name} is {user.role}; engineers and leads run variants")
        return
    task = _task(task_name, criterion)
    budget = S.get(f"cmp_run_budget_{task_name}")
    try:
        variants = parse_variants(S.get(f"cmp_run_variants_{task_name}") or "", source="the variants")
        out = run_variants(get_db(), task, variants, budget_usd=None if budget is None else float(budget),
                           created_by=user.name, gold_release=_gold(task, release).release)
    except (VariantError, OverBudget, MissingApiKeyError, LookupError, ValueError) as exc:
        S["cmp_run_message"] = ("error", f"Not run: {exc}")
        return
    for fn in (align_view, side_view, dev_run_labelers):
        fn.clear()
    if refresh is not None:
        refresh()
    S[f"cmp_align_sbs_{task_name}"] = [v["name"] for v in out["variants"]][:6]   # what ran, side by side
    S[f"cmp_align_base_{task_name}"] = out["variants"][0]["name"]
    S["cmp_final_reselect"] = True   # the final evaluation preselects the best on dev again
    done = "; ".join(f"{v['name']}: {v['labeled']} of {v['n_dev_items']} dev items ({v['requests']} requests, "
                     f"{v['cached_calls']} cached, ${v['cost_usd']:,.4f})" for v in out["variants"])
    kind = "success" if all(v["status"] == "done" and not v["failed"] for v in out["variants"]) else "warning"
    S["cmp_run_message"] = (kind, f"Ran {len(out['variants'])} variant(s) on the dev split: {done}.")


def on_open_review(task_name: str, labelers: tuple[str, ...], dev: tuple[str, ...]) -> None:
    """Send Review the variants and the dev items: it shows where they disagree with the gold or each other."""
    S["rev_lab"] = (task_name, labelers, dev)


@action("compare")
def on_final(task_name: str, criterion: str | None, release: int | None, key: str) -> None:
    """Run the final evaluation of the chosen variant on test (recorded with who, when and the version)."""
    labeler = S.get(key)
    task = _task(task_name, criterion)
    gold = _gold(task, release)
    try:
        out = align.final_evaluation(get_db(), task, labeler, user=current_user(), gold_release=gold.release)
    except (PermissionError, LookupError, ValueError) as exc:
        S["cmp_final_message"] = ("error", f"Not evaluated: {exc}")
        return
    for fn in (align_view, test_view, finals):
        fn.clear()
    ran = out.get("run")
    how = (f" {labeler} first labeled the {ran['labeled']} test items it had not labeled ({ran['requests']} "
           f"requests, {ran['cached_calls']} from the cache, ${ran['cost_usd']:,.4f})." if ran else "")
    S["cmp_final_message"] = ("success", f"Final evaluation {out['final_id']} of {labeler} on {out['n_items']} test "
                                         f"items, recorded with your name.{how} The test split has now been looked "
                                         f"at {out['test_looks']} time{'s' if out['test_looks'] != 1 else ''}.")


@action("compare")
def on_promote(task_name: str, criterion: str | None, release: int | None, key: str, name_key: str) -> None:
    labeler, name = S.get(key), (S.get(name_key) or "").strip()
    task = _task(task_name, criterion)
    try:
        out = promoting.promote(get_db(), task, labeler, name=name or labeler, user=current_user(),
                                gold_release=_gold(task, release).release)
    except (PermissionError, LookupError, ValueError) as exc:
        S["cmp_promote_message"] = ("error", f"Not saved: {exc}")
        return
    align_view.clear()
    metric = METRIC_NAMES[out["gate_metric"]]
    S["cmp_promote_message"] = (
        "success", f"Saved {labeler} as the labeler {out['labeler']} of {task.name} (version {out['version']}, "
                   f"promotion {out['promotion_id']}): it goes to the Gate with {metric} on dev "
                   f"{with_ci(out['dev'].get(out['gate_metric']))} and on test "
                   f"{with_ci(out['test'].get(out['gate_metric']))} in its evidence.")


def render(task, gold, refs, task_name: str, criterion: str | None, release: int | None, *, refresh=None) -> None:
    """The lab's section of the Compare page for one task (criterion) and gold snapshot; `refresh` clears the
    page's cache of the task's labelers (new variants are new labelers)."""
    user = current_user()
    versions = tuple(zip(refs["name"], refs["version"], strict=True))
    st.subheader("Alignment lab: labelers on the dev split")
    split, looks, _ = align_view(task_name, criterion, gold.version, release, "", "", versions)
    if split is None:
        st.caption(f"No train / dev / test split of {gold.name} yet. The split is made once and stored: labelers "
                   "are compared on dev, and test is read only by a recorded final evaluation.")
        st.button("Split the gold: train 20%, dev 40%, test 40%", key="cmp_align_split", on_click=on_make_split,
                  args=(task_name, criterion, release), icon=":material/call_split:")
        return
    c = split.counts()
    st.caption(f"Split {split.split_id} of {split.gold_name}: train {fmt.count(c['train'])}, "
               f"dev {fmt.count(c['dev'])}, test {fmt.count(c['test'])} items, stratified by gold label"
               f"{' and ' + plain(split.stratify) if split.stratify else ''}. Few-shot examples come from train "
               "only; variants are compared on dev; test is sealed.")
    names_list = list(refs["name"])
    with st.expander("Run variants on the dev split"):
        st.caption("One variant per entry, as in `labelgate align run --variants FILE`: name, provider, model, "
                   "base_url, api_key_env, prompt, temperature, samples, reasoning, few_shot (examples from train), "
                   "seed, max_tokens, both_orders. Each is saved as a labeler version and run on dev only; calls "
                   "already cached are not paid again.")
        st.text_area("Variants (YAML or JSON)", key=f"cmp_run_variants_{task_name}", height=180,
                     placeholder="- name: mini 4-shot\n  provider: openai\n  model: gpt-4o-mini\n  few_shot: 4")
        r1, r2 = st.columns([1, 2], vertical_alignment="bottom")
        r1.number_input("Budget (USD, optional)", min_value=0.0, value=None, step=0.5, format="%.2f",
                        key=f"cmp_run_budget_{task_name}",
                        help="Refused before any call when the estimated cost of the uncached calls is over it.")
        r2.button("Run on dev", key="cmp_run_variants", on_click=on_run_variants,
                  args=(task_name, criterion, release, refresh), icon=":material/play_arrow:")
        show_message("cmp_run_message")
    align_propose.render(task_name, criterion, release, versions, refresh=refresh)

    st.markdown("**Side by side on the dev split**")
    s1, s2 = st.columns([3, 1])
    ran = [n for n in dev_run_labelers(task_name, versions) if n in names_list]
    chosen = s1.multiselect("Labelers side by side", names_list, default=(ran or names_list)[:6],
                            key=f"cmp_align_sbs_{task_name}", placeholder="pick labelers")
    baseline = s2.selectbox("Baseline", chosen or names_list, key=f"cmp_align_base_{task_name}",
                            help="Each labeler's paired difference is taken against this one, on the same dev items.")
    metric_names = align.compare_metrics(task)
    sbs = None
    if not chosen:
        st.info("Pick the labelers to put side by side.")
    else:
        sbs = side_view(task_name, criterion, gold.version, release, tuple(chosen), baseline, versions)
        primary, primary_name = sbs["primary_metric"], METRIC_NAMES[sbs["primary_metric"]]
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
            # imported labels have no cost: whether they are on the cost front is unknown, not "no"
            "Pareto front": "no cost data" if r["cost_per_item_usd"] is None else "yes" if r["pareto"] else "no"}
            for r in sbs["variants"]]))
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

    if chosen:
        if st.button("Open in Review: the dev items where these disagree with the gold or each other",
                     key="cmp_align_review", on_click=on_open_review, icon=":material/rate_review:",
                     args=(task_name, tuple(chosen), tuple(split.ids("dev")))):
            st.switch_page("pages/review.py")

    with st.expander("Two labelers, paired: every metric's difference and McNemar's test"):
        a1, a2 = st.columns(2)
        a_name = a1.selectbox("Labeler A", names_list, key=f"cmp_align_a_{task_name}")
        b_name = a2.selectbox("Labeler B", names_list, index=min(1, len(names_list) - 1),
                              key=f"cmp_align_b_{task_name}")
        if a_name == b_name:
            st.info("Pick two different labelers.")
        else:
            _, _, result = align_view(task_name, criterion, gold.version, release, a_name, b_name, versions)
            st.markdown(f"**{plain(a_name)} minus {plain(b_name)}** on {fmt.count(result['n_items'])} of "
                        f"{fmt.count(result['n_dev_items'])} dev items (paired bootstrap 95% CI over items)")
            rows = [{"Metric": METRIC_NAMES.get(name, name), "A − B": fmt.number(m["estimate"]),
                     "95% CI": f"[{fmt.number(m['ci_low'])}, {fmt.number(m['ci_high'])}]",
                     "McNemar p": p_value(m["mcnemar_p"]) if "mcnemar_p" in m else "–"}
                    for name, m in result["metrics"].items()]
            if rows:
                fmt.text_table(pd.DataFrame(rows))
            else:
                st.info(result.get("note", "No metric is defined on these items."))

    render_final(task, gold, task_name, criterion, release, names_list, versions, looks, sbs, user)


def _best(task, sbs: dict | None, names: list[str]) -> int:
    """Index in `names` of the side-by-side labeler best on dev by the task's gate metric (else 0)."""
    if not sbs:
        return 0
    m = promoting.gate_metric(task)
    scored = [(r["metrics"][m]["estimate"], r["name"]) for r in sbs["variants"]
              if m in r["metrics"] and r["metrics"][m]["estimate"] is not None and r["name"] in names]
    return names.index(max(scored)[1]) if scored else 0


def render_final(task, gold, task_name, criterion, release, names_list, versions, looks, sbs, user) -> None:
    st.markdown("**Final evaluation on the sealed test split**")
    st.caption(f"Test is read only when you ask for a final evaluation here (or `labelgate align final`); each "
               f"one is recorded with who, when and the labeler version. The test split has been looked at "
               f"**{fmt.count(looks)} time{'s' if looks != 1 else ''}**: every look spends some of its honesty.")
    key = f"cmp_final_labeler_{task_name}"
    f1, f2 = st.columns([2, 1], vertical_alignment="bottom")
    if S.pop("cmp_final_reselect", False) or S.get(key) not in names_list:
        S[key] = names_list[_best(task, sbs, names_list)]
    labeler = f1.selectbox("Variant", names_list, key=key,
                           help="Preselected: the best on dev by the gate's metric "
                                f"({METRIC_NAMES[promoting.gate_metric(task)]}).")
    f2.button("Run the final evaluation on test", key="cmp_final_run", on_click=on_final,
              args=(task_name, criterion, release, key), icon=":material/lock_open:",
              disabled=user.role not in ("engineer", "lead"))
    show_message("cmp_final_message")
    name_key = f"cmp_promote_name_{task_name}_{labeler}"
    view = test_view(task_name, criterion, gold.version, release, labeler, versions, looks)
    final = view["final"]
    if final is None:
        st.caption(f"{plain(labeler)} (version {view['version']}) has no final evaluation on this split yet.")
    else:
        st.markdown(f"**{plain(labeler)}: dev against test** (final evaluation {int(final['final_id'])} by "
                    f"{plain(final['created_by'])} on {pd.Timestamp(final['created_at']):%Y-%m-%d %H:%M}; "
                    f"{fmt.count(view['n_dev_items'])} dev and {fmt.count(view['n_test_items'])} test items)")
        fmt.text_table(pd.DataFrame([{
            "Metric": METRIC_NAMES.get(r["metric"], r["metric"]), "On dev (95% CI)": with_ci(r["dev"]),
            "On test (95% CI)": with_ci(r["test"]),
            "Optimism gap (dev − test)": "–" if r["gap"] is None else f"{r['gap']:+.3f}"} for r in view["rows"]]))
        st.caption("The optimism gap is how much better the variant looked on dev, where it was chosen, than on test, "
                   "which it never saw: a large positive gap means dev was overfitted.")
        p1, p2 = st.columns([2, 1], vertical_alignment="bottom")
        S.setdefault(name_key, labeler)
        p1.text_input("Save as the task's labeler named", key=name_key,
                      help="The same labeler version under this name; it goes to the Gate carrying its dev and test "
                           "numbers in the evidence. Its labels under the name come from the cache.")
        p2.button("Save for the gate", key="cmp_promote", type="primary", on_click=on_promote,
                  args=(task_name, criterion, release, key, name_key), icon=":material/verified:",
                  disabled=user.role not in ("engineer", "lead"))
        show_message("cmp_promote_message")
    history = finals(task_name, looks)
    if not history.empty:
        m = promoting.gate_metric(task)
        with st.expander(f"Every look at the test split ({len(history)})"):
            fmt.text_table(pd.DataFrame({
                "Final evaluation": history["final_id"].map(fmt.count),
                "When": history["created_at"].map(lambda t: f"{pd.Timestamp(t):%Y-%m-%d %H:%M:%S}"),
                "By": history["created_by"], "Labeler": history["labeler"], "Version": history["labeler_version"],
                "Test items": history["n_items"].map(fmt.count),
                f"{METRIC_NAMES[m]} on test": history["metrics"].map(lambda d: with_ci(d.get(m)))}))
