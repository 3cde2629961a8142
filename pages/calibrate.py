"""Calibrate: each LLM labeler against the human gold — metrics, bias, confidence, corrections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from labelgate import calibrate as cal
from labelgate import csv_out
from labelgate import gold as goldlib
from labelgate.store import gold as gold_store
from labelgate.store.calibrate import labeler_batches
from labelgate.store.corrections import current_correction
from labelgate.store.tasks import get_task
from labelgate.ui import figures
from labelgate.ui import format as fmt
from labelgate.ui.session import action, get_db, require_page
from labelgate.ui.widgets import criterion_picker, download_button, gold_picker, plain, show_message, task_picker

user = require_page("calibrate")
db = get_db()
S = st.session_state
N_RESAMPLES = 1000


# --- cached reads: keyed by task (and criterion), labeler version and gold (release or draft, and version)

def task_view(task_name: str, criterion: str | None):
    """The task, or its view of one criterion (what every read below is about)."""
    task = get_task(db, task_name)
    return task.criterion(criterion) if criterion else task


@st.cache_data(ttl=15, max_entries=8, show_spinner=False)
def task_state(task_name: str, criterion: str | None, release: int | None):
    """(task, gold, labeler refs) on gold release `release` (None: the draft, re-read every 15 s so
    new labels and adjudications show up); of one criterion when `criterion` is given."""
    task = task_view(task_name, criterion)
    return task, goldlib.chosen_gold(db, task, release), cal.labeler_refs(db, task)


@st.cache_data(ttl=60, max_entries=8, show_spinner="Bootstrapping every criterion…")
def criteria_table(task_name: str, release: int | None, gold_versions: tuple[str, ...]) -> pd.DataFrame:
    """criterion x labeler x metric of a task with several criteria (`gold_versions` keys the cache)."""
    return cal.criteria_metrics(db, get_task(db, task_name), lambda view: goldlib.chosen_gold(db, view, release),
                                n_resamples=N_RESAMPLES)


@st.cache_data(ttl=300, max_entries=8, show_spinner=False)
def items_of(task_name: str) -> pd.DataFrame:
    return cal.item_frame(db, get_task(db, task_name))


@st.cache_data(ttl=60, max_entries=64, show_spinner="Bootstrapping confidence intervals…")
def labeler_data(task_name: str, criterion: str | None, name: str, version: str, family: str, gold_version: str,
                 release: int | None) -> cal.LabelerData:
    task, gold, _ = task_state(task_name, criterion, release)
    return cal.load_labeler(db, task, gold, name, version, family, n_resamples=N_RESAMPLES)


@st.cache_data(ttl=60, max_entries=64, show_spinner="Cross-validating…")
def cv_table(task_name: str, criterion: str | None, name: str, version: str, gold_version: str, release: int | None,
             method: str, covariates: tuple[str, ...], slice_column: str | None) -> pd.DataFrame:
    task, gold, refs = task_state(task_name, criterion, release)
    data = labeler_data(task_name, criterion, name, version, _family(refs, name), gold_version, release)
    return cal.cross_validate(task, data.pairs, method, items=items_of(task_name), covariates=list(covariates),
                              slice_column=slice_column)


@st.cache_data(ttl=60, max_entries=64, show_spinner=False)
def fitted_curves(task_name: str, criterion: str | None, name: str, version: str, gold_version: str,
                  release: int | None) -> dict:
    task, _, refs = task_state(task_name, criterion, release)
    data = labeler_data(task_name, criterion, name, version, _family(refs, name), gold_version, release)
    lo, hi = task.spec["scale"] if task.kind == "ordinal" else task.spec["range"]
    grid = np.linspace(lo, hi, 101)
    out = {}
    for method in ("linear", "isotonic"):
        try:
            out[method] = (grid, cal.correction_curve(task, cal.fit_correction(task, data.pairs, method), grid))
        except ValueError:
            continue
    return out


@st.cache_data(ttl=30, max_entries=32, show_spinner=False)
def saved_correction(task_id: int, criterion: str, name: str, version: str) -> dict | None:
    return current_correction(db, task_id, name, version, criterion=criterion)


@st.cache_data(ttl=30, max_entries=32, show_spinner=False)
def batches_of(task_id: int, name: str, version: str) -> list[tuple[str, int]]:
    return labeler_batches(db, task_id, name, version)


@st.cache_data(ttl=60, max_entries=16, show_spinner="Reading the batch…")
def batch_judgments(task_id: int, criterion: str, name: str, version: str, batch: str) -> pd.DataFrame:
    return gold_store.llm_judgments(db, task_id, labelers=[(name, version)], batch=batch, criterion=criterion)


@st.cache_data(ttl=15, max_entries=8, show_spinner=False)
def invalid_rates(task_name: str, criterion: str | None) -> dict[str, str]:
    task = task_view(task_name, criterion)
    return cal.invalid_outputs(db, task, cal.labeler_refs(db, task))


def fitted_on(correction: dict) -> str:
    r = correction.get("gold_release")
    return (f"gold release {r}" if r is not None else "the unreleased draft") + \
        f", gold version {correction['gold_version']}"


def _family(refs: pd.DataFrame, name: str) -> str:
    return str(refs.loc[refs["name"] == name, "family"].iloc[0])


def fmt_estimate(e) -> str:
    if e is None or (isinstance(e, float) and np.isnan(e)):
        return "–"
    if np.isnan(e.ci_low):
        return f"{e.estimate:.3f}"
    return f"{e.estimate:.3f} [{e.ci_low:.3f}, {e.ci_high:.3f}]"


# --- callbacks (writes) ------------------------------------------------------------------------

@action("calibrate")
def on_save_correction(task_name: str, criterion: str | None, name: str, version: str, gold_version: str,
                       release: int | None, method: str, covariates: tuple[str, ...]) -> None:
    task, gold, refs = task_state(task_name, criterion, release)
    if gold.version != gold_version:
        S["cal_message"] = ("error", "The gold changed while you were looking; review the numbers and save again.")
        return
    data = labeler_data(task_name, criterion, name, version, _family(refs, name), gold_version, release)
    try:  # labelgate.calibrate's fit and save: the same rules as `labelgate calibrate fit --save`
        fit = cal.fit_labeler_correction(task, data.pairs, method, items=items_of(task_name), covariates=covariates,
                                         cv=cv_table(task_name, criterion, name, version, gold_version, release,
                                                     method, covariates, None))
        cid = cal.save_labeler_correction(db, task, gold, name, version, fit, user=user,
                                          confirm_worse=bool(S.get(confirm_key(name, method))))
    except cal.WorseCorrectionError as exc:
        S["cal_message"] = ("error", f"Not saved: {exc}. Tick “Save it although it is worse” to keep it anyway.")
        return
    except (ValueError, PermissionError) as exc:
        S["cal_message"] = ("error", f"Not saved: {exc}")
        return
    effect = fit.effect
    saved_correction.clear()
    S["cal_message"] = ("success", f"Saved correction #{cid} ({cal.CORRECTION_LABELS[method]}) of {name} "
                                   f"version {version}, fitted on {gold.name} (gold version {gold_version})"
                                   + (f"; {effect.describe()}" if effect else "")
                                   + "".join(f"; {d.describe()}" for d in fit.agreement_drops) + ".")
    S[confirm_key(name, method)] = False


CORRECTED_NAMES = {"raw": "labeler's score", "raw_labels": "labeler's labels", "corrected": "corrected",
                   "corrected_label": "corrected label", "correction_id": "correction", "value": "label",
                   "confidence": "confidence", "corrected_confidence": "corrected confidence"}
CORRECTED_HELP = {"labeler's score": "The labeler's score of the item (the mean over its judgments).",
                  "labeler's labels": "Every judgment of the item by the labeler (orders and samples).",
                  "corrected label": "The corrected score rounded to the scale.",
                  "correction": "The number of the saved correction applied."}


def corrected_view(corrected: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The corrected labels as a person reads them: named columns (item, labeler's score, corrected label, ...),
    scores with two decimals and probabilities with three (the CSV download keeps every digit)."""
    names = {c: CORRECTED_NAMES.get(c) or (f"P({c[2:]})" if c.startswith("p_") else None) for c in corrected.columns}
    shown = fmt.display_columns(corrected.rename(columns={c: n for c, n in names.items() if n}))
    config = {}
    for c in shown.columns:
        if pd.api.types.is_float_dtype(shown[c]):
            config[c] = st.column_config.NumberColumn(
                format="%.3f" if c.startswith("P(") or "confidence" in c else "%.2f", help=CORRECTED_HELP.get(c))
        elif c in CORRECTED_HELP:
            config[c] = st.column_config.Column(help=CORRECTED_HELP[c])
    return shown, config


