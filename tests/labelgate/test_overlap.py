"""Sharing the calibration set out among experts: an overlap every expert labels first, slots
that concurrent experts never overfill, and imported labels that take no expert's slot.

Most tests lower OVERLAP_MIN_ITEMS to a few items so that a small set exercises both parts of
the set (shared and spread) without hundreds of answers; one test keeps the real minimum."""

from __future__ import annotations

import shutil
import threading

import pytest

from labelgate import labeling
from labelgate.labeling import draw_calibration_set, next_item, submit_answer
from labelgate.store import Database
from labelgate.store.items import current_set
from labelgate.store.labels import SlotTakenError, coverage, human_labels
from labelgate.store.tasks import get_task, revise_task


@pytest.fixture
def small_minimum(monkeypatch):
    monkeypatch.setattr(labeling, "OVERLAP_MIN_ITEMS", 4)


def label_all(db, task, rater, *, limit=1000) -> list[str]:
    """`rater` answers '1' to everything the queue gives, in order; the items served."""
    served = []
    for _ in range(limit):
        item = next_item(db, task, rater, retest_share=0)
        if item is None:
            return served
        served.append(item.item_id)
        submit_answer(db, task, rater, item, answer="1")
    raise AssertionError("the queue never ran dry")


def answer_next(db, task, rater, value="1") -> str:
    item = next_item(db, task, rater, retest_share=0)
    submit_answer(db, task, rater, item, answer=value)
    return item.item_id


def app_labels_per_item(db, task) -> dict[str, int]:
    rows = human_labels(db, task.task_id)
    rows = rows[(rows["source"] == "app") & (rows["status"] == "label") & (rows["round"] == 1)]
    return rows.groupby("item_id")["rater"].nunique().to_dict()


def draw(db, **options):
    draw_calibration_set(db, get_task(db, "mt-bench"), seed=0, **options)
    task = get_task(db, "mt-bench")
    return task, current_set(db, task.task_id, "calibration")


def test_every_expert_first_labels_the_shared_share_then_the_rest_is_spread(demo_db, small_minimum):
    task, order = draw(demo_db, size=20, experts_per_item=2, overlap_share=0.3)
    assert task.overlap_share == 0.3
    shared = order[:6]  # 30% of 20, more than the minimum
    ann = label_all(demo_db, task, "ann")
    assert ann == order  # shared first, then the rest, in draw order
    bob = [answer_next(demo_db, task, "bob") for _ in range(7)]
    cat = [answer_next(demo_db, task, "cat") for _ in range(7)]
    assert bob[:6] == cat[:6] == shared
    # past the shared part, each item goes to 2 experts: ann and bob have order[6], so cat gets order[7]
    assert (bob[6], cat[6]) == (order[6], order[7])
    counts = app_labels_per_item(demo_db, task)
    assert [counts[i] for i in order[:8]] == [3] * 6 + [2, 2]
    # the demo's imported MT-Bench majority is on every item, and fills no slot
    rows = human_labels(demo_db, task.task_id)
    assert set(order) <= set(rows.loc[rows["source"] == "import", "item_id"])
    assert coverage(demo_db, task.task_id, 2)["complete"] == 8


def test_the_shared_part_is_at_least_30_items_and_settable_per_task(demo_db):
    task, order = draw(demo_db, size=31, experts_per_item=1, overlap_share=0.0)
    assert labeling.OVERLAP_MIN_ITEMS == 30
    assert label_all(demo_db, task, "ann") == order
    first = next_item(demo_db, task, "bob", retest_share=0)
    assert (first.item_id, first.total) == (order[0], 30)  # 0% still shares the minimum; order[30] is ann's
    task = revise_task(demo_db, "mt-bench", overlap_share=1.0, created_by="lead")
    assert next_item(demo_db, task, "bob", retest_share=0).total == 31  # now the whole set is shared
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="share every expert labels must lie between 0 and 1"):
            revise_task(demo_db, "mt-bench", overlap_share=bad)


def test_an_item_shown_holds_its_slot_and_a_late_answer_is_refused(demo_db, small_minimum):
    task, order = draw(demo_db, size=6, experts_per_item=2, overlap_share=0.0)  # 4 shared, 2 spread
    label_all(demo_db, task, "ann")
    for _ in range(4):
        answer_next(demo_db, task, "cat")
    held = next_item(demo_db, task, "cat", retest_share=0)
    assert held.item_id == order[4]  # cat now holds a slot on it: ann and cat fill its two
    assert next_item(demo_db, task, "cat", retest_share=0).item_id == order[4]  # a reload: the same item
    for _ in range(4):
        answer_next(demo_db, task, "dan")
    assert answer_next(demo_db, task, "dan") == order[5]
    assert next_item(demo_db, task, "dan", retest_share=0) is None  # order[4]: ann's label and cat's slot
    # cat leaves the item open past its slot time: dan may take it, answers, and cat's late answer is refused
    with demo_db.transaction() as con:
        con.execute("UPDATE label_slots SET reserved_at = now() - INTERVAL 2 HOUR WHERE rater = 'cat'")
    assert answer_next(demo_db, task, "dan") == order[4]
    with pytest.raises(SlotTakenError, match=f"item {order[4]} already has its 2 experts"):
        submit_answer(demo_db, task, "cat", held, answer="1")
    assert app_labels_per_item(demo_db, task)[order[4]] == 2


