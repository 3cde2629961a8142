"""Calibrate page (AppTest through app.py): the demo, and a generated task with injected biases."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from scipy import stats

from labelgate.store.tasks import create_task
from labelgate.tasks import make_spec
from tests.synthetic import TASK, make_biased_task

PAGE = "pages/calibrate.py"


def cell(at, labeler: str, metric: str) -> tuple[float, float, float]:
    """(estimate, low, high) shown in the metrics tables (agreement on labels; correlation and error on the scale)."""
    text = frame(at, "labeler", metric).loc[labeler, metric]
    est, lo, hi = (float(x) for x in re.findall(r"-?\d+\.\d+", text))
    return est, lo, hi


def frame(at, *columns: str) -> pd.DataFrame:
    """The first table shown that has these columns (a static table: its cells as the user reads them)."""
    found = [d.value for d in at.dataframe if set(columns) <= set(d.value.columns)]
    for t in at.table:
        shown = t.value.map(lambda v: re.sub(r"\\(.)", r"\1", str(v)))
        shown.columns = [re.sub(r"\\(.)", r"\1", str(c)) for c in shown.columns]
        if set(columns) <= set(shown.columns):
            found.append(shown.set_index("labeler") if "labeler" in shown.columns else shown)
    assert found, f"no table with columns {columns}"
    return found[0]


def num(text: str) -> float:
    return float(str(text).replace(",", ""))


def ci(text: str) -> tuple[float, float]:
    lo, hi = re.fullmatch(r"\[(.+), (.+)\]", text).groups()
    return num(lo), num(hi)


def metric_value(at, label_start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label_start))


# --- the demo -------------------------------------------------------------------------------

def test_a_judges_invalid_outputs_show_as_its_rate_and_stay_out_of_the_metrics(app_for, demo_db):
    from labelgate.importer import read_table, validate_labels
    from labelgate.store.imports import import_labels
    from labelgate.store.tasks import get_task

    task = get_task(demo_db, "mt-bench")
    with demo_db.connect() as con:
        gold_ids = [r[0] for r in con.execute("SELECT DISTINCT item_id FROM human_labels ORDER BY 1 LIMIT 40")
                    .fetchall()]
    values = ["1" if k % 4 else "7" for k in range(40)]    # every 4th answer is not an option: 10 of 40
    body = "item_id,rater,value\n" + "\n".join(f"{i},Sloppy,{v}" for i, v in zip(gold_ids, values, strict=True))
    parsed = read_table("sloppy.csv", data=body.encode())
    labels = validate_labels(parsed, task, source="llm", known_items=set(gold_ids))
    import_labels(demo_db, task, parsed, labels, source="llm", family="gpt")
    at = app_for("engineer", page=PAGE)
    table = frame(at, "family", "gold items", "invalid outputs")
    assert table.loc["Sloppy", "invalid outputs"] == "10 of 40 (25.0%)"
    assert table.loc["GPT-4", "invalid outputs"].startswith("0 of ")
    assert table.loc["Sloppy", "gold items"] == "30"                  # the 10 invalid ones are not compared
    assert cell(at, "Sloppy", "accuracy")[0] == pytest.approx(_share_of_ones(demo_db, gold_ids, values), abs=5e-4)


def test_demo_metrics_table_shows_the_published_accuracies_with_cis(app_for):
    at = app_for("engineer", page=PAGE)
    assert not at.exception, at.exception
    assert at.title[0].value == "Calibrate"
    assert set(at.multiselect(key="cal_labelers_mt-bench").value) == {"GPT-4", "ChatGPT", "LLaMA2", "PaLM2"}
    for name, published in (("GPT-4", 0.81), ("ChatGPT", 0.7125), ("LLaMA2", 0.72)):
        est, lo, hi = cell(at, name, "accuracy")
        assert est == pytest.approx(published, abs=0.0005)
        assert lo < est < hi and hi - lo < 0.15
    table = frame(at, "family", "gold items")
    # pairwise: the categorical metrics, never the numeric ones
    assert {"Cohen's kappa", "Krippendorff's alpha", "macro-F1"} <= set(table.columns)
    assert not {"MAE", "Pearson r"} & set(table.columns)
    assert table.loc["GPT-4", "family"] == "gpt" and table.loc["LLaMA2", "family"] == "llama"
    assert "200 gold items" in " ".join(c.value for c in at.caption)


def test_demo_switching_labelers_changes_position_bias_and_confusion(app_for):
    at = app_for("engineer", page=PAGE)
    assert at.segmented_control[0].value == "ChatGPT"
    flips_chatgpt = metric_value(at, "Verdict flips")
    assert [i.value for i in at.info if "no confidence" in i.value]  # the demo judges state none
    at.segmented_control[0].set_value("GPT-4").run()
    assert not at.exception
    flips_gpt4 = metric_value(at, "Verdict flips")
    assert flips_chatgpt != flips_gpt4
    recall = frame(at, "recall", "collapsed")
    assert list(recall["label"]) == ["1", "2"] and recall["gold judgments"].map(num).sum() == 400  # both orders judged
    assert "gold items" not in recall.columns  # 400 is not the page's 200 gold items
    assert any(c.value.startswith("Counts judgments, not items: 400 judgments on 200 gold items") for c in at.caption)
    assert "recall 95% CI" in recall.columns and not [c for c in recall.columns if "_" in c]  # human names


def test_demo_confusion_correction_is_saved_with_versions_and_applied_to_the_batch(app_for, demo_db):
    at = app_for("engineer", page=PAGE)
    assert at.selectbox(key="cal_method").options == ["confusion matrix (class shares)"]
    cv = frame(at, "metric", "before", "after")
    assert list(cv.columns) == ["metric", "before", "after", "change", "change_ci"]
    assert len(cv) == 1
    before, after = cv[["before", "after"]].iloc[0]
    assert after > before  # ChatGPT's class shares are already close: the correction overfits
    assert any(w.value.startswith("This correction makes the cross-validated error of the class shares")
               and "(worse)" in w.value for w in at.warning)
    at.button(key="cal_save").click().run()
    assert not at.exception
    assert any(e.value.startswith("Not saved: the correction makes the cross-validated error") for e in at.error)
    with demo_db.connect() as con:
        assert con.execute("SELECT count(*) FROM corrections").fetchone() == (0,)
    at.checkbox(key="cal_confirm_worse_ChatGPT_confusion").check().run()
    at.button(key="cal_save").click().run()
    assert any("Saved correction #1" in s.value for s in at.success)
    with demo_db.connect() as con:
        rows = con.execute("SELECT labeler, labeler_version, method, gold_version, n_fit, created_by,"
                           " (SELECT version FROM labeler_versions v WHERE v.name = c.labeler LIMIT 1)"
                           " FROM corrections c").fetchall()
    assert len(rows) == 1
    labeler, version, method, gold_version, n_fit, by, stored_version = rows[0]
    assert (labeler, method, n_fit, by) == ("ChatGPT", "confusion", 200, "engineer")
    assert version == stored_version
    assert gold_version in " ".join(s.value for s in at.success)
    corrected = frame(at, "item", "correction")
    assert len(corrected) == 200 and set(corrected["corrected"]) <= {"1", "2"}
    assert (corrected[["P(1)", "P(2)"]].sum(axis=1).round(3) == 1).all()
    assert not [c for c in corrected.columns if "_" in c]  # named as a person reads them, not item_id
    assert at.download_button(key="cal_download").label.startswith("Download corrected labels")


def test_no_gold_and_no_labelers_get_a_clear_message(app_for, demo_db):
    create_task(demo_db, "empty-task", "categorical", make_spec("categorical", labels=["a", "b"]))
    at = app_for("lead", page=PAGE)
    at.selectbox(key="cal_task").set_value("empty-task").run()
    assert not at.exception
    assert any("has no labelers yet" in i.value for i in at.info)


# --- a task with known, injected biases -----------------------------------------------------

@pytest.fixture
def biased(app_for, demo_db):
    info = make_biased_task(demo_db)
    at = app_for("engineer", page=PAGE)
    at.selectbox(key="cal_task").set_value(TASK).run()
    assert not at.exception, at.exception
    return at, info


def test_ordinal_task_shows_numeric_metrics_and_gold_without_disputes(biased):
    at, info = biased
    table = frame(at, "family", "gold items")
    assert {"quadratic-weighted kappa", "Krippendorff's alpha"} <= set(table.columns)
    scale = frame(at, "Spearman rho", "Kendall tau", "MAE", "RMSE", "mean signed error")  # its own table: both fit
    assert list(scale.index) == list(table.index) and "family" not in scale.columns
    caption = " ".join(c.value for c in at.caption)
    n_disputed = len(info["disputed"])
    assert f"{240 - n_disputed} gold items" in caption and f"{n_disputed} still in dispute" in caption
    # Lengthy over-rates long items (about half) by one point
    est, lo, hi = cell(at, "Lengthy", "mean signed error")
    assert 0.3 < est < 0.6 and lo > 0


def test_length_bias_shows_in_the_slice_and_the_regression(biased):
    at, _ = biased
    at.selectbox(key="cal_slice").set_value("length").run()
    t = frame(at, "slice", "agreement").set_index("slice")
    assert num(t.loc["long", "mean signed error"]) == pytest.approx(1.0, abs=0.15)
    assert ci(t.loc["long", "error 95% CI"])[0] > 0.8
    assert abs(num(t.loc["short", "mean signed error"])) < 0.15 and ci(t.loc["short", "error 95% CI"])[0] < 0
    # text length (always offered) in quantile bins: the longest bin carries the bias
    at.selectbox(key="cal_slice").set_value("text_length").run()
    t = frame(at, "slice", "agreement")
    mse = t["mean signed error"].map(num)
    assert len(t) == 4 and mse.iloc[-1] > 0.8 and abs(mse.iloc[0]) < 0.2
    assert not t["slice"].str.contains("e+", regex=False).any()  # bins in plain digits
    reg = frame(at, "feature", "coefficient").set_index("feature")
    assert ci(reg.loc["text_length", "95% CI"])[0] > 0 and reg.loc["text_length", "p"] == "< 0.001"


def test_overconfident_labeler_shows_miscalibration_and_platt_fixes_it_out_of_fold(biased):
    at, _ = biased
    at.segmented_control[0].set_value("Overconfident").run()
    assert not at.exception
    ece = float(metric_value(at, "Expected calibration error"))
    assert ece > 0.2  # says ~0.95, right ~0.65
    at.selectbox(key="cal_method").set_value("Platt scaling of the confidence").run()
    cv = frame(at, "metric", "before", "after").set_index("metric")
    assert cv.loc["ECE", "after"] < 0.5 * cv.loc["ECE", "before"]


def test_covariate_correction_removes_most_of_the_length_bias_in_cross_validation(biased, demo_db):
    at, info = biased
    at.selectbox(key="cal_slice").set_value("length").run()
    at.selectbox(key="cal_method").set_value("linear with item covariates").run()
    at.multiselect(key="cal_covariates").set_value(["length"]).run()
    cv = frame(at, "metric", "before", "after").set_index("metric")
    worst = cv.loc["largest |mean signed error| over length slices"]
    assert worst["before"] > 0.85 and worst["after"] < 0.15 * worst["before"]
    assert cv.loc["MAE", "after"] < 0.5 * cv.loc["MAE", "before"]
    # a plain linear correction only shifts everyone: the long slice keeps much of its bias
    at.selectbox(key="cal_method").set_value("linear (a + b * score)").run()
    lin = frame(at, "metric", "before", "after").set_index("metric")
    assert lin.loc["largest |mean signed error| over length slices", "after"] > 0.3
    # save the covariate correction and apply it to the production batch
    at.selectbox(key="cal_method").set_value("linear with item covariates").run()
    at.multiselect(key="cal_covariates").set_value(["length"]).run()
    at.button(key="cal_save").click().run()
    assert not at.exception
    corrected = frame(at, "item", "labeler's score", "corrected", "corrected label", "correction")
    assert len(corrected) == 200  # the preview; the download holds every item
    assert not [c for c in corrected.columns if "_" in c]
    data = at.download_button(key="cal_download")
    assert data.label.startswith("Download")
    with demo_db.connect() as con:
        method, params = con.execute("SELECT method, params FROM corrections").fetchall()[0]
    assert method == "linear_covariates" and '"length"' in params


def test_apply_returns_every_batch_item_corrected(biased, demo_db):
    """The corrected file: one row per item of the batch, the long items brought down a point."""
    from labelgate import calibrate as cal
    from labelgate.store import gold as gold_store
    from labelgate.store.tasks import get_task

    _, info = biased
    task = get_task(demo_db, TASK)
    gold = cal.load_task_gold(demo_db, task)
    refs = cal.labeler_refs(demo_db, task).set_index("name")
    data = cal.load_labeler(demo_db, task, gold, "Lengthy", refs.loc["Lengthy", "version"], "gpt", n_resamples=50)
    items = cal.item_frame(demo_db, task)
    stored = cal.fit_correction(task, data.pairs, "linear_covariates", items=items, covariates=["length"])
    batch = gold_store.llm_judgments(demo_db, task.task_id, labelers=[("Lengthy", refs.loc["Lengthy", "version"])],
                                     batch="prod")
    out = cal.apply_correction(task, stored, batch, items)
    assert len(out) == 300 and out["item_id"].is_unique
    truth = info["truth"].loc[out["item_id"]].to_numpy()
    raw_err = (out["raw"] - truth).abs().mean()
    new_err = (out["corrected_label"] - truth).abs().mean()
    assert new_err < 0.4 * raw_err
    csv = pd.read_csv(io.StringIO(out.to_csv(index=False)))
    assert list(csv.columns[:3]) == ["item_id", "labeler", "version"]


def test_population_estimate_ppi_beside_gold_only(biased):
    at, info = biased
    est = frame(at, "labeler alone").iloc[0]
    true_mean = info["truth"].mean()
    assert est["batch items"] == "300" and est["gold items"] == "220"
    assert num(est["labeler alone"]) - true_mean > 0.3  # Lengthy alone over-states the mean
    (lo, hi), (glo, ghi) = ci(est["PPI 95% CI"]), ci(est["gold-only 95% CI"])
    assert lo <= true_mean <= hi and hi - lo < ghi - glo


def test_group_correlations_per_group_and_of_group_means(biased):
    at, _ = biased
    at.selectbox(key="cal_group").set_value("system").run()
    gc = frame(at, "correlation").set_index("correlation")
    assert list(gc.columns) == ["over items", "per group, averaged", "of group means"]
    assert 0.5 < num(gc.loc["Pearson r", "per group, averaged"]) <= 1
    assert "10 groups of system" in " ".join(c.value for c in at.caption)


def test_self_preference_is_shown_when_items_carry_the_source_family(biased):
    at, info = biased
    # Lengthy (gpt) on the undisputed gold items: its signed error on gpt-written stories minus
    # that on the others, with Welch's interval from scipy
    disputed = set(info["disputed"])
    gold = [i for i in info["gold_ids"] if i not in disputed]
    err = (info["lengthy"] - info["truth"])[gold].to_numpy(float)
    same = (info["source_family"][gold] == "gpt").to_numpy()
    ci = stats.ttest_ind(err[same], err[~same], equal_var=False).confidence_interval(0.95)
    assert metric_value(at, "gpt outputs vs others (signed error)") == f"{err[same].mean() - err[~same].mean():+.3f}"
    caption = next(c.value for c in at.caption if c.value.startswith("95% CI"))
    low, high = (float(x) for x in re.findall(r"-?\d+\.\d+", caption)[1:3])
    assert (low, high) == pytest.approx((ci.low, ci.high), abs=0.0005)
    assert f"over {len(gold)} judgments" in caption


def _share_of_ones(db, ids, values) -> float:
    """Accuracy of answering "1" on the items where the answer was a valid "1", against the gold."""
    with db.connect() as con:
        gold = dict(con.execute("SELECT item_id, value FROM human_labels WHERE round = 1 AND status = 'label'")
                    .fetchall())
    valid = [i for i, v in zip(ids, values, strict=True) if v == "1"]
    return sum(gold[i] == "1" for i in valid) / len(valid)
