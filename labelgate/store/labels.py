"""Human and LLM labels: appended, never updated or deleted."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from labelgate.store.db import Database, fetch_one
from labelgate.tasks import DEFAULT_CRITERION

LLM_LABEL_COLUMNS = (
    "task_id",
    "item_id",
    "labeler",
    "version",
    "batch",
    "sample_index",
    "shown_order",
    "value",
    "value_num",
    "confidence",
    "source",
    "import_id",
    "criterion",
    "rationale",
)


def append_llm_labels(db: Database, labels: pd.DataFrame, *, con=None) -> int:
    """Bulk-append LLM labels (columns LLM_LABEL_COLUMNS; missing optional ones become NULL).

    Goes through a DataFrame scan, not executemany: millions of rows a second. Pass `con` to
    join a transaction the caller holds. Every row names its `criterion` (a frame without that column
    is about the task's one criterion, 'label'; a NULL in it is refused by the table).
    """
    if "criterion" not in labels.columns:
        labels = labels.assign(criterion=DEFAULT_CRITERION)
    frame = pa.Table.from_pandas(labels.reindex(columns=list(LLM_LABEL_COLUMNS)), preserve_index=False)
    cols = ", ".join(LLM_LABEL_COLUMNS)
    sql = (
        f"INSERT INTO llm_labels ({cols}) SELECT task_id::INTEGER, item_id::VARCHAR, labeler::VARCHAR,"
        " version::VARCHAR, batch::VARCHAR, coalesce(sample_index, 0)::INTEGER, shown_order::VARCHAR,"
        " value::VARCHAR, value_num::DOUBLE, confidence::DOUBLE, source::VARCHAR, import_id::INTEGER,"
        " criterion::VARCHAR, rationale::VARCHAR FROM frame"
    )
    if con is not None:
        con.register("frame", frame)
        con.execute(sql)
        con.unregister("frame")
        return len(frame)
    with db.transaction() as own:
        own.register("frame", frame)
        own.execute(sql)
    return len(frame)


class DuplicateLabelError(ValueError):
    """The rater already answered this item in this round."""


class SlotTakenError(ValueError):
    """The item got its experts-per-item experts while this rater had it open without a slot."""


class NotRoutedError(SlotTakenError):
    """Routing by expertise no longer gives the item to this rater (their tags, the item's domain or the
    task's routing changed after it was shown); nothing was stored and their slot on it is given up."""


class NothingToUndoError(ValueError):
    """The rater has no answer to undo (none yet, or the last one was undone already)."""


@dataclass(frozen=True)
class SlotPolicy:
    """How the calibration set is shared out (see labelgate.labeling, which sets the numbers).

    The first `overlap_share` of the set in draw order (at least `overlap_min` items) goes to
    every expert; every other item to `experts_per_item` experts. Only answers given in the app
    fill a slot: imported human labels (a benchmark's majority, an earlier campaign) never do.
    An item shown to an expert holds a slot for `slot_minutes`.
    """

    experts_per_item: int
    overlap_share: float
    overlap_min: int
    slot_minutes: float


# Every unit of work that takes or fills a slot first bumps its task's turn row: two that run
# at once conflict there, and the loser is retried on the state the winner left. A plain UPDATE (the row
# is inserted once, by the first unit of work of the task): DuckDB's INSERT ... ON CONFLICT DO UPDATE
# costs ~6 ms where the UPDATE costs ~1, and this runs under the task's lock at every answer.
_BUMP_TURN = "UPDATE label_slot_turns SET turn = turn + 1 WHERE task_id = ?"
_FIRST_TURN = "INSERT INTO label_slot_turns (task_id, turn) VALUES (?, 1)"
_TURN_ATTEMPTS = 200


# Within a process the units of work on one task's slots also queue on a lock: only one process has
# the file open at a time (labelgate.store.turns), so the threads of the app's sessions are the only
# ones that can conflict, and 20 of them retrying on one hot row under a starved CPU ran out of
# attempts ("Conflict on update!" shown to an expert). The retry stays for anything else.
_task_locks: dict[tuple[str, int], threading.RLock] = {}
_task_locks_guard = threading.Lock()


def _task_lock(db: Database, task_id: int) -> threading.RLock:
    key = (str(Path(db.path).resolve()), task_id)
    with _task_locks_guard:
        return _task_locks.setdefault(key, threading.RLock())


def _in_turn(db: Database, task_id: int, work: Callable, *, first: Callable | None = None):
    """Run `work(con)` in a transaction that holds the task's turn; retried on a conflict.

    With `first`, the lock's holder first runs `first(con)`: one statement, committed on its own, that does
    the common case whole (store an answer whose checks pass, take a slot still open) and returns None when
    it did nothing; only then does `work` run, in its transaction, to find out why (and raise it) or do it.
    Under the lock each statement is a wait for the GIL among the other sessions' threads, so the common
    case costs one such wait instead of five to nine.
    """
    import duckdb

    with _task_lock(db, task_id):
        if first is not None:
            try:
                with db.connect() as con:
                    result = first(con)
            except (duckdb.TransactionException, duckdb.ConstraintException):
                result = None   # work() meets the same state in its transaction and says what it is
            if result is not None:
                return result
        for attempt in range(_TURN_ATTEMPTS):
            try:
                with db.transaction() as con:
                    if fetch_one(con, _BUMP_TURN, [task_id])[0] == 0:
                        con.execute(_FIRST_TURN, [task_id])
                    return work(con)
            except (duckdb.TransactionException, duckdb.ConstraintException) as exc:
                # a conflict, or a row another unit of work inserted first: retry on the new state
                retry = isinstance(exc, duckdb.TransactionException) or "Duplicate key" in str(exc)
                if not retry or attempt == _TURN_ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0.001, 0.01) * min(attempt + 1, 10))
    raise AssertionError("unreachable")


