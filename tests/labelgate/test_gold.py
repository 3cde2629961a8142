"""Gold: adjudicated, else the experts' agreed label; disputes left out and counted."""

from __future__ import annotations

import pandas as pd

from labelgate.gold import derive_gold, load_gold
from labelgate.store import gold as gold_store
from labelgate.store.tasks import create_task, get_task
from labelgate.tasks import make_spec


def experts(rows):
    return pd.DataFrame(rows, columns=["item_id", "rater", "value", "value_num"])


def test_agreed_disputed_and_adjudicated(db):
    task = create_task(db, "t", "categorical", make_spec("categorical", labels=["a", "b", "c"]))
    e = experts([("i1", "x", "a", None), ("i1", "y", "a", None),          # agreed
                 ("i2", "x", "a", None), ("i2", "y", "b", None),          # dispute
                 ("i3", "x", "a", None), ("i3", "y", "b", None), ("i3", "z", "b", None),  # majority b
                 ("i4", "x", "c", None), ("i4", "y", "b", None)])         # dispute, adjudicated below
    adj = pd.DataFrame({"item_id": ["i4"], "value": ["c"], "value_num": [None]})
    gold = derive_gold(task, e, adj)
    got = gold.labels.set_index("item_id")[["value", "source"]].to_dict("index")
    assert got == {"i1": {"value": "a", "source": "agreed"}, "i3": {"value": "b", "source": "agreed"},
                   "i4": {"value": "c", "source": "adjudicated"}}
    assert list(gold.disputed["item_id"]) == ["i2"] and gold.disputed["values"].iloc[0] == "a, b"
    assert (gold.n_items, gold.n_disputed) == (3, 1)


def test_continuous_agreement_within_tolerance():
    from labelgate.tasks import Task

    task = Task(1, "c", "continuous", {"range": [0.0, 1.0]})
    e = experts([("i1", "x", "0.50", 0.50), ("i1", "y", "0.56", 0.56),
                 ("i2", "x", "0.1", 0.1), ("i2", "y", "0.9", 0.9)])
    gold = derive_gold(task, e, pd.DataFrame(columns=["item_id", "value", "value_num"]))
    assert list(gold.labels["item_id"]) == ["i1"] and abs(gold.labels["value_num"].iloc[0] - 0.53) < 1e-9
    assert list(gold.disputed["item_id"]) == ["i2"]


def test_latest_adjudication_wins_changes_the_version_and_retest_rounds_are_ignored(db):
    from labelgate.store.labels import append_human_label

    create_task(db, "t", "categorical", make_spec("categorical", labels=["a", "b"]))
    task = get_task(db, "t")
    for rater, value in (("x", "a"), ("y", "b")):
        append_human_label(db, task_id=task.task_id, item_id="i1", rater=rater, status="label", value=value)
    append_human_label(db, task_id=task.task_id, item_id="i1", rater="y", status="label", value="a", round=2)
    g0 = load_gold(db, task)
    assert g0.n_items == 0 and g0.n_disputed == 1  # the retest answer does not settle the dispute
    gold_store.append_adjudication(db, task.task_id, "i1", "a", None, decided_by="lead", reason="rubric 2")
    g1 = load_gold(db, task)
    gold_store.append_adjudication(db, task.task_id, "i1", "b", None, decided_by="lead", reason="second look")
    g2 = load_gold(db, task)
    assert g1.labels["value"].tolist() == ["a"] and g2.labels["value"].tolist() == ["b"]
    assert len({g0.version, g1.version, g2.version}) == 3
    with db.connect() as con:
        assert con.execute("SELECT count(*) FROM adjudications").fetchall() == [(2,)]  # appended, not replaced


def test_an_item_flagged_as_ambiguous_is_disputed_until_adjudicated():
    import pandas as pd

    from labelgate.gold import derive_gold
    from labelgate.tasks import Task, make_spec

    task = Task(1, "t", "categorical", make_spec("categorical", labels=["a", "b"]))
    experts = pd.DataFrame({"item_id": ["i1", "i2"], "rater": ["x", "x"], "value": ["a", "b"],
                            "value_num": [None, None]})
    no_adj = pd.DataFrame(columns=["item_id", "value", "value_num"])
    gold = derive_gold(task, experts, no_adj, flagged=["i1", "i3"])  # y flagged i1; z flagged an unlabeled i3
    assert list(gold.labels["item_id"]) == ["i2"]
    assert list(gold.disputed["item_id"]) == ["i1", "i3"]
    assert list(gold.disputed["values"]) == ["a, flagged as ambiguous", "flagged as ambiguous"]
    adj = pd.DataFrame({"item_id": ["i1"], "value": ["b"], "value_num": [None]})
    settled = derive_gold(task, experts, adj, flagged=["i1", "i3"])
    assert dict(zip(settled.labels["item_id"], settled.labels["value"], strict=True)) == {"i1": "b", "i2": "b"}
    assert list(settled.disputed["item_id"]) == ["i3"]