# correlation and error on the scale: a numeric task's second table, so that neither is wider than a laptop window
SCALE_METRICS = ("Pearson r", "Pearson r (per group)", "Spearman rho", "Kendall tau", "MAE", "RMSE",
                 "mean signed error")


def metric_tables(wide: pd.DataFrame, keys: list[str]) -> None:
    """`wide` (one row per `keys`, one column per metric) as static tables that fit the page: the agreement on
    labels (with the counts) first and, on a numeric task, the correlation and error on the scale below."""
    scale = [c for c in wide.columns if c in SCALE_METRICS]
    labels = [c for c in wide.columns if c not in scale]
    if not scale or len(labels) == len(keys):
        fmt.text_table(wide)
        return
    st.markdown("**Agreement on the labels**")
    fmt.text_table(wide[labels])
    st.markdown("**Correlation and error on the scale** (MAE, RMSE and mean signed error in points of the scale; "
                "signed: labeler minus gold)")
    fmt.text_table(wide[keys + scale])


def confirm_key(name: str, method: str) -> str:
    return f"cal_confirm_worse_{name}_{method}"


def render_criteria_table(task_name: str, whole, release: int | None) -> None:
    """All criteria at once: one row per criterion and labeler, one column per metric."""
    versions = tuple(goldlib.chosen_gold(db, whole.criterion(n), release).version for n in whole.criterion_names)
    if not cal.labeler_refs(db, whole).shape[0]:
        st.info(f"Task {plain(task_name)} has no labelers yet. Import LLM labels on the Data page or add a labeler.")
        return
    table = criteria_table(task_name, release, versions)
    cells = table.assign(cell=[f"{e:.3f} [{lo:.3f}, {hi:.3f}]" if not np.isnan(lo) else f"{e:.3f}"
                               for e, lo, hi in zip(table["estimate"], table["ci_low"], table["ci_high"], strict=True)])
    rows = list(dict.fromkeys(zip(cells["criterion"], cells["labeler"], strict=True)))
    wide = cells.pivot(index=["criterion", "labeler"], columns="metric", values="cell")
    wide = wide.loc[rows, list(dict.fromkeys(cells["metric"]))]
    per = cells.drop_duplicates(["criterion", "labeler"]).set_index(["criterion", "labeler"]).loc[rows]
    wide.insert(0, "gold items", [fmt.count(n) for n in per["gold_items"]])
    wide.insert(1, "invalid outputs", list(per["invalid"]))
    st.subheader("Every criterion against its gold")
    st.caption("Each metric as estimate [95% CI] against that criterion's gold; the CI resamples gold items. "
               "Pick a criterion above for its bias, confidence and corrections.")
    metric_tables(wide.reset_index(), ["criterion", "labeler"])