# The calibration set (then the review draws) with each item's share of slots, from the point of view of one rater.
_SLOTS = """
    calibration AS (
        SELECT item_id, position,
               row_number() OVER (ORDER BY position) <= greatest($overlap_min, ceil($share * count(*) OVER ()))
                   AS shared
        FROM item_set_members
        WHERE draw_id = (SELECT max(draw_id) FROM item_set_draws WHERE task_id = $task AND set_name = 'calibration')),
    members AS (  -- the calibration set, then the targeted review draws (oldest first), never shared
        SELECT * FROM calibration
        UNION ALL
        SELECT ri.item_id, 1000000000 + 100000 * rd.draw_id + ri.position, false
        FROM review_draw_items ri JOIN review_draws rd USING (draw_id)
        WHERE rd.task_id = $task AND ri.item_id NOT IN (SELECT item_id FROM calibration)
        QUALIFY row_number() OVER (PARTITION BY ri.item_id ORDER BY rd.draw_id) = 1),
    answered AS (SELECT item_id, rater, status, source FROM human_answers WHERE task_id = $task AND round = 1),
    live AS (SELECT item_id, rater, reserved_at FROM label_slots
             WHERE task_id = $task AND reserved_at > now() - to_seconds(60 * $slot_minutes::DOUBLE)),
    holders AS (  -- who fills or holds a slot: a label given in the app, or a live slot not yet answered
        SELECT item_id, rater FROM answered WHERE status = 'label' AND source = 'app'
        UNION
        SELECT item_id, rater FROM live ANTI JOIN answered USING (item_id, rater)),
    others AS (SELECT item_id, count(*) AS k FROM holders WHERE rater <> $rater GROUP BY item_id),
    mine AS (SELECT item_id FROM answered WHERE rater = $rater),
    held AS (SELECT item_id, reserved_at FROM live WHERE rater = $rater),
    open AS (
        SELECT m.item_id, m.position, m.shared, h.reserved_at AS held_since
        FROM members m LEFT JOIN others o USING (item_id) LEFT JOIN held h USING (item_id)
        WHERE m.item_id NOT IN (SELECT item_id FROM mine)
          AND (m.shared OR coalesce(o.k, 0) < $epi OR h.reserved_at IS NOT NULL))
"""