def test_concurrent_experts_never_push_an_item_past_experts_per_item(tmp_path, demo_template, small_minimum):
    """Threads of one process, as Streamlit serves its sessions, each with its own Database
    handle on the real file, label as fast as they can at the same time."""
    path = tmp_path / "race.duckdb"
    shutil.copy(demo_template, path)
    setup = Database(path)
    task, order = draw(setup, size=24, experts_per_item=2, overlap_share=0.0)  # 4 shared, 20 spread
    experts = 5
    start = threading.Barrier(experts)
    served: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def work(rater: str) -> None:
        db = Database(path, linger=0.05)
        try:
            start.wait()
            served[rater] = label_all(db, task, rater)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"expert{i}",)) for i in range(experts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    counts = app_labels_per_item(setup, task)
    assert [counts[i] for i in order[:4]] == [experts] * 4
    assert [counts[i] for i in order[4:]] == [2] * 20  # never 3, and every item complete
    assert sum(len(v) for v in served.values()) == experts * 4 + 2 * 20
    assert all(len(v) >= 4 for v in served.values())


def test_the_one_item_check_under_the_lock_agrees_with_the_whole_queue_on_every_item(demo_db, small_minimum):
    """At an answer and at a reservation the task's lock is held while one item is checked (_ITEM_ROOM);
    the queue itself is picked from the whole task (_SLOTS). On a state with answers, skips, an undo, an
    imported label, live, expired and answered slots and a review draw, both say the same of every item
    for every expert: shared, slots others fill or hold, own live slot, answered, open."""
    import pandas as pd

    from labelgate.store import labels as store
    from labelgate.store.review_sets import record_draw

    task, order = draw(demo_db, size=12, experts_per_item=2, overlap_share=0.25)
    raters = ["ann", "bob", "cy", "dee"]
    for rater in raters:   # each a few answers: the shared items, then spread ones
        for _ in range(4 if rater != "dee" else 1):
            answer_next(demo_db, task, rater)
    item = next_item(demo_db, task, "bob", retest_share=0)
    submit_answer(demo_db, task, "bob", item, status="skip")
    store.undo_last_answer(demo_db, task.task_id, "cy")                  # cy's last answer undone: held again
    next_item(demo_db, task, "ann", retest_share=0)                      # ann holds a live slot, unanswered
    with demo_db.connect() as con:   # dee's slot on a spread item expired; an imported label by ann
        con.execute("INSERT INTO label_slots (task_id, item_id, rater, reserved_at) VALUES (?, ?, 'dee',"
                    " now() - INTERVAL 2 HOUR)", [task.task_id, order[-1]])
        con.execute("INSERT INTO human_label_rows (task_id, item_id, rater, status, value, source, criterion)"
                    " VALUES (?, ?, 'ann', 'label', '1', 'import', 'label')", [task.task_id, order[-2]])
    outside = [i for i in (f"mtb-{k:03d}" for k in range(200)) if i not in order][:3]
    record_draw(demo_db, task_id=task.task_id, labeler="GPT-4", labeler_version="v", batch=None, strategy="s",
                pool_size=10, seed=0, floor=0.0, gold_name="g", details={}, created_by="lead",
                items=pd.DataFrame({"item_id": [order[0], *outside], "score": 0.0, "probability": 1.0,
                                    "reason": "r", "llm_value": "1", "llm_value_num": 1.0}))
    policy = labeling.slot_policy(get_task(demo_db, "mt-bench"))
    whole = "WITH" + store._SLOTS + """
        SELECT m.item_id, m.shared, coalesce(o.k, 0), h.reserved_at IS NOT NULL,
               m.item_id IN (SELECT item_id FROM mine), m.item_id IN (SELECT item_id FROM open)
        FROM members m LEFT JOIN others o USING (item_id) LEFT JOIN held h USING (item_id)"""
    checked = 0
    with demo_db.connect() as con:
        for rater in [*raters, "eve"]:
            rows = con.execute(whole, store._slot_params(task.task_id, rater, policy)).fetchall()
            assert len(rows) == 12 + 3
            for item_id, *facts, is_open in rows:
                room = store._item_room(con, task.task_id, item_id, rater, policy)
                assert (item_id, rater, room) == (item_id, rater, tuple(facts))
                assert store._open_to(room, policy) == is_open, (item_id, rater)
                checked += 1
            assert store._item_room(con, task.task_id, "mtb-199-not-in-a-set", rater, policy) is None
    assert checked == 5 * 15


def test_an_answer_takes_the_next_item_in_its_own_hold_and_the_queue_order_is_unchanged(tmp_path, demo_db,
                                                                                         small_minimum):
    """The answer's hold of the task's lock also takes a slot on the item the queue gives next (so the next
    snapshot does not wait for the lock again): that slot is in the database as soon as the answer returns,
    and two experts taking turns are served exactly the items they are served without it."""
    task, _order = draw(demo_db, size=12, experts_per_item=2, overlap_share=0.25)
    copy = Database(tmp_path / "copy.duckdb")
    demo_db.close()
    shutil.copy(demo_db.path, copy.path)

    taken_with_answer = []

    def serve(db, take_next: bool) -> list[tuple[str, str]]:
        served = []
        for _ in range(7):
            for rater in ("ann", "bob"):
                item = next_item(db, task, rater, retest_share=0)
                if item is None:
                    continue
                served.append((rater, item.item_id))
                submit_answer(db, task, rater, item, answer="1", take_next=take_next)
                if take_next and item.after is not None:
                    with db.connect() as con:
                        live = con.execute("SELECT count(*) FROM label_slots WHERE task_id = ? AND rater = ?"
                                           " AND item_id = ?", [task.task_id, rater, item.after]).fetchone()[0]
                    assert live == 1, (rater, item.after)
                    taken_with_answer.append(item.after)
        return served

    with_next, without = serve(demo_db, True), serve(copy, False)
    assert with_next == without
    assert len(with_next) == 14
    assert len(taken_with_answer) >= 10   # all but the last few answers took the next item with them