# --- page ---------------------------------------------------------------------------------------

st.title("Calibrate")
st.caption("Each LLM labeler against the human gold: agreement with 95% bootstrap CIs (resampling items), "
           "bias by slice, reliability of its confidence, and corrections checked by cross-validation.")

c1, c2 = st.columns([1, 2])
task_name = task_picker("cal_task", where=c1)
whole = get_task(db, task_name)
criterion = criterion_picker(f"cal_criterion_{task_name}", whole, where=c1)
release = gold_picker(f"cal_gold_{task_name}", whole, where=c2)
if whole.is_multi and criterion is None:
    render_criteria_table(task_name, whole, release)
    st.stop()
task, gold, refs = task_state(task_name, criterion, release)
if refs.empty:
    st.info(f"Task {plain(task_name)} has no labelers yet. Import LLM labels on the Data page or add a labeler.")
    st.stop()
if gold.n_items == 0:
    st.warning(f"Task {plain(task_name)} has no gold yet ({gold.n_disputed} items in dispute). Experts label the "
               "calibration set on the Label page; disputes are settled on the Review page.")
    st.stop()

chosen = st.multiselect("Labelers", list(refs["name"]), default=list(refs["name"]), key=f"cal_labelers_{task_name}")
if not chosen:
    st.info("Choose at least one labeler.")
    st.stop()
st.caption(f"{gold.n_items} gold items ({(gold.labels['source'] == 'adjudicated').sum()} adjudicated), "
           f"{gold.n_disputed} still in dispute and left out · gold version {gold.version} · {task.kind} task")

datas = {}
for r in refs[refs["name"].isin(chosen)].itertuples():
    datas[r.name] = labeler_data(task_name, criterion, r.name, r.version, r.family, gold.version, release)