# With routing by expertise (the task's domain column, labelgate.labeling.Routing): an item whose domain
# is one of the rater's tags comes first, then items without a domain, then -- only when the task lets
# others label -- items of other domains, and of those only the slots that matching experts cannot fill:
# a non-shared item is open to a non-matching rater when its free slots outnumber the active experts
# tagged with its domain who have not answered it and hold no slot on it. An item the rater holds stays
# open to them -- unless its domain is not theirs and only matching experts may label it (their tags, the
# item's domain or the routing changed after it was shown; _ROUTED_TO refuses the answer). Items held
# back from the rater by routing are counted for the page's message.
_ROUTED_SLOTS = _SLOTS[:_SLOTS.index("    open AS (")] + """
    experts AS (  -- active users and their current expertise tags
        SELECT e.user_name AS rater, unnest(e.tags) AS tag
        FROM (SELECT user_name, tags FROM user_expertise
              QUALIFY row_number() OVER (PARTITION BY user_name ORDER BY change_id DESC) = 1) e
        JOIN users u ON u.name = e.user_name WHERE u.active),
    mytags AS (SELECT tag FROM experts WHERE rater = $rater),
    dom AS (
        SELECT m.item_id, nullif(lower(trim(json_extract_string(i.meta, $domain))), '') AS domain
        FROM members m JOIN items i ON i.task_id = $task AND i.item_id = m.item_id),
    free AS (  -- experts tagged with the item's domain who could still take one of its slots
        SELECT d.item_id, count(*) AS f
        FROM dom d JOIN experts e ON e.tag = d.domain
        WHERE e.rater <> $rater
          AND NOT EXISTS (SELECT 1 FROM answered a WHERE a.item_id = d.item_id AND a.rater = e.rater)
          AND NOT EXISTS (SELECT 1 FROM live l WHERE l.item_id = d.item_id AND l.rater = e.rater)
        GROUP BY d.item_id),
    cand AS (
        SELECT m.item_id, m.position, m.shared, h.reserved_at AS held_since, d.domain,
               coalesce(d.domain IN (SELECT tag FROM mytags), false) AS matching,
               (d.domain IS NULL OR d.domain IN (SELECT tag FROM mytags)
                OR ($others AND (h.reserved_at IS NOT NULL OR m.shared
                                 OR $epi - coalesce(o.k, 0) > coalesce(f.f, 0)))) AS routed
        FROM members m LEFT JOIN others o USING (item_id) LEFT JOIN held h USING (item_id)
             LEFT JOIN dom d USING (item_id) LEFT JOIN free f USING (item_id)
        WHERE m.item_id NOT IN (SELECT item_id FROM mine)
          AND (m.shared OR coalesce(o.k, 0) < $epi OR h.reserved_at IS NOT NULL)),
    open AS (SELECT * FROM cand WHERE routed)
"""

_PICK = "WITH" + _SLOTS + """
    SELECT (SELECT item_id FROM open ORDER BY held_since IS NULL, shared DESC, position LIMIT 1),
           (SELECT item_id FROM open WHERE held_since IS NOT NULL ORDER BY held_since DESC LIMIT 1),
           (SELECT count(*) FROM open),
           (SELECT count(*) FROM members JOIN mine USING (item_id)),
           (SELECT count(*) FROM open WHERE held_since IS NOT NULL),
           (SELECT list(item_id ORDER BY shared DESC, position)
            FROM (SELECT * FROM open WHERE held_since IS NULL ORDER BY shared DESC, position LIMIT 2))
"""

_ROUTED_PICK = "WITH" + _ROUTED_SLOTS + """
    SELECT (SELECT item_id FROM open
            ORDER BY held_since IS NULL, matching DESC, domain IS NOT NULL, shared DESC, position LIMIT 1),
           (SELECT item_id FROM open WHERE held_since IS NOT NULL ORDER BY held_since DESC LIMIT 1),
           (SELECT count(*) FROM open),
           (SELECT count(*) FROM members JOIN mine USING (item_id)),
           (SELECT count(*) FROM cand WHERE NOT routed),
           (SELECT list(DISTINCT domain ORDER BY domain) FROM cand WHERE NOT routed)
"""



# The same facts about one item, read from that item's rows only (under the task's lock at every answer,
# where the same read through _SLOTS' whole-task CTEs cost
# ~30-70 ms): whether it is in the set and shared, how many other experts
# fill or hold a slot on it, whether the rater holds a live slot on it, and whether the rater has a current
# answer to it. No row when it is in neither the calibration set nor a review draw.
# tests/labelgate/test_labeling.py checks it against _SLOTS item by item.
_ITEM_CTES = """
    calibration AS (
        SELECT item_id,
               row_number() OVER (ORDER BY position) <= greatest($overlap_min, ceil($share * count(*) OVER ()))
                   AS shared
        FROM item_set_members
        WHERE draw_id = (SELECT max(draw_id) FROM item_set_draws WHERE task_id = $task AND set_name = 'calibration')),
    member AS (
        SELECT shared FROM calibration WHERE item_id = $item
        UNION ALL
        SELECT false FROM review_draw_items ri JOIN review_draws rd USING (draw_id)
        WHERE rd.task_id = $task AND ri.item_id = $item AND $item NOT IN (SELECT item_id FROM calibration)
        LIMIT 1),
    chains AS (
        SELECT rater, revision, status, source, max(revision) OVER (PARTITION BY rater) AS top
        FROM human_label_rows WHERE task_id = $task AND item_id = $item AND round = 1),
    answered AS (SELECT DISTINCT rater, status, source FROM chains WHERE revision = top AND status <> 'undo'),
    live AS (SELECT rater FROM label_slots
             WHERE task_id = $task AND item_id = $item
               AND reserved_at > now() - to_seconds(60 * $slot_minutes::DOUBLE)),
    holders AS (
        SELECT rater FROM answered WHERE status = 'label' AND source = 'app'
        UNION
        SELECT rater FROM live WHERE rater NOT IN (SELECT rater FROM answered)),
    room AS (
        SELECT shared,
               (SELECT count(*) FROM holders WHERE rater <> $rater) AS others,
               EXISTS (SELECT 1 FROM live WHERE rater = $rater) AS holds,
               EXISTS (SELECT 1 FROM answered WHERE rater = $rater) AS mine
        FROM member)"""
