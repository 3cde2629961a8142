"""Every page an engineer or lead opens runs on the HANNA demo task (six criteria), the task a new
user finds in the default demo."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest

from tests.pages.test_data_page import click, export_tab
from tests.pages.test_smoke import PAGE_FILES

SIX = ["relevance", "coherence", "empathy", "surprise", "engagement", "complexity"]


@pytest.fixture
def demo_db(hanna_db):
    return hanna_db


@pytest.mark.parametrize("page", sorted(set(PAGE_FILES) - {"admin", "label"}))
def test_each_page_runs_on_the_six_criterion_demo_task(app_for, page):
    at = app_for("lead")
    path, title = PAGE_FILES[page]
    at.switch_page(path).run()
    assert not at.exception, at.exception
    assert at.title[0].value == title


def shown_table(at, *columns: str) -> pd.DataFrame:
    """The first static table with these columns, its cells as the user reads them."""
    for t in at.table:
        shown = t.value.map(lambda v: re.sub(r"\\(.)", r"\1", str(v)))
        shown.columns = [re.sub(r"\\(.)", r"\1", str(c)) for c in shown.columns]
        if set(columns) <= set(shown.columns):
            return shown
    raise AssertionError(f"no table with columns {columns}")


def test_calibrate_shows_every_criterion_in_one_table_and_one_criterion_in_full(app_for, demo_db):
    from labelgate import calibrate as cal
    from labelgate.gold import load_gold
    from labelgate.store.tasks import get_task

    at = app_for("engineer")
    at.switch_page("pages/calibrate.py").run()
    assert at.selectbox(key="cal_criterion_hanna-stories").value == "all criteria"
    table = shown_table(at, "criterion", "labeler", "gold items", "Cohen's kappa")
    # the correlation and error metrics in a second table (one table of 16 columns was cut off on the right)
    scale = shown_table(at, "criterion", "labeler", "Kendall tau", "MAE", "RMSE", "mean signed error")
    assert len(table.columns) <= 10 and len(scale.columns) <= 8
    table = table.merge(scale, on=["criterion", "labeler"])
    assert list(dict.fromkeys(table["criterion"])) == SIX and set(table["labeler"]) == {"ChatGPT", "Beluga-13B"}
    # each cell is what the service computes for that criterion against its own gold
    task = get_task(demo_db, "hanna-stories")
    for name in ("relevance", "empathy"):
        view = task.criterion(name)
        gold = load_gold(demo_db, view)
        refs = cal.labeler_refs(demo_db, view).set_index("name")
        data = cal.load_labeler(demo_db, view, gold, "ChatGPT", refs.loc["ChatGPT", "version"], "gpt",
                                n_resamples=1000)
        row = table[(table["criterion"] == name) & (table["labeler"] == "ChatGPT")].iloc[0]
        for key, column in (("cohen_kappa", "Cohen's kappa"), ("kendall_tau", "Kendall tau")):
            e = data.metrics[key]
            assert row[column] == f"{e.estimate:.3f} [{e.ci_low:.3f}, {e.ci_high:.3f}]"
        assert row["gold items"] == str(gold.n_items)
    empathy = table[(table["criterion"] == "empathy") & (table["labeler"] == "ChatGPT")].iloc[0]
    assert empathy["invalid outputs"] == "2 of 200 (1.0%)"  # the two scores below the scale

    at.selectbox(key="cal_criterion_hanna-stories").select("surprise").run()
    assert not at.exception
    assert "Agreement with the gold" in [h.value for h in at.subheader]
    gold = load_gold(demo_db, task.criterion("surprise"))
    assert any(c.value.startswith(f"{gold.n_items} gold items") for c in at.caption)


def test_compare_and_monitor_look_at_the_criterion_picked(app_for, demo_db):
    from labelgate.gold import load_gold
    from labelgate.store.tasks import get_task

    task = get_task(demo_db, "hanna-stories")
    at = app_for("engineer")
    at.switch_page("pages/compare.py").run()
    for name in ("relevance", "complexity"):
        at.selectbox(key="cmp_criterion_hanna-stories").select(name).run()
        assert not at.exception
        n = load_gold(demo_db, task.criterion(name)).n_items
        assert any(c.value.startswith(f"gold = the human gold ({n} items") for c in at.caption), name

    at.switch_page("pages/monitor.py").run()
    at.selectbox(key="monitor_labeler").select("ChatGPT").run()
    for name, labels in (("relevance", 200), ("empathy", 198)):  # two empathy scores fell below the scale
        at.selectbox(key="monitor_criterion_hanna-stories").select(name).run()
        assert not at.exception
        (batches,) = [d.value for d in at.dataframe if "batch" in d.value.columns]
        assert batches[["batch", "labels"]].values.tolist() == [["hanna-prompt-1", labels]]


def test_the_same_metric_on_two_criteria_is_two_rules_on_the_gate_page(app_for, demo_db):
    # kappa on coherence and kappa on empathy: each has its own threshold box, and a lead changing one
    # marks that one only (both were one box, and one "changed" mark, keyed by the metric alone)
    from labelgate import gate
    from labelgate.store.tasks import get_task
    from labelgate.store.users import User
    from qc.gate import Criterion

    task = get_task(demo_db, "hanna-stories")
    lead = User("lead", "lead")
    gate.save_criteria(demo_db, task, [Criterion("alpha", ">=", 0.4, criterion="coherence", label="coherence alpha"),
                                       Criterion("alpha", ">=", 0.4, criterion="empathy", label="empathy alpha")],
                       user=lead)
    at = app_for("lead")
    at.switch_page("pages/gate.py").run()
    at.selectbox(key="gate_task").select("hanna-stories").run()
    coherence, empathy = "gate_thr_hanna-stories_alpha@coherence", "gate_thr_hanna-stories_alpha@empathy"
    assert at.number_input(key=coherence).value == 0.4 and at.number_input(key=empathy).value == 0.4
    at.number_input(key=empathy).set_value(0.6).run()
    at.button[[b.label for b in at.button].index("Save criteria")].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    saved = {c.key: c.threshold for c in gate.criteria_for(demo_db, task)}
    assert saved == {"alpha@coherence": 0.4, "alpha@empathy": 0.6}
    assert list(gate.criteria_marks(demo_db, task)) == ["alpha@coherence", "alpha@empathy"]  # neither is a default
    shown = [m.value for m in at.markdown]
    assert any("alpha of empathy" in m for m in shown) and any("alpha of coherence" in m for m in shown), shown


def test_compare_shows_every_pair_on_every_criterion_in_one_table(app_for, demo_db):
    from labelgate import calibrate as cal
    from labelgate import review
    from labelgate.gold import load_gold
    from labelgate.store import gold as gold_store
    from labelgate.store.tasks import get_task

    at = app_for("engineer")
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    table = shown_table(at, "rater", "other", *SIX)
    assert len(table) == 3  # ChatGPT, Beluga and the gold: three pairs
    with_gold = table[table["other"] == "gold (human)"]
    assert len(with_gold) == 2 and table.index.get_indexer(with_gold.index).max() == 1  # the gold pairs first
    # the cell equals the comparison computed directly, on the criterion it names
    task = get_task(demo_db, "hanna-stories").criterion("empathy")
    gold = load_gold(demo_db, task)
    refs = cal.labeler_refs(demo_db, task)
    version = refs.loc[refs["name"] == "ChatGPT", "version"].item()
    per_item = review.item_labels(task, gold, gold_store.llm_judgments(demo_db, task.task_id, criterion="empathy",
                                                                        labelers=[("ChatGPT", version)]))
    (row,) = review.agreement_pairs(task, per_item, ["ChatGPT", review.GOLD]).itertuples()
    cell = table.loc[table["rater"].str.startswith("ChatGPT") & (table["other"] == "gold (human)"), "empathy"].item()
    assert cell == f"{row.agreement:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}] · {row.items}", cell


def test_monitor_shows_the_latest_batch_of_every_criterion_in_one_table(app_for, demo_db):
    from labelgate import monitor as mon
    from labelgate.store.tasks import get_task

    at = app_for("engineer")
    at.switch_page("pages/monitor.py").run()
    at.selectbox(key="monitor_labeler").select("ChatGPT").run()
    assert not at.exception
    table = shown_table(at, "criterion", "labels", "label entropy")
    assert list(table["criterion"]) == SIX
    task = get_task(demo_db, "hanna-stories")
    for name in ("relevance", "empathy"):
        latest = mon.monitor(demo_db, task.criterion(name), "ChatGPT").latest
        row = table[table["criterion"] == name].iloc[0]
        assert row["labels"] == f"{latest['n_labels']:,}" and row["label entropy"] == f"{latest['entropy']:.3f}"
    assert list(table.loc[table["criterion"].isin(["relevance", "empathy"]), "labels"]) == ["200", "198"]


def test_the_export_tab_exports_the_criterion_picked(app_for, demo_db, downloads):

    at = app_for("lead", page="pages/data.py")
    at.selectbox(key="data_exp_task").select("hanna-stories").run()
    at = export_tab(at)
    at.selectbox(key="data_exp_labeler_hanna-stories").select("ChatGPT").run()
    assert at.selectbox(key="data_exp_criterion_hanna-stories").options == SIX
    at.selectbox(key="data_exp_criterion_hanna-stories").select("empathy").run()
    at.radio(key="data_exp_format_hanna-stories").set_value("CSV")
    at.checkbox(key="data_exp_soft_hanna-stories").check()
    at.checkbox(key="data_exp_force_hanna-stories_ChatGPT").check().run()
    at.text_input(key="data_exp_force_reason_hanna-stories_ChatGPT").input("criterion export check").run()
    click(at, "Export")
    assert not at.error, [e.value for e in at.error]
    (name,) = [n for n in downloads if n.startswith("hanna-stories-empathy-ChatGPT-")]
    table = pd.read_csv(io.BytesIO(downloads[name]), dtype={"item_id": str, "label": str})
    # the human rows' distribution is empathy's (relevance, the first criterion, has other means)
    raw = pd.read_csv("data/demo_hanna/hanna_human.csv", dtype={"item_id": str})
    means = {c: raw[raw["criterion"] == c].groupby("item_id")["value"].mean() for c in ("empathy", "relevance")}
    human = table[table["source"] == "human"].set_index("item_id")
    assert len(human) == 136  # empathy's gold items (the others are in dispute)
    assert np.allclose(human["human_mean"], means["empathy"].loc[human.index], atol=1e-12)
    assert not np.allclose(human["human_mean"], means["relevance"].loc[human.index])


def test_calibrate_warns_beside_save_when_a_correction_better_by_mae_agrees_less_often(app_for, demo_db):
    # coherence, Beluga-13B, linear: the cross-validated MAE falls but exact agreement falls too
    from labelgate import calibrate as cal
    from labelgate.gold import load_gold
    from labelgate.store.tasks import get_task

    view = get_task(demo_db, "hanna-stories").criterion("coherence")
    refs = cal.labeler_refs(demo_db, view).set_index("name")
    data = cal.load_labeler(demo_db, view, load_gold(demo_db, view), "Beluga-13B", refs.loc["Beluga-13B", "version"],
                            "llama", n_resamples=50)
    cv = cal.cross_validate(view, data.pairs, "linear", items=cal.item_frame(demo_db, view)).set_index("metric")
    mae, agree = cv.loc["MAE"], cv.loc["exact agreement (rounded)"]
    assert mae["after"] < mae["before"] and agree["after"] < agree["before"]

    at = app_for("engineer")
    at.switch_page("pages/calibrate.py").run()
    at.selectbox(key="cal_criterion_hanna-stories").select("coherence").run()
    at.segmented_control(key="cal_focus_hanna-stories").set_value("Beluga-13B").run()
    assert at.selectbox(key="cal_method").value == "linear"
    assert not at.exception, at.exception
    warned = [w.value for w in at.warning if w.value.startswith("Agreement gets worse with this correction")]
    assert warned == [f"Agreement gets worse with this correction: cross-validated exact agreement (rounded) "
                      f"{agree['before']:.4f} → {agree['after']:.4f} (worse), although the cross-validated MAE "
                      f"{mae['before']:.4f} → {mae['after']:.4f} (better)."]
    at.button(key="cal_save").click().run()  # a warning, not a refusal: it saves, and says so again
    saved = [s.value for s in at.success if s.value.startswith("Saved correction #1")]
    assert len(saved) == 1 and f"exact agreement (rounded) {agree['before']:.4f} → {agree['after']:.4f}" in saved[0]
    with demo_db.connect() as con:
        assert con.execute("SELECT labeler, method, criterion FROM corrections").fetchall() == [
            ("Beluga-13B", "linear", "coherence")]


def test_a_lead_adds_a_rule_on_one_criterion_and_removes_a_default_one_on_the_gate_page(app_for, demo_db):
    from labelgate import gate
    from labelgate.store.tasks import get_task

    at = app_for("lead")
    at.switch_page("pages/gate.py").run()
    at.selectbox(key="gate_task").select("hanna-stories").run()
    shown = [m.value for m in at.markdown]
    assert any("Krippendorff's alpha of surprise (lower 95% bound)" in m for m in shown), shown
    assert any("number of gold items of relevance" in m for m in shown)   # an unnamed rule reads the first
    add = at.selectbox(key="gate_add_hanna-stories")
    assert "Spearman correlation vs gold (empathy)" in add.options
    add.select("Spearman correlation vs gold (empathy)").run()
    at.button[[b.label for b in at.button].index("Add")].click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Added the rule Spearman correlation vs gold (empathy) (version 1); "
                                             "recorded with your name in the change log below."]
    assert at.number_input(key="gate_thr_hanna-stories_spearman@empathy").value == 0.5
    at.button(key="gate_remove_hanna-stories_alpha@surprise").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    task = get_task(demo_db, "hanna-stories")
    keys = [c.key for c in gate.criteria_for(demo_db, task)]
    assert "alpha@surprise" not in keys and keys[-1] == "spearman@empathy"
    shown = [m.value for m in at.markdown]
    assert any(m.startswith(":red-badge[:material/remove: removed] **Krippendorff's alpha vs gold (surprise)**, a "
                            "default rule, removed by **lead** (lead)") for m in shown), shown
    assert "Krippendorff's alpha vs gold (surprise)" in at.selectbox(key="gate_add_hanna-stories").options
    at.button[[b.label for b in at.button].index("Evaluate")].click().run()
    assert not at.exception
    from tests.pages.test_gate_page import evaluation_table

    table = evaluation_table(at)
    assert "Spearman correlation vs gold (empathy)" in table.index
    assert "Krippendorff's alpha vs gold (surprise)" not in table.index and len(table) == 11
    coherence = table.loc["Krippendorff's alpha vs gold (coherence)"]   # each rule's own evidence
    assert coherence["evidence"].startswith("krippendorff_alpha") and " on 82 items" in coherence["evidence"]