# metrics table: labeler x metric, "estimate [low, high]"
mt = cal.metrics_table(task, list(datas.values()))
table = mt.assign(cell=[f"{e:.3f} [{lo:.3f}, {hi:.3f}]" if not np.isnan(lo) else f"{e:.3f}"
                        for e, lo, hi in zip(mt["estimate"], mt["ci_low"], mt["ci_high"], strict=True)])
wide = table.pivot(index="labeler", columns="metric", values="cell")
wide = wide[[c for c in dict.fromkeys(table["metric"]) if c in wide.columns]]
wide.insert(0, "family", [_family(refs, n) for n in wide.index])
wide.insert(1, "gold items", [fmt.count(datas[n].pairs["item_id"].nunique()) for n in wide.index])
invalid = invalid_rates(task_name, criterion)
wide.insert(2, "invalid outputs", [invalid.get(n, "–") for n in wide.index])
st.subheader("Agreement with the gold")
st.caption("Each metric as estimate [95% CI]; the CI resamples gold items.")
metric_tables(wide.reset_index(), ["labeler"])
st.caption("Invalid outputs: answers that were not a label of the task (out of scale, unparsable), kept "
           "apart and left out of these metrics.")
missing = [n for n, d in datas.items() if d.pairs.empty]
if missing:
    st.warning(plain(f"No labels on gold items from: {', '.join(missing)}."))

focus = st.segmented_control("Look at", chosen, default=chosen[0], key=f"cal_focus_{task_name}",
                             format_func=plain) or chosen[0]
if focus not in datas:
    focus = chosen[0]
data = datas[focus]
if data.pairs.empty:
    st.info(f"{plain(focus)} has no labels on gold items.")
    st.stop()
items = items_of(task_name)
pairs = data.pairs

tab_agree, tab_bias, tab_corr, tab_pop = st.tabs(["Agreement", "Bias", "Correction", "Population estimate"],
                                                 key="cal_tabs", on_change="rerun")

with tab_agree:
    left, right = st.columns(2)
    with left:
        if task.is_numeric:
            lo, hi = task.spec["scale"] if task.kind == "ordinal" else task.spec["range"]
            curves = fitted_curves(task_name, criterion, focus, data.version, gold.version, release)
            st.plotly_chart(figures.scatter(cal.scatter_frame(task, pairs), curves, lo, hi, labeler=focus),
                            key="cal_scatter")
        if task.kind != "continuous":
            cm = cal.confusion(task, pairs)
            n_items = pairs["item_id"].nunique()
            unit = (f"{fmt.count(cm.to_numpy().sum())} judgments on {fmt.count(n_items)} items"
                    + (" (both presentation orders of each)" if task.kind == "pairwise" else ""))
            st.plotly_chart(figures.heatmap(cm, f"Confusion matrix of {focus} (judgments)", x_title=f"{focus} label",
                                            y_title="gold label"), key="cal_confusion")
            st.caption(f"Each cell counts judgments, not items: {unit}.")
    with right:
        rel = cal.reliability(task, pairs)
        if rel is None:
            st.info(f"{plain(focus)} gives no confidence with its labels, so there is no reliability diagram.")
        else:
            c1, c2 = st.columns(2)
            c1.metric("Expected calibration error (ECE)", f"{rel.ece:.3f}")
            c2.metric("Confidence AUROC", "–" if rel.auroc is None else f"{rel.auroc:.3f}")
            st.plotly_chart(figures.reliability_diagram(rel.bins, rel.ece, labeler=focus), key="cal_reliability")
        recall = cal.per_class_recall(task, pairs)
        if recall is not None:
            st.markdown("**Per-class recall** (95% Wilson CI)")
            shown = fmt.readable(recall[["label", "n_human", "human_share", "llm_share", "recall",
                                         "recall_ci_low", "recall_ci_high", "collapsed"]])
            n_items = pairs["item_id"].nunique()
            judged = len(pairs) != n_items  # both presentation orders, or several samples, of an item
            fmt.text_table(shown.rename(columns={"gold items": "gold judgments"}) if judged else shown)
            if judged:
                st.caption(f"Counts judgments, not items: {fmt.count(len(pairs))} judgments on {fmt.count(n_items)} "
                           "gold items" + (" (both presentation orders of each; the gold label of an order is the "
                                           "output the experts preferred as shown in it)."
                                           if task.kind == "pairwise" else "."))