_ITEM_ROOM = "WITH" + _ITEM_CTES + "\n    SELECT shared, others, holds, mine FROM room\n"


def _item_room(con, task_id: int, item_id: str, rater: str, policy: SlotPolicy) -> tuple | None:
    """(shared, slots others fill or hold, rater holds a live slot, rater answered) of one item, or None
    when the item is in no set (see _ITEM_ROOM)."""
    return fetch_one(con, _ITEM_ROOM, _item_params(task_id, item_id, rater, policy))


def _item_params(task_id: int, item_id: str, rater: str, policy: SlotPolicy, *, epi: bool = False) -> dict:
    params = {**_slot_params(task_id, rater, policy), "item": item_id}
    return params if epi else {k: v for k, v in params.items() if k != "epi"}


def _open_to(room: tuple | None, policy: SlotPolicy) -> bool:
    """Whether an item is open to the rater, from its _item_room (the condition of _SLOTS' `open`)."""
    if room is None:
        return False
    shared, others, holds, answered = room
    return not answered and (shared or others < policy.experts_per_item or holds)

# At an answer: the task's routing now (its latest revision), the item's domain and the rater's tags now.
_ROUTED_TO = """
    WITH r AS (SELECT domain_column, coalesce(others_may_label, true) AS others FROM task_revisions
               WHERE task_id = $task ORDER BY revision DESC LIMIT 1),
         t AS (SELECT tags FROM user_expertise WHERE user_name = $rater ORDER BY change_id DESC LIMIT 1)
    SELECT r.others, nullif(lower(trim(json_extract_string(i.meta, r.domain_column))), ''),
           coalesce((SELECT tags FROM t), [])
    FROM r JOIN items i ON i.task_id = $task AND i.item_id = $item
    WHERE r.domain_column IS NOT NULL
"""


def _not_routed(con, task_id: int, item_id: str, rater: str) -> str | None:
    """Why the item is no longer routed to the rater (a sentence), or None when it is."""
    row = fetch_one(con, _ROUTED_TO, {"task": task_id, "item": item_id, "rater": rater})
    if row is None:
        return None
    others, domain, tags = row
    if domain is None or others or domain in {str(t).strip().lower() for t in tags}:
        return None
    return (f"Item {item_id} is no longer routed to you: its domain is {domain}, which only experts tagged "
            f"with it may label, and your expertise tags ({', '.join(tags) or 'none'}) do not include it (they, "
            "the item's domain or the task's routing changed after it was shown). Nothing was stored.")


@dataclass(frozen=True)
class Routing:
    """Routing by expertise: the item metadata key holding each item's domain, and whether experts
    without that domain's tag may take an item that no matching expert is free to take."""

    domain_column: str
    others_may_label: bool = True


def _slot_params(task_id: int, rater: str, policy: SlotPolicy) -> dict:
    return {"task": task_id, "rater": rater, "epi": policy.experts_per_item, "share": policy.overlap_share,
            "overlap_min": policy.overlap_min, "slot_minutes": policy.slot_minutes}


# Take a slot on one item if it is still open to the rater (_open_to), in one statement: under the task's lock
# in the app, each statement is a wait for the GIL among the other sessions' threads (a hold of 4-6
# statements took ~0.2 s with 20 sessions), so the common case is one. Returns the item, or no row.
_TAKE_IF_OPEN = "INSERT INTO label_slots (task_id, item_id, rater) WITH" + _ITEM_CTES + """
    SELECT $task, $item, $rater FROM room WHERE NOT mine AND (shared OR others < $epi OR holds)
    ON CONFLICT (task_id, item_id, rater) DO UPDATE SET reserved_at = now()
    RETURNING item_id
"""


