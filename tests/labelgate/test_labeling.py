"""The expert queue: blind, never the same item twice, overlap by design, resumable."""

from __future__ import annotations

import pytest

from labelgate.labeling import draw_calibration_set, next_item, shown_order, submit_answer, to_original_answer
from labelgate.store.labels import human_labels
from labelgate.store.tasks import get_task


def test_draw_is_reproducible_and_stratified(demo_db):
    task = get_task(demo_db, "mt-bench")
    a = draw_calibration_set(demo_db, task, size=40, stratify_by="longer_output", seed=7)
    b = draw_calibration_set(demo_db, task, size=40, stratify_by="longer_output", seed=7)
    c = draw_calibration_set(demo_db, task, size=40, stratify_by="longer_output", seed=8)
    assert a == b and a != c and len(set(a)) == 40
    from labelgate.store.items import item_meta_frame

    meta = item_meta_frame(demo_db, task.task_id).set_index("item_id")
    share_all = (meta["longer_output"] == "1").mean()
    share_drawn = (meta.loc[a, "longer_output"] == "1").mean()
    assert abs(share_drawn - share_all) <= 1 / 40 + 1e-9  # proportional allocation


def test_unknown_stratify_column_names_the_choices(demo_db):
    task = get_task(demo_db, "mt-bench")
    with pytest.raises(ValueError, match="no metadata column 'domain'.*length_gap"):
        draw_calibration_set(demo_db, task, size=10, stratify_by="domain")


def test_a_small_set_goes_to_every_expert_and_imported_labels_take_no_slot(demo_db):
    """A set smaller than OVERLAP_MIN_ITEMS is shared whole; the demo's imported MT-Bench
    majority (a human rater on every item) fills none of the experts' slots."""
    task = get_task(demo_db, "mt-bench")
    draw_calibration_set(demo_db, task, size=6, seed=1, experts_per_item=2)
    task = get_task(demo_db, "mt-bench")
    seen = {"ann": [], "bob": [], "cat": []}
    for _ in range(6):
        for rater in seen:
            item = next_item(demo_db, task, rater)
            seen[rater].append(item.item_id)
            submit_answer(demo_db, task, rater, item, answer="1")
    assert all(next_item(demo_db, task, rater) is None for rater in seen)
    assert seen["ann"] == seen["bob"] == seen["cat"] and len(set(seen["ann"])) == 6  # same items, same order


def test_progress_and_resume_after_a_new_session(demo_db):
    task = get_task(demo_db, "mt-bench")
    draw_calibration_set(demo_db, task, size=5, seed=2)
    first = next_item(demo_db, task, "ann")
    assert (first.done, first.total) == (0, 5)
    submit_answer(demo_db, task, "ann", first, status="skip")
    second = next_item(demo_db, task, "ann")  # as after a reload: state comes from the database only
    assert second.item_id != first.item_id and (second.done, second.total) == (1, 5)
    submit_answer(demo_db, task, "ann", second, status="flag", comment="  two outputs identical ")
    with demo_db.connect() as con:
        rows = con.execute("SELECT item_id, status, value, comment FROM human_labels WHERE rater = 'ann'"
                           " ORDER BY label_id").fetchall()
    assert rows == [(first.item_id, "skip", None, None), (second.item_id, "flag", None, "two outputs identical")]


def test_pairwise_answers_are_stored_in_the_original_numbering(demo_db):
    task = get_task(demo_db, "mt-bench")
    draw_calibration_set(demo_db, task, size=20, seed=3)
    stored = []
    for _ in range(20):
        item = next_item(demo_db, task, "ann")
        submit_answer(demo_db, task, "ann", item, answer="1")  # always the output shown first
        stored.append((item.shown_order, "1" if item.shown_order == "12" else "2"))
    rows = human_labels(demo_db, task.task_id, rater="ann")
    assert list(zip(rows["shown_order"], rows["value"], strict=True)) == stored
    assert {o for o, _ in stored} == {"12", "21"}  # both orders occur


def test_shown_order_is_stable_per_expert_and_item():
    assert shown_order("ann", "x1") == shown_order("ann", "x1")
    orders = {shown_order(f"rater{i}", "x1") for i in range(20)}
    assert orders == {"12", "21"}
    assert to_original_answer("1", "21") == "2" and to_original_answer("tie", "21") == "tie"


def test_invalid_answers_are_refused(demo_db):
    task = get_task(demo_db, "mt-bench")
    item = next_item(demo_db, task, "ann")
    with pytest.raises(ValueError, match="expected one of 1, 2"):
        submit_answer(demo_db, task, "ann", item, answer="tie")  # the demo task has no tie
    assert human_labels(demo_db, task.task_id, rater="ann").empty


def test_undo_keeps_both_rows_and_the_answer_given_again_is_the_one_that_counts(demo_db):
    from labelgate.labeling import queue, undo_last_answer
    from labelgate.store.gold import expert_labels
    from labelgate.store.labels import NothingToUndoError

    task = get_task(demo_db, "mt-bench")
    draw_calibration_set(demo_db, task, size=5, seed=2)
    assert queue(demo_db, task, "ann").can_undo is False
    first = next_item(demo_db, task, "ann")
    submit_answer(demo_db, task, "ann", first, answer="1")
    submit_answer(demo_db, task, "bob", next_item(demo_db, task, "bob"), answer="1")
    assert queue(demo_db, task, "ann").can_undo is True
    assert undo_last_answer(demo_db, task, "ann") == first.item_id
    again = queue(demo_db, task, "ann")
    assert again.item.item_id == first.item_id and again.can_undo is False  # back first; one step only
    assert next_item(demo_db, task, "ann").item_id == first.item_id  # a reload shows it again too
    with pytest.raises(NothingToUndoError):
        undo_last_answer(demo_db, task, "ann")
    assert human_labels(demo_db, task.task_id, rater="ann").empty  # no current answer meanwhile
    submit_answer(demo_db, task, "ann", again.item, answer="2")
    current = human_labels(demo_db, task.task_id, rater="ann")
    assert list(current["value"]) == [to_original_answer("2", first.shown_order)]
    with demo_db.connect() as con:
        chain = con.execute("SELECT revision, status, value FROM human_label_rows WHERE rater = 'ann'"
                            " ORDER BY label_id").fetchall()
    assert [(r, s) for r, s, _ in chain] == [(1, "label"), (2, "undo"), (3, "label")]  # every row kept
    # gold is derived from the latest answer only
    experts = expert_labels(demo_db, task.task_id)
    assert list(experts.loc[experts["rater"] == "ann", "value"]) == [to_original_answer("2", first.shown_order)]
    assert next_item(demo_db, task, "ann").item_id != first.item_id
