"""Review page (AppTest): disagreement queues, adjudication, and the experts' own reliability."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from labelgate.gold import load_gold
from labelgate.store.labels import append_human_label
from labelgate.store.tasks import get_task
from tests.synthetic import TASK, make_biased_task

PAGE = "pages/review.py"


def table(at, *columns):
    found = [d.value for d in at.dataframe if set(columns) <= set(map(str, d.value.columns))]
    assert found, f"no table with columns {columns}"
    return found[0]


@pytest.fixture
def biased(app_for, demo_db):
    info = make_biased_task(demo_db)
    at = app_for("engineer", page=PAGE)
    at.selectbox(key="rev_task").set_value(TASK).run()
    assert not at.exception, at.exception
    return at, info


def test_expert_disputes_are_queued_with_both_labels_revealed(biased):
    at, info = biased
    assert at.segmented_control[0].value == "expert vs expert"
    queue = table(at, "item", "experts", "expert labels")
    assert sorted(queue["item"]) == sorted(info["disputed"])
    # the reviewer reads column names, not the store's (item_id, n_experts, shown_order, ...)
    raw = {"item_id", "n_experts", "shown_order", "sample_index", "created_at", "decided_by"}
    assert not [c for d in at.dataframe for c in d.value.columns if c in raw]
    item = at.selectbox(key=f"rev_item_{TASK}").value
    assert item in info["disputed"]
    experts = table(at, "rater", "round", "value").set_index("rater")
    truth = int(info["truth"][item])  # exp-a says the true score, exp-b one point more
    assert experts["value"].astype(int).to_dict() == {"exp-a": truth, "exp-b": truth + 1}
    assert "**Gold:** none — in dispute" in [m.value for m in at.markdown]
    # an empty cell reads "–", not "None", and the time is to the minute (the table once cut it off)
    assert experts["comment"].tolist() == ["–", "–"]
    assert experts["when"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d").all()


def test_adjudication_needs_a_reason_records_who_and_why_and_leaves_expert_labels(biased, demo_db):
    at, info = biased
    item = at.selectbox(key=f"rev_item_{TASK}").value
    expert_sql = "SELECT rater, value FROM human_labels WHERE item_id = ? ORDER BY rater"
    with demo_db.connect() as con:
        before = con.execute(expert_sql, [item]).fetchall()
    at.selectbox(key=f"rev_value_{TASK}_{item}").set_value("3").run()
    at.button(key=f"rev_save_{item}").click().run()
    assert "Not recorded: say why: an adjudication needs a reason" in [e.value for e in at.error]
    at.text_area(key=f"rev_reason_{TASK}_{item}").input("Rubric: a clear plot with one slip is a 3").run()
    at.button(key=f"rev_save_{item}").click().run()
    assert not at.exception
    assert any(f"Recorded the gold of {item} as 3" in s.value for s in at.success)
    with demo_db.connect() as con:
        adj = con.execute("SELECT item_id, value, decided_by, reason FROM adjudications").fetchall()
        after = con.execute(expert_sql, [item]).fetchall()
    assert adj == [(item, "3", "engineer", "Rubric: a clear plot with one slip is a 3")]
    assert after == before  # the experts' own labels are untouched
    gold = load_gold(demo_db, get_task(demo_db, TASK))
    assert gold.n_disputed == len(info["disputed"]) - 1
    row = gold.labels.set_index("item_id").loc[item]
    assert (row["value"], row["source"]) == ("3", "adjudicated")
    # the item left the expert queue
    queue = table(at, "item", "expert labels")
    assert item not in set(queue["item"]) and len(queue) == len(info["disputed"]) - 1


def test_labeler_vs_gold_queue_lists_the_items_the_labeler_gets_wrong(biased):
    at, info = biased
    at.segmented_control[0].set_value("labeler vs gold").run()
    at.selectbox(key="rev_labeler").set_value("Lengthy").run()
    queue = table(at, "item", "Lengthy", "gold")
    assert (queue["Lengthy"] != queue["gold"]).all()
    long_gold = [i for i in info["gold_ids"] if info["long"][i] and i not in info["disputed"]]
    assert len(set(queue["item"]) & set(long_gold)) >= 0.8 * len(long_gold)


def test_human_reliability_alpha_kappa_consensus_and_retest(app_for, demo_db):
    info = make_biased_task(demo_db, experts_in_app=True)
    task = get_task(demo_db, TASK)
    # exp-a answers 10 retests: the same label on 8, another on 2
    for k, item in enumerate(info["gold_ids"][:10]):
        value = int(info["truth"][item]) + (1 if k < 2 else 0)
        append_human_label(demo_db, task_id=task.task_id, item_id=item, rater="exp-a", status="label",
                           value=str(value), value_num=float(value), round=2)
    at = app_for("engineer", page=PAGE)
    at.selectbox(key="rev_task").set_value(TASK).run()
    # first-round labels only: exp-a gives the true score, exp-b one point more on the disputed items
    exp_a = info["truth"][info["gold_ids"]].to_numpy()
    exp_b = exp_a + np.isin(info["gold_ids"], info["disputed"])
    alpha = next(m for m in at.metric if m.label.startswith("Krippendorff"))
    ref = krippendorff.alpha(reliability_data=np.vstack([exp_a, exp_b]).astype(float), level_of_measurement="ordinal")
    assert alpha.value == f"{ref:.3f}"
    kappa = table(at, "expert a", "expert b", "estimate").iloc[0]
    assert kappa["items"] == 240 and kappa["ci_low"] < kappa["estimate"] < kappa["ci_high"]
    assert kappa["estimate"] == pytest.approx(
        cohen_kappa_score(exp_a.astype(str), exp_b.astype(str), weights="quadratic", labels=["1", "2", "3", "4", "5"]),
        abs=1e-9)
    consensus = table(at, "expert", "agreement").set_index("expert")
    assert consensus.loc["exp-a", "items"] == 240 - len(info["disputed"])
    retest = table(at, "retested items", "same label as before").set_index("expert")
    assert retest.loc["exp-a", "retested items"] == 10
    assert retest.loc["exp-a", "same label as before"] == pytest.approx(0.8)
    assert "exp-b" not in retest.index


def test_demo_has_no_app_expert_yet_and_the_imported_majority_is_shown_apart(app_for):
    at = app_for("lead", page=PAGE)
    assert not at.exception
    assert any("No expert disputes are open" in s.value for s in at.success)
    assert any("0 expert(s) labeled this task in the app" in i.value for i in at.info)
    imported = table(at, "rater", "agreement").set_index("rater")
    assert list(imported.index) == ["mt-bench-majority"] and imported.loc["mt-bench-majority", "items"] == 200


def _mt_bench_majority() -> dict[str, str]:
    """The imported MT-Bench majority, read from the demo's own file (the source, not the database)."""
    import csv
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "data" / "demo" / "mtbench_gold.csv"
    with path.open() as f:
        return {r["item_id"]: r["value"] for r in csv.DictReader(f)}