with tab_bias:
    options = cal.slice_options(items)
    column = st.selectbox("Slice by", options, key="cal_slice",
                          help="Numeric columns are cut into four quantile bins. text_length is the number of "
                               "characters of the item's shown text.")
    try:
        rep = cal.slice_report(task, pairs, items, column)
    except ValueError as exc:
        st.error(plain(exc))
    else:
        signed = task.is_numeric
        st.plotly_chart(figures.slice_bars(rep.table, column=column, signed_error=signed), key="cal_slice_chart")
        cols = ["slice", "n"] + (["mean_signed_error", "error_ci_low", "error_ci_high"] if signed else []) + \
               ["agreement", "agreement_ci_low", "agreement_ci_high"]
        fmt.text_table(fmt.readable(rep.table[cols]))
        test = rep.error_test if signed else rep.agreement_test
        st.caption(f"Do the slices differ? {test.method}: statistic {test.statistic:.3g}, p = {test.p_value:.3g}. "
                   + ("" if task.is_numeric else "Pairwise and categorical tasks show agreement only; "
                      "both presentation orders count as judgments."))

    st.markdown("**Regression of the error on item features** (OLS, HC3 robust CIs)")
    reg_cols = st.multiselect("Features", options, default=[column], key="cal_reg_cols")
    if reg_cols:
        try:
            reg = cal.error_regression(task, pairs, items, reg_cols)
            fmt.text_table(fmt.readable(reg))
            st.caption("Outcome: " + ("the signed error (labeler minus gold)." if task.is_numeric else
                                      "disagreement with the gold (1) or agreement (0), a linear probability model."))
        except ValueError as exc:
            st.error(plain(f"No regression: {exc}"))

    b1, b2 = st.columns(2)
    with b1:
        st.markdown("**Self-preference**")
        fam_cols = cal.family_columns(task, items)
        if not fam_cols:
            st.caption("Items carry no source model family (a metadata column such as source_family, or "
                       "output_1_family and output_2_family for pairwise tasks), so self-preference is not shown.")
        else:
            sp = cal.self_preference(task, pairs, items, data.family)
            if sp is None:
                st.caption(f"No items written by both the {plain(data.family)} family and others.")
            else:
                what = "excess win rate" if task.kind == "pairwise" else "signed error"
                st.metric(f"{plain(data.family)} outputs vs others ({what})", f"{sp.estimate:+.3f}",
                          help=fmt_estimate(sp))
                unit = "items with one output of its family" if task.kind == "pairwise" else "judgments"
                st.caption(f"95% CI {fmt_estimate(sp)} over {sp.n} {unit}. Positive: {plain(focus)} favours its own "
                           "family.")
        pb = cal.position(task, pairs)
        if pb is not None:
            st.markdown("**Position bias** (both presentation orders)")
            p1, p2 = st.columns(2)
            p1.metric("Verdict flips when swapped", f"{pb.flip_rate.estimate:.1%}", help=fmt_estimate(pb.flip_rate))
            p2.metric("Picks the output shown first", f"{pb.first_position_rate.estimate:.1%}",
                      help=fmt_estimate(pb.first_position_rate))
            st.caption(f"Flip rate {fmt_estimate(pb.flip_rate)}; first-position rate "
                       f"{fmt_estimate(pb.first_position_rate)} (0.5 = no preference), {pb.n_items} items.")
    with b2:
        dist = cal.distributions(task, pairs, gold)
        st.plotly_chart(figures.distribution_bars(dist["llm_share"], dist["human_share"], labeler=focus),
                        key="cal_distribution")
        st.caption(f"Divergence of {plain(focus)}'s labels from the gold: KL {dist['kl']:.4f} bits, "
                   f"JS {dist['js']:.4f} bits.")

    if task.is_numeric:
        st.markdown("**Group-level correlations**")
        groups = cal.group_options(items)
        if not groups:
            st.caption("No metadata column groups the items (e.g. the system or the source input).")
        else:
            gcol = st.selectbox("Group by", [None, *groups], key="cal_group",
                                format_func=lambda c: "no grouping" if c is None else c)
            if gcol:
                gc = cal.group_correlations(task, pairs, items, gcol)
                fmt.text_table(fmt.readable(gc))
                st.caption(f"{gc.attrs['n_groups']} groups of {plain(gcol)}.")