def _hold_slot(con, task_id: int, item_id: str, rater: str) -> None:
    # an UPDATE, then an INSERT when there was no row: cheaper than INSERT ... ON CONFLICT (see _BUMP_TURN)
    (n,) = fetch_one(con, "UPDATE label_slots SET reserved_at = now() WHERE task_id = ? AND item_id = ? AND rater = ?",
                     [task_id, item_id, rater])
    if n == 0:
        con.execute("INSERT INTO label_slots (task_id, item_id, rater) VALUES (?, ?, ?)", [task_id, item_id, rater])


def _store_answer_sql(n_rows: int) -> str:
    """One INSERT of an answer's `n_rows` rows that stores them only when append_human_answer's checks pass
    (not answered yet in this round, still routed to the rater, a slot free or held); RETURNING its revision,
    or no row when a check failed (append_human_answer's transaction then says which)."""
    values = ", ".join(f"($status{i}::VARCHAR, $value{i}::VARCHAR, $num{i}::DOUBLE, $criterion{i}::VARCHAR,"
                       f" $why{i}::VARCHAR, {i})" for i in range(n_rows))
    return ("INSERT INTO human_label_rows (task_id, item_id, rater, round, revision, status, value, value_num,"
            " shown_order, comment, source, criterion, rationale) WITH" + _ITEM_CTES + """,
    latest AS (SELECT revision, status FROM human_label_rows
               WHERE task_id = $task AND item_id = $item AND rater = $rater AND round = $round
               ORDER BY revision DESC LIMIT 1),
    rev AS (SELECT domain_column, coalesce(others_may_label, true) AS others FROM task_revisions
            WHERE task_id = $task ORDER BY revision DESC LIMIT 1),
    barred AS (  -- routing by expertise no longer gives the item to the rater (as _not_routed)
        SELECT 1 FROM rev JOIN items i ON i.task_id = $task AND i.item_id = $item
        WHERE $round = 1 AND rev.domain_column IS NOT NULL AND NOT rev.others
          AND nullif(lower(trim(json_extract_string(i.meta, rev.domain_column))), '') IS NOT NULL
          AND NOT list_contains(
              list_transform(coalesce((SELECT tags FROM user_expertise WHERE user_name = $rater
                                       ORDER BY change_id DESC LIMIT 1), []), lambda t: lower(trim(t))),
              nullif(lower(trim(json_extract_string(i.meta, rev.domain_column))), ''))),
    ok AS (
        SELECT coalesce((SELECT revision FROM latest), 0) + 1 AS revision
        WHERE coalesce((SELECT status FROM latest), 'undo') = 'undo'
          AND NOT EXISTS (SELECT 1 FROM barred)
          AND (NOT $check_room OR NOT EXISTS (SELECT 1 FROM room)
               OR (SELECT shared OR holds OR others < $epi FROM room)))
    SELECT $task, $item, $rater, $round, ok.revision, v.status, v.value, v.num, $shown_order, $comment, 'app',
           v.criterion, v.why
    FROM ok, (VALUES """ + values + """) v(status, value, num, criterion, why, pos)
    ORDER BY v.pos
    RETURNING revision
""")


@dataclass(frozen=True)
class AnswerRow:
    """One criterion's part of an answer: its status, canonical value and the expert's rationale."""

    criterion: str
    status: str = "label"          # label | skip | flag (every row of one answer has the same)
    value: str | None = None
    value_num: float | None = None
    rationale: str | None = None