def test_expert_agreement_is_among_the_app_experts_only_and_imported_raters_are_apart(app_for, demo_db):
    """Issue 9: the imported MT-Bench majority (a human rater from a file) is no expert of the app."""
    majority = _mt_bench_majority()
    items = sorted(majority)[:30]
    other = {"1": "2", "2": "1"}
    expert, expert2 = {}, {}
    for k, item in enumerate(items):
        m = majority[item]
        # 0-19 both experts give the majority's label; 20-24 both the other one (gold flips to it,
        # two of three); 25-29 expert alone says the other one (gold stays the majority's)
        expert[item] = m if k < 20 else other[m]
        expert2[item] = other[m] if 20 <= k < 25 else m
    task = get_task(demo_db, "mt-bench")
    for rater, labels in (("expert", expert), ("expert2", expert2)):
        for item, value in labels.items():
            append_human_label(demo_db, task_id=task.task_id, item_id=item, rater=rater, status="label",
                               value=value, value_num=float(value))
    at = app_for("lead", page=PAGE)
    assert not at.exception
    assert any("Imported human labels (a benchmark's majority, an earlier campaign) are not counted as experts"
               in c.value for c in at.caption)
    a = [expert[i] for i in items]
    b = [expert2[i] for i in items]
    alpha = next(m for m in at.metric if m.label.startswith("Krippendorff"))
    ref = krippendorff.alpha(reliability_data=np.array([a, b], dtype=float), level_of_measurement="nominal")
    assert alpha.value == f"{ref:.3f}"
    kappa = table(at, "expert a", "expert b", "estimate")
    assert kappa[["expert a", "expert b", "items"]].values.tolist() == [["expert", "expert2", 30]]
    assert kappa["estimate"].iloc[0] == pytest.approx(cohen_kappa_score(a, b, labels=["1", "2"]), abs=1e-9)
    consensus = table(at, "expert", "agreement").set_index("expert")
    assert list(consensus.index) == ["expert", "expert2"]          # not the imported majority
    assert consensus["items"].tolist() == [30, 30]
    assert consensus["agreement"].tolist() == pytest.approx([25 / 30, 1.0])
    imported = table(at, "rater", "agreement").set_index("rater")
    assert list(imported.index) == ["mt-bench-majority"]
    assert imported.loc["mt-bench-majority", "items"] == 200
    assert imported.loc["mt-bench-majority", "agreement"] == pytest.approx(195 / 200)  # 5 items flipped
    assert any("**Imported human raters** (1;" in m.value for m in at.markdown)