with tab_corr:
    methods = cal.correction_methods(task, pairs)
    method = st.selectbox("Correction", methods, key="cal_method", format_func=lambda m: cal.CORRECTION_LABELS[m])
    covariates: tuple[str, ...] = ()
    if method == "linear_covariates":
        covariates = tuple(st.multiselect("Covariates", options, default=[cal.TEXT_LENGTH], key="cal_covariates"))
    slice_col = S.get("cal_slice") if task.is_numeric else None
    try:
        cv = cv_table(task_name, criterion, focus, data.version, gold.version, release, method, covariates, slice_col)
    except ValueError as exc:
        st.error(plain(exc))
        cv = None
    if cv is not None:
        st.markdown("**Cross-validated, before and after** (5 folds by item: each item is scored by a "
                    "correction fitted without it)")
        # the change's CI as one text cell: a row without one (the slice row) shows a dash, not "None"
        shown = cv.drop(columns=["change_ci_low", "change_ci_high"]).assign(change_ci=[
            "–" if pd.isna(lo) else f"[{lo:+.4f}, {hi:+.4f}]"
            for lo, hi in zip(cv["change_ci_low"], cv["change_ci_high"], strict=True)])
        st.dataframe(shown, hide_index=True, key="cal_cv_table", column_config={
            "before": st.column_config.NumberColumn(format="%.4f"),
            "after": st.column_config.NumberColumn(format="%.4f"),
            "change": st.column_config.NumberColumn("change", format="%+.4f", help="after minus before"),
            "change_ci": st.column_config.TextColumn(
                "change 95% CI", help="a paired bootstrap over items: the same items resampled before and after")})
        effect = cal.cv_effect(cv)
        for i, warning in enumerate(cal.cv_warnings(cv)):  # the CLI prints the same for the correction in force
            st.warning(warning, icon=":material/trending_down:")
            if i == 0 and effect is not None and effect.worse:
                st.checkbox("Save it although it is worse", key=confirm_key(focus, method))
        st.button("Save this correction", type="primary", key="cal_save", icon=":material/save:",
                  on_click=on_save_correction,
                  args=(task_name, criterion, focus, data.version, gold.version, release, method, covariates))
        show_message("cal_message")
    current = saved_correction(task.task_id, task.criterion_name, focus, data.version)
    if current is None:
        st.caption(f"{plain(focus)} version {data.version} has no saved correction yet.")
    else:
        st.success(f"Current correction: {plain(cal.describe_correction(current))}; saved by "
                   f"{plain(current['created_by'])}; fitted on {plain(fitted_on(current))}.")
        if current["gold_version"] != gold.version:
            st.warning(f"This correction was fitted on other gold than {gold.name}: fit and save it again.")
        batches = batches_of(task.task_id, focus, data.version)
        batch = st.selectbox("Apply it to batch", [b for b, _ in batches], key="cal_apply_batch",
                             format_func=lambda b: f"{b} ({dict(batches)[b]} items)")
        if batch:
            try:
                corrected = cal.apply_correction(task, current["params"],
                                                 batch_judgments(task.task_id, task.criterion_name, focus,
                                                                 data.version, batch), items)
            except ValueError as exc:
                st.error(plain(f"Could not apply the correction: {exc}"))
            else:
                corrected.insert(len(corrected.columns), "correction_id", current["correction_id"])
                shown, config = corrected_view(corrected.head(200))
                st.dataframe(shown, hide_index=True, key="cal_corrected", column_config=config)
                download_button("Download corrected labels (CSV)", csv_out.to_csv(corrected),
                                file_name=f"{task_name}-{focus}-{batch}-corrected.csv", mime="text/csv",
                                key="cal_download", on_click="ignore", icon=":material/download:")

with tab_pop:
    batches = batches_of(task.task_id, focus, data.version)
    pbatch = st.selectbox("Batch", [b for b, _ in batches], key="cal_pop_batch",
                          format_func=lambda b: f"{b} ({dict(batches)[b]} items)")
    if pbatch:
        try:
            est = cal.population_estimate(task, gold, batch_judgments(task.task_id, task.criterion_name, focus,
                                                                      data.version, pbatch))
        except ValueError as exc:
            st.error(plain(exc))
        else:
            fmt.text_table(fmt.readable(est))
            st.caption("PPI++ (prediction-powered inference): the labeler's labels on the whole batch, rectified "
                       "by its errors on the gold items, 95% CI; beside the estimate from the gold items alone.")