def append_human_answer(
    db: Database,
    *,
    task_id: int,
    item_id: str,
    rater: str,
    rows: list[AnswerRow],
    shown_order: str | None = None,
    comment: str | None = None,
    round: int = 1,
    slots: SlotPolicy | None = None,
    then_take: str | None = None,
) -> int:
    """Append one answer given in the app -- a row per criterion -- in one transaction; committed (all
    rows or none) when this returns. The rows share the next position of the item's chain, so the
    answer supersedes, and is undone, as a whole. Returns that position (the chain's revision).

    Refused with DuplicateLabelError when the rater already has an answer to the item in this
    round (an undone answer does not count). With `slots`, a first-round label of an item that
    is not shared by every expert is refused with SlotTakenError when the rater holds no live
    slot on it and other experts already fill all of its slots. A first-round answer to an item that
    routing by expertise no longer gives the rater (checked on the task, tags and item as they are now) is
    refused with NotRoutedError, and the rater's slot on it is given up so that it is not shown again.

    With `slots` and `then_take` (queue_snapshot's "after": the item the queue gives next), a slot on that
    item is taken in the same hold of the task's lock once the answer is stored, if it is still open to
    the rater; the next snapshot then shows it without taking the lock again.
    """
    if not rows:
        raise ValueError("an answer needs at least one criterion row")
    statuses = {r.status for r in rows}
    if len(statuses) != 1 or not statuses <= {"label", "skip", "flag"}:
        raise ValueError(f"the rows of one answer share one status among label, skip, flag; got {sorted(statuses)}")
    if len({r.criterion for r in rows}) != len(rows):
        raise ValueError("an answer has one row per criterion")
    status = rows[0].status

    def work(con):
        latest = fetch_one(
            con, "SELECT revision, status FROM human_label_rows WHERE task_id = ? AND item_id = ? AND rater = ?"
                 " AND round = ? ORDER BY revision DESC LIMIT 1", [task_id, item_id, rater, round])
        if latest is not None and latest[1] != "undo":
            raise DuplicateLabelError(f"{rater} has already answered item {item_id}")
        if round == 1:
            why = _not_routed(con, task_id, item_id, rater)
            if why is not None:
                con.execute("DELETE FROM label_slots WHERE task_id = ? AND item_id = ? AND rater = ?",
                            [task_id, item_id, rater])
                return NotRoutedError(why)   # committed: the slot goes; nothing else was written
        if slots is not None and round == 1 and status == "label":
            room = _item_room(con, task_id, item_id, rater, slots)
            if room is not None:
                shared, taken_by_others, holds, _answered = room
                if not shared and not holds and taken_by_others >= slots.experts_per_item:
                    raise SlotTakenError(
                        f"item {item_id} already has its {slots.experts_per_item} experts: others answered it "
                        "while it was open here")
        revision = (latest[0] + 1) if latest else 1
        # one VALUES row per criterion, in order (a registered DataFrame cost more than the insert itself,
        # and this runs while the task's other sessions wait for its lock)
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?::DOUBLE, ?, ?, 'app', ?, ?)"] * len(rows))
        params = [x for r in rows for x in (
            task_id, item_id, rater, round, revision, r.status, r.value,
            None if r.value_num is None else float(r.value_num), shown_order, comment or None, r.criterion,
            (r.rationale or "").strip() or None)]
        con.execute(
            "INSERT INTO human_label_rows (task_id, item_id, rater, round, revision, status, value, value_num,"
            f" shown_order, comment, source, criterion, rationale) VALUES {values}", params)
        return revision

    policy = slots or SlotPolicy(0, 0.0, 0, 0.0)
    params = {**_item_params(task_id, item_id, rater, policy, epi=True), "round": round, "shown_order": shown_order,
              "comment": comment or None, "check_room": slots is not None and round == 1 and status == "label"}
    for i, r in enumerate(rows):
        params.update({f"status{i}": r.status, f"value{i}": r.value, f"criterion{i}": r.criterion,
                       f"num{i}": None if r.value_num is None else float(r.value_num),
                       f"why{i}": (r.rationale or "").strip() or None})

    def store(con):
        got = con.execute(_store_answer_sql(len(rows)), params).fetchall()
        if not got:
            return None
        if then_take is not None and slots is not None and then_take != item_id:
            con.execute(_TAKE_IF_OPEN, _item_params(task_id, then_take, rater, slots, epi=True)).fetchall()
        return got[0][0]

    result = _in_turn(db, task_id, work, first=store)
    if isinstance(result, NotRoutedError):
        raise result
    return result


def append_human_label(
    db: Database,
    *,
    task_id: int,
    item_id: str,
    rater: str,
    status: str,
    value: str | None = None,
    value_num: float | None = None,
    shown_order: str | None = None,
    comment: str | None = None,
    round: int = 1,
    slots: SlotPolicy | None = None,
    criterion: str = DEFAULT_CRITERION,
    rationale: str | None = None,
) -> None:
    """Append a one-criterion answer (see `append_human_answer`); committed when this returns."""
    append_human_answer(db, task_id=task_id, item_id=item_id, rater=rater,
                        rows=[AnswerRow(criterion, status, value, value_num, rationale)], shown_order=shown_order,
                        comment=comment, round=round, slots=slots)