def test_expert_agreement_and_consensus_per_domain_when_the_task_routes_by_domain(app_for, demo_db):
    from labelgate.store.items import item_meta_frame
    from labelgate.store.tasks import set_task_routing

    info = make_biased_task(demo_db, experts_in_app=True)
    task = set_task_routing(demo_db, TASK, domain_column="domain")
    at = app_for("engineer", page=PAGE)
    at.selectbox(key="rev_task").set_value(TASK).run()
    assert not at.exception
    assert any("Per domain" in m.value and "domain" in m.value for m in at.markdown)
    kappa = table(at, "domain", "expert a", "expert b", "estimate")
    consensus = table(at, "domain", "expert", "agreement")
    domain = item_meta_frame(demo_db, task.task_id).set_index("item_id")["domain"]
    gold_ids = pd.Index(info["gold_ids"])
    exp_a = info["truth"][gold_ids]
    exp_b = exp_a + gold_ids.isin(info["disputed"])
    assert sorted(kappa["domain"]) == sorted(domain[gold_ids].unique())
    gold = load_gold(demo_db, task).labels.set_index("item_id")["value"]
    for name, row in kappa.set_index("domain").iterrows():
        ids = gold_ids[(domain[gold_ids] == name).to_numpy()]
        assert row["items"] == len(ids)
        assert row["estimate"] == pytest.approx(cohen_kappa_score(
            exp_a[ids].astype(str), exp_b[ids].astype(str), weights="quadratic", labels=["1", "2", "3", "4", "5"]),
            abs=1e-9)
        assert row["ci_low"] <= row["estimate"] <= row["ci_high"]
        mine = consensus[(consensus["domain"] == name) & (consensus["expert"] == "exp-a")].iloc[0]
        in_gold = ids[ids.isin(gold.index)]
        assert mine["items"] == len(in_gold)
        assert mine["agreement"] == pytest.approx((gold[in_gold].astype(int) == exp_a[in_gold].astype(int)).mean())


def test_expert_alpha_from_a_few_shared_items_is_not_evaluable_yet(app_for, demo_db):
    """Two experts sharing 2 items get no headline alpha (the gate judges it from 30 shared items)."""
    task = get_task(demo_db, "mt-bench")
    items = sorted(_mt_bench_majority())[:2]
    for rater, values in (("expert", ["1", "2"]), ("expert2", ["2", "1"])):
        for item, value in zip(items, values, strict=True):
            append_human_label(demo_db, task_id=task.task_id, item_id=item, rater=rater, status="label",
                               value=value, value_num=float(value))
    at = app_for("lead", page=PAGE)
    assert not at.exception
    alpha = next(m for m in at.metric if m.label.startswith("Krippendorff"))
    assert alpha.value == "not evaluable yet"
    assert any("The experts share 2 items so far; agreement counts from 30 shared items" in c.value
               for c in at.caption)
