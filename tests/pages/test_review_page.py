"""Review page (AppTest): disagreement queues, adjudication, and the experts' own reliability."""

from __future__ import annotations

import pytest

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
    queue = table(at, "item_id", "expert labels")
    assert sorted(queue["item_id"]) == sorted(info["disputed"])
    item = at.selectbox(key=f"rev_item_{TASK}").value
    experts = table(at, "rater", "round", "value")
    assert sorted(experts["rater"]) == ["exp-a", "exp-b"] and experts["value"].nunique() == 2
    assert any("in dispute" in m.value for m in at.markdown)
    assert item in info["disputed"]


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
    queue = table(at, "item_id", "expert labels")
    assert item not in set(queue["item_id"]) and len(queue) == len(info["disputed"]) - 1


def test_labeler_vs_gold_queue_lists_the_items_the_labeler_gets_wrong(biased):
    at, info = biased
    at.segmented_control[0].set_value("labeler vs gold").run()
    at.selectbox(key="rev_labeler").set_value("Lengthy").run()
    queue = table(at, "item_id", "Lengthy", "gold")
    assert (queue["Lengthy"] != queue["gold"]).all()
    long_gold = [i for i in info["gold_ids"] if info["long"][i] and i not in info["disputed"]]
    assert len(set(queue["item_id"]) & set(long_gold)) >= 0.8 * len(long_gold)


def test_human_reliability_alpha_kappa_consensus_and_retest(app_for, demo_db):
    info = make_biased_task(demo_db)
    task = get_task(demo_db, TASK)
    # exp-a answers 10 retests: the same label on 8, another on 2
    for k, item in enumerate(info["gold_ids"][:10]):
        value = int(info["truth"][item]) + (1 if k < 2 else 0)
        append_human_label(demo_db, task_id=task.task_id, item_id=item, rater="exp-a", status="label",
                           value=str(value), value_num=float(value), round=2)
    at = app_for("engineer", page=PAGE)
    at.selectbox(key="rev_task").set_value(TASK).run()
    alpha = next(m for m in at.metric if m.label.startswith("Krippendorff"))
    assert 0.9 < float(alpha.value) < 1.0
    kappa = table(at, "expert a", "expert b", "estimate")
    assert kappa.iloc[0]["items"] == 240 and kappa.iloc[0]["ci_low"] < kappa.iloc[0]["estimate"] < 1
    consensus = table(at, "expert", "agreement").set_index("expert")
    assert consensus.loc["exp-a", "items"] == 240 - len(info["disputed"])
    retest = table(at, "retested items", "same label as before").set_index("expert")
    assert retest.loc["exp-a", "retested items"] == 10
    assert retest.loc["exp-a", "same label as before"] == pytest.approx(0.8)
    assert "exp-b" not in retest.index


def test_demo_has_one_gold_rater_and_says_so(app_for):
    at = app_for("lead", page=PAGE)
    assert not at.exception
    assert any("No expert disputes are open" in s.value for s in at.success)
    assert any("1 expert(s) labeled this task" in i.value for i in at.info)