def undo_last_answer(db: Database, task_id: int, rater: str) -> tuple[str, int]:
    """Withdraw the rater's latest answer in the task by appending an undo row after it.

    The answer stays stored; the undo supersedes it, so gold and everything else read from
    human_labels no longer see it, and the item is the rater's next one (holding its slot) until
    they answer it again. Only the latest answer can be undone, once; an answer of several criteria
    is undone as a whole (an undo row per criterion it answered). Returns (item_id, round).
    """
    def work(con):
        last = fetch_one(
            con, "SELECT item_id, round, revision, status, shown_order FROM human_label_rows"
                 " WHERE task_id = ? AND rater = ? AND source = 'app' ORDER BY label_id DESC LIMIT 1",
            [task_id, rater])
        if last is None or last[3] == "undo":
            raise NothingToUndoError(f"{rater} has no answer to undo in this task")
        item_id, round_, revision, _status, order = last
        con.execute(
            "INSERT INTO human_label_rows (task_id, item_id, rater, round, revision, status, shown_order, source,"
            " criterion) SELECT task_id, item_id, rater, round, revision + 1, 'undo', ?, 'app', criterion"
            " FROM human_label_rows WHERE task_id = ? AND item_id = ? AND rater = ? AND round = ? AND revision = ?"
            " ORDER BY label_id", [order, task_id, item_id, rater, round_, revision])
        if round_ == 1:
            _hold_slot(con, task_id, item_id, rater)
        return item_id, round_

    return _in_turn(db, task_id, work)


def queue_snapshot(db: Database, task_id: int, rater: str, policy: SlotPolicy, *,
                   pick_retest: Callable[[pd.DataFrame], str | None] | None = None,
                   routing: Routing | None = None) -> dict:
    """Everything the Label page needs after each answer.

    The item for `rater` now, in this order: the item whose answer they just undid; the item
    they hold a live slot on (a reload shows the same item); with `pick_retest`, the item it
    names from the rater's answers (item_id, round, status, created_at, oldest first) as round
    2; else the first open set item, shared items first, in draw order, and a slot is taken on
    it (atomically: if another expert took the last slot meanwhile, the next open item is
    taken instead). Never an item they answered. Also its fields, progress (set items
    answered, and still open to them) and "undoable": whether their latest answer can be undone.

    With `routing` the open items are ordered and restricted by expertise (see _ROUTED_SLOTS); then
    "held_back" counts the set items routing keeps from this rater now and "held_back_domains" names
    their domains. Without it, exactly the queue above (held_back 0).
    """
    params = _slot_params(task_id, rater, policy)
    pick_sql = _PICK
    if routing is not None:
        params = {**params, "domain": routing.domain_column, "others": bool(routing.others_may_label)}
        pick_sql = _ROUTED_PICK

    following = {}   # the item after this one, when it can be taken with the answer (see "after")

    def pick(con):
        row = fetch_one(con, pick_sql, params)
        if routing is not None:
            return row
        following.update(n_held=row[4], unheld=list(row[5] or []))
        return (*row[:4], 0, None)

    history = None
    with db.connect() as con:
        last = fetch_one(con, "SELECT item_id, round, status FROM human_label_rows WHERE task_id = ? AND rater = ?"
                              " AND source = 'app' ORDER BY label_id DESC LIMIT 1", [task_id, rater])
        first, held, n_open, n_done, n_back, back_domains = pick(con)
        item_id, round_, take = None, 1, False
        if last is not None and last[2] == "undo":
            item_id, round_ = last[0], last[1]
        elif held is not None:
            item_id = held
        else:
            if pick_retest is not None:
                history = _history(con, task_id, rater)
                retest = pick_retest(history)
                if retest is not None:
                    item_id, round_ = retest, 2
            if item_id is None and first is not None:
                take = True
        shown = first if take else item_id
        after = _after(following, shown, held, take, undone=last is not None and last[2] == "undo")
        if after is not None and pick_retest is not None:
            # a retest that an answer to this item would make due comes before any held item: take none then
            if history is None:
                history = _history(con, task_id, rater)
            answered = pd.DataFrame({"item_id": [shown], "round": [round_], "status": ["label"],
                                     "created_at": [pd.Timestamp.now(tz="UTC")]})
            if pick_retest(pd.concat([history, answered], ignore_index=True)) is not None:
                after = None
    if take:
        candidate = first

        def take_open(con):
            # The item picked above, outside the lock, is usually still open: take it if so, in one statement
            # while the other sessions wait (_TAKE_IF_OPEN). Only when another expert took its last slot
            # meanwhile -- or with routing, whose rule needs the whole task -- is the item picked again inside.
            got = con.execute(_TAKE_IF_OPEN, _item_params(task_id, candidate, rater, policy, epi=True)).fetchall()
            return (candidate, n_open, n_done, n_back, back_domains) if got else None

        def reserve(con):
            first, _held, n_open_, n_done_, n_back_, back_domains_ = pick(con)
            if first is not None:
                _hold_slot(con, task_id, first, rater)
            return first, n_open_, n_done_, n_back_, back_domains_

        item_id, n_open, n_done, n_back, back_domains = _in_turn(
            db, task_id, reserve, first=take_open if routing is None else None)
        if item_id != candidate:
            after = None
    fields = None
    if item_id is not None:
        with db.connect() as con:
            (fields,) = fetch_one(con, "SELECT fields FROM items WHERE task_id = ? AND item_id = ?",
                                  [task_id, item_id])
    undoable = last is not None and last[2] != "undo"
    return {"item_id": item_id, "fields": fields, "done": n_done, "open": n_open, "round": round_,
            "undoable": undoable, "held_back": n_back, "held_back_domains": list(back_domains or []),
            "after": after if item_id is not None else None}


