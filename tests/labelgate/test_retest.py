"""Test-retest: a share of each expert's items comes back to them, blind, after a delay."""

from __future__ import annotations

import pandas as pd

from labelgate.labeling import (
    RETEST_AFTER_ITEMS,
    draw_calibration_set,
    due_retest,
    next_item,
    picked_for_retest,
    submit_answer,
)
from labelgate.store.labels import human_labels
from labelgate.store.tasks import get_task


def test_retests_come_back_after_20_more_answers_blind_and_are_stored_as_round_2(demo_db):
    task = get_task(demo_db, "mt-bench")
    draw_calibration_set(demo_db, task, size=80, seed=4)
    served = []
    for _ in range(90):
        item = next_item(demo_db, task, "ann")
        if item is None:
            break
        served.append((item.item_id, item.round, item.shown_order))
        submit_answer(demo_db, task, "ann", item, answer="1")
    firsts = [i for i, r, _ in served if r == 1]
    retests = [(i, o) for i, r, o in served if r == 2]
    assert len(firsts) == 80 and len(set(firsts)) == 80
    picked = [i for i in firsts if picked_for_retest("ann", i, 0.10)]
    assert 2 <= len(picked) <= 20
    # every picked item labeled early enough came back exactly once, and nothing else did
    due = [i for i in picked if len(firsts) - 1 - firsts.index(i) >= RETEST_AFTER_ITEMS]
    assert sorted(i for i, _ in retests) == sorted(due)
    order = [i for i, _, _ in served]
    for item_id, shown in retests:
        first_at, again_at = order.index(item_id), len(order) - 1 - order[::-1].index(item_id)
        answers_between = sum(1 for i, r, _ in served[first_at + 1:again_at] if r == 1)
        assert answers_between >= RETEST_AFTER_ITEMS
        assert shown == next(o for i, r, o in served if i == item_id and r == 1)  # shown as before
    rows = human_labels(demo_db, task.task_id, rater="ann")
    assert sorted(rows.loc[rows["round"] == 2, "item_id"]) == sorted(i for i, _ in retests)
    assert (rows.groupby(["item_id", "round"]).size() == 1).all()


def test_due_retest_by_elapsed_time_and_never_twice():
    now = pd.Timestamp("2026-01-02 12:00", tz="UTC")
    item = next(f"x{i}" for i in range(1000) if picked_for_retest("bob", f"x{i}", 0.1))
    history = pd.DataFrame({"item_id": [item], "round": [1], "created_at": [now - pd.Timedelta(hours=1)]})
    assert due_retest(history, "bob", now=now) is None  # too recent, and no answers since
    assert due_retest(history, "bob", now=now + pd.Timedelta(hours=24)) == item
    again = pd.concat([history, pd.DataFrame({"item_id": [item], "round": [2], "created_at": [now]})])
    assert due_retest(again, "bob", now=now + pd.Timedelta(days=9)) is None
    assert due_retest(history, "bob", share=0.0, now=now + pd.Timedelta(days=9)) is None


def test_a_skipped_or_flagged_retest_is_not_asked_again(demo_db):
    """Before the fix a round-2 skip kept the item due, and every later answer was refused."""
    task = get_task(demo_db, "mt-bench")
    draw_calibration_set(demo_db, task, size=80, seed=4)
    statuses = iter(["skip", "flag"])
    served = []
    for _ in range(90):
        item = next_item(demo_db, task, "ann")
        if item is None:
            break
        served.append((item.item_id, item.round))
        status = next(statuses, "label") if item.round == 2 else "label"
        submit_answer(demo_db, task, "ann", item, status=status, answer="1" if status == "label" else None)
    retests = [i for i, r in served if r == 2]
    assert len(retests) >= 2 and len(set(retests)) == len(retests)  # each came back once, then moved on
    assert len({i for i, r in served if r == 1}) == 80  # and the expert finished the whole set
    rows = human_labels(demo_db, task.task_id, rater="ann")
    assert list(rows.loc[rows["round"] == 2, "status"][:2]) == ["skip", "flag"]