def _history(con, task_id: int, rater: str) -> pd.DataFrame:
    return con.execute("SELECT item_id, round, status, created_at FROM human_answers WHERE task_id = ? AND rater = ?"
                       " ORDER BY label_id", [task_id, rater]).df()


def _after(following: dict, item_id: str | None, held: str | None, take: bool, *, undone: bool) -> str | None:
    """The item this queue would give once `item_id` is answered, when that is the next open item in order
    (nothing else held, no undo pending, no routing): append_human_answer takes it in the answer's own hold
    (`then_take`), so that the next snapshot finds it held and waits for the task's lock no second time."""
    if item_id is None or undone or not following:
        return None
    unheld = following["unheld"]
    if take:                      # item_id is the first unheld item: the next is the second
        return unheld[1] if following["n_held"] == 0 and len(unheld) > 1 else None
    if held == item_id:           # item_id is held: the next is the first unheld, if it is the only one held
        return unheld[0] if following["n_held"] == 1 and unheld else None
    return unheld[0] if following["n_held"] == 0 and unheld else None   # a retest


def human_labels(db: Database, task_id: int, *, rater: str | None = None,
                 criterion: str | None = None) -> pd.DataFrame:
    """Every current human answer row of a task (or of one rater; of one criterion, else all of them:
    the `criterion` column says which), oldest first."""
    sql, params = "SELECT * FROM human_labels WHERE task_id = ?", [task_id]
    if rater:
        sql, params = sql + " AND rater = ?", [*params, rater]
    if criterion is not None:
        sql, params = sql + " AND criterion = ?", [*params, criterion]
    with db.connect() as con:
        return con.execute(sql + " ORDER BY label_id", params).df()


def item_answers(db: Database, task_id: int, rater: str, item_id: str, *, round: int = 1) -> pd.DataFrame:
    """The rater's current answer to one item: a row per criterion (criterion, status, value, value_num,
    rationale, comment, shown_order, label_id), in the order written; empty when there is none."""
    with db.connect() as con:
        return con.execute(
            "SELECT criterion, status, value, value_num, rationale, comment, shown_order, label_id, created_at"
            " FROM human_labels WHERE task_id = ? AND rater = ? AND item_id = ? AND round = ? ORDER BY label_id",
            [task_id, rater, item_id, round]).df()


def coverage(db: Database, task_id: int, experts_per_item: int) -> dict:
    """Size of the current calibration set and how many of its items have enough expert labels
    given in the app (imported human labels fill no expert's slot)."""
    with db.connect() as con:
        size, complete = fetch_one(
            con,
            "WITH s AS (SELECT m.item_id FROM item_set_members m WHERE m.draw_id = ("
            "  SELECT max(draw_id) FROM item_set_draws WHERE task_id = ? AND set_name = 'calibration')),"
            " n AS (SELECT item_id, count(DISTINCT rater) AS k FROM human_answers"
            "  WHERE task_id = ? AND round = 1 AND status = 'label' AND source = 'app' GROUP BY item_id)"
            " SELECT count(*), count(*) FILTER (WHERE coalesce(n.k, 0) >= ?) FROM s LEFT JOIN n USING (item_id)",
            [task_id, task_id, experts_per_item],
        )
    return {"set_size": size, "complete": complete}
