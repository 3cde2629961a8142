"""Drawing the calibration set and serving items to experts, blind and one at a time."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from labelgate.store import Database
from labelgate.store import items as item_store
from labelgate.store import labels as label_store
from labelgate.store.tasks import revise_task
from labelgate.tasks import Task
from qc.sampling import stratified_sample

DEFAULT_CALIBRATION_SIZE = 300
# Test-retest: this share of each expert's labeled items comes back to them, blind, once they
# have answered RETEST_AFTER_ITEMS more items or RETEST_AFTER_HOURS have passed.
RETEST_SHARE = 0.10
RETEST_AFTER_ITEMS = 20
RETEST_AFTER_HOURS = 24.0
# Overlap: every expert first labels the task's overlap share of the set (Task.overlap_share,
# default 20%), and never fewer than this many items, so expert agreement is measurable early.
OVERLAP_MIN_ITEMS = 30
# An item shown to an expert keeps one of its experts-per-item slots this long unanswered.
SLOT_MINUTES = 30.0


def strata_for(values: pd.Series, *, max_levels: int = 20, n_bins: int = 4) -> pd.Series:
    """A numeric column with many values is cut into quantile bins; anything else is used as is."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all() and numeric.nunique() > max_levels:
        return pd.qcut(numeric, q=n_bins, duplicates="drop").astype(str)
    return values.astype(object).where(values.notna(), None)


def draw_item_set(db: Database, task: Task, set_name: str, *, size: int = DEFAULT_CALIBRATION_SIZE,
                  stratify_by: str | None = None, seed: int = 0, created_by: str | None = None) -> list[str]:
    """Draw the task's calibration (or anchor) set: `size` items, stratified, reproducible from `seed`."""
    if size < 1:
        raise ValueError(f"the set size must be at least 1; got {size}")
    meta = item_store.item_meta_frame(db, task.task_id)
    if meta.empty:
        raise ValueError(f"task {task.name} has no items yet: import items first")
    if stratify_by:
        if stratify_by not in meta.columns:
            cols = [c for c in meta.columns if c != "item_id"]
            raise ValueError(
                f"no metadata column {stratify_by!r} to stratify by; available: {', '.join(cols) or 'none'}")
        strata = strata_for(meta[stratify_by])
    else:
        strata = pd.Series(["all"] * len(meta))
    idx = stratified_sample(strata.to_numpy(dtype=object), min(size, len(meta)), seed=seed)
    chosen = meta["item_id"].to_numpy()[np.asarray(idx)].tolist()
    item_store.record_set_draw(db, task.task_id, set_name, chosen, seed=seed, stratify_by=stratify_by,
                               created_by=created_by)
    return chosen


def draw_calibration_set(db: Database, task: Task, *, size: int = DEFAULT_CALIBRATION_SIZE,
                         stratify_by: str | None = None, seed: int = 0, experts_per_item: int | None = None,
                         overlap_share: float | None = None, created_by: str | None = None) -> list[str]:
    """Draw the calibration set and set how many experts label each item and which share of the
    set every expert labels."""
    changes = {k: v for k, v in (("experts_per_item", experts_per_item), ("overlap_share", overlap_share))
               if v is not None and v != getattr(task, k)}
    if changes:
        task = revise_task(db, task.name, created_by=created_by, **changes)
    return draw_item_set(db, task, "calibration", size=size, stratify_by=stratify_by, seed=seed,
                         created_by=created_by)


def shown_order(rater: str, item_id: str) -> str:
    """Presentation order of a pairwise item for one expert: random-looking, stable across reloads."""
    digest = hashlib.sha256(f"{rater}\x00{item_id}".encode()).digest()
    return "12" if digest[0] % 2 == 0 else "21"


def to_original_answer(answer: str, order: str) -> str:
    """Map an answer about the outputs as shown ('1' = the one shown first) to the original numbering."""
    if answer == "tie" or order == "12":
        return answer
    return {"1": "2", "2": "1"}[answer]


@dataclass(frozen=True)
class QueueItem:
    item_id: str
    fields: dict
    shown_order: str | None   # pairwise only
    done: int                 # answered so far by this expert
    total: int                # answered + still open to this expert
    round: int = 1            # 2: a blind retest of an item this expert labeled before
    after: str | None = None  # the item to take a slot on when this one is answered (queue_snapshot's "after")


def picked_for_retest(rater: str, item_id: str, share: float) -> bool:
    """Whether this expert's label of this item is re-asked: a stable pseudo-random `share` of items."""
    digest = hashlib.sha256(f"retest\x00{rater}\x00{item_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def due_retest(history: pd.DataFrame, rater: str, *, share: float = RETEST_SHARE,
               after_items: int = RETEST_AFTER_ITEMS, after_hours: float = RETEST_AFTER_HOURS,
               now: pd.Timestamp | None = None) -> str | None:
    """The first item of `history` (the expert's answers, oldest first: item_id, round, status,
    created_at) that was labeled in round 1, is picked for a retest, has had no round-2 answer
    of any kind (a skipped or flagged retest is not asked again), and was followed by
    `after_items` more answers or is older than `after_hours`."""
    if share <= 0 or history.empty:
        return None
    labeled = history["status"] == "label" if "status" in history.columns else True
    first = history[(history["round"] == 1) & labeled].reset_index(drop=True)
    retested = set(history.loc[history["round"] == 2, "item_id"])
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    created = pd.to_datetime(first["created_at"], utc=True)
    for pos, (item_id, when) in enumerate(zip(first["item_id"], created, strict=True)):
        if item_id in retested or not picked_for_retest(rater, item_id, share):
            continue
        if len(first) - 1 - pos >= after_items or (now - when).total_seconds() >= after_hours * 3600:
            return item_id
    return None


@dataclass(frozen=True)
class Queue:
    item: QueueItem | None    # None: nothing left for this expert
    can_undo: bool            # their latest answer in the task can be undone
    held_back: int = 0        # set items routing by expertise keeps from this expert now
    held_back_domains: tuple[str, ...] = ()   # the domains of those items
    others_may_label: bool = True             # the task's routing setting (why they are held back)


def routing(task: Task) -> label_store.Routing | None:
    """The task's routing by expertise, or None when it names no domain column."""
    if not task.domain_column:
        return None
    return label_store.Routing(task.domain_column, task.others_may_label)


def slot_policy(task: Task) -> label_store.SlotPolicy:
    return label_store.SlotPolicy(task.experts_per_item, task.overlap_share, OVERLAP_MIN_ITEMS, SLOT_MINUTES)


def queue(db: Database, task: Task, rater: str, *, retest_share: float = RETEST_SHARE,
          retest_after_items: int = RETEST_AFTER_ITEMS, retest_after_hours: float = RETEST_AFTER_HOURS) -> Queue:
    """This expert's queue now: the item to show, and whether the last answer can be undone.

    An answer just undone comes back first; then an item this expert holds a slot on (the one
    shown before a reload); then a due retest (see `due_retest`), shown exactly like any other
    item (blind, same order rule) and stored as round 2; then the next item of the calibration
    set: the shared items (the task's overlap share, labeled by every expert) before the rest,
    which go to experts-per-item experts each. Showing an item takes a slot on it. With a domain
    column (routing by expertise), items of the expert's own domains come first, and items of other
    domains only as the task allows (labelgate.store.labels._ROUTED_SLOTS).
    """
    def pick(history: pd.DataFrame) -> str | None:
        return due_retest(history, rater, share=retest_share, after_items=retest_after_items,
                          after_hours=retest_after_hours)

    snap = label_store.queue_snapshot(db, task.task_id, rater, slot_policy(task),
                                      pick_retest=pick if retest_share > 0 else None, routing=routing(task))
    item_id = snap["item_id"]
    if item_id is None:
        return Queue(None, snap["undoable"], snap["held_back"], tuple(snap["held_back_domains"]),
                     task.others_may_label)
    order = shown_order(rater, item_id) if any(c.kind == "pairwise" for c in task.criteria) else None
    item = QueueItem(item_id, json.loads(snap["fields"]), order, snap["done"], snap["done"] + snap["open"],
                     snap["round"], snap.get("after"))
    return Queue(item, snap["undoable"], snap["held_back"], tuple(snap["held_back_domains"]),
                 task.others_may_label)


def next_item(db: Database, task: Task, rater: str, **retest) -> QueueItem | None:
    """The item this expert should see now (see `queue`), or None when their queue is empty."""
    return queue(db, task, rater, **retest).item


def submit_answer(db: Database, task: Task, rater: str, item: QueueItem, *, status: str = "label",
                  answer: str | None = None, comment: str | None = None, rationale: str | None = None,
                  take_next: bool = False) -> None:
    """Store an expert's answer to a one-question task (a label, a skip or an ambiguity flag); durable
    when it returns. For a task of several criteria, `answer` answers the first one (see `submit_item`).

    For pairwise items `answer` refers to the outputs as shown and is stored in the original
    numbering together with the order shown. Raises DuplicateLabelError when this expert has
    already answered the item, and SlotTakenError when other experts filled its slots meanwhile.
    """
    if status == "label" and answer is None:
        raise ValueError("a label needs an answer")
    name = task.criterion_name
    submit_item(db, task, rater, item, status=status,
                answers={name: answer} if status == "label" else None,
                rationales={name: rationale} if rationale else None, comment=comment, take_next=take_next)


class AnswerError(ValueError):
    """An item's answers do not fit its criteria; `criterion` names the one at fault (None: the item)."""

    def __init__(self, message: str, criterion: str | None = None):
        super().__init__(message)
        self.criterion = criterion


def check_item_answers(task: Task, answers: dict | None, rationales: dict | None = None, *,
                       shown_order: str | None = None) -> list[label_store.AnswerRow]:
    """Validate one item's answers against the task's criteria; the rows to store, in criterion order.

    `answers` maps criterion name to the raw answer (pairwise: about the outputs as shown; None or ""
    means not answered). Every shown required criterion needs an answer; a criterion hidden by its
    show_if (given the other answers) must have none; a rationale is refused where the criterion asks
    none and required where it asks for one. Raises AnswerError naming the criterion.
    """
    answers = {k: v for k, v in (answers or {}).items() if v is not None and str(v).strip() != ""}
    rationales = {k: str(v).strip() for k, v in (rationales or {}).items() if v is not None and str(v).strip()}
    names = set(task.criterion_names)
    for k in list(answers) + list(rationales):
        if k not in names:
            raise AnswerError(f"{k!r} is not a criterion of task {task.name}; its criteria: "
                              f"{', '.join(task.criterion_names)}", k)
    canonical: dict[str, str | None] = {}
    rows = []
    for c in task.criteria:
        visible = c.shown(canonical)
        if not visible:
            if c.name in answers:
                trig = c.show_if["criterion"]
                raise AnswerError(f"{c.name}: not shown for this item (it is asked only when {trig} is "
                                  f"{' or '.join(c.show_if.get('in') or [c.show_if.get('equals')])}), so it takes "
                                  "no answer", c.name)
            if c.name in rationales:
                raise AnswerError(f"{c.name}: not shown for this item, so it takes no rationale", c.name)
            continue
        raw = answers.get(c.name)
        if raw is None:
            if c.required:
                raise AnswerError(f"{c.name}: an answer is required", c.name)
            if c.name in rationales:
                raise AnswerError(f"{c.name}: a rationale without an answer", c.name)
            canonical[c.name] = None
            continue
        if c.kind == "pairwise":
            raw = to_original_answer(str(raw).strip().lower(), shown_order or "12")
        view = task.criterion(c.name)
        try:
            value, value_num = view.normalize_value(raw)
        except ValueError:
            raise AnswerError(f"{c.name}: {answers[c.name]!r} is not a valid answer: expected "
                              f"{view.describe_values()}", c.name) from None
        why = rationales.get(c.name)
        if c.rationale == "off" and why:
            raise AnswerError(f"{c.name}: this criterion asks for no rationale", c.name)
        if c.rationale == "required" and not why:
            raise AnswerError(f"{c.name}: a rationale (why) is required", c.name)
        canonical[c.name] = value
        rows.append(label_store.AnswerRow(c.name, "label", value, value_num, why))
    if not rows:
        raise AnswerError("answer at least one criterion (or skip the item)")
    return rows


def submit_item(db: Database, task: Task, rater: str, item: QueueItem, *, status: str = "label",
                answers: dict | None = None, rationales: dict | None = None, comment: str | None = None,
                take_next: bool = False) -> None:
    """Store an expert's answers to every criterion of one item in one transaction (all or nothing);
    durable when it returns. Undo (`undo_last_answer`) withdraws them together.

    status "label": `answers` (criterion name -> raw answer; pairwise as shown) and optional
    `rationales` (criterion name -> text), validated by `check_item_answers`. status "skip" or
    "flag": the item as a whole, no answers; a row per criterion carries the status and the comment.
    Raises AnswerError (a ValueError naming the criterion), DuplicateLabelError, SlotTakenError.

    `take_next` (the Label page, which shows the next item at once): a slot on the item the queue gives
    next (`item.after`) is taken in the same hold of the task's lock as the answer, instead of by the
    next `queue` call; which item comes next does not change.
    """
    if status not in ("label", "skip", "flag"):
        raise ValueError(f"status must be label, skip or flag; got {status!r}")
    if status == "label":
        rows = check_item_answers(task, answers, rationales, shown_order=item.shown_order)
    else:
        if any(v is not None and str(v).strip() for v in (answers or {}).values()):
            raise AnswerError(f"a {status} carries no answers")
        rows = [label_store.AnswerRow(c.name, status) for c in task.criteria]
    label_store.append_human_answer(db, task_id=task.task_id, item_id=item.item_id, rater=rater, rows=rows,
                                    shown_order=item.shown_order, comment=(comment or "").strip() or None,
                                    round=item.round, slots=slot_policy(task),
                                    then_take=item.after if take_next else None)


def item_answers(db: Database, task: Task, rater: str, item_id: str, *, round: int = 1) -> dict:
    """The rater's current answer to an item: {"status", "comment", "answers": {criterion: value},
    "rationales": {criterion: text}} (values canonical: pairwise in the original numbering), or {}
    when there is none."""
    rows = label_store.item_answers(db, task.task_id, rater, item_id, round=round)
    if rows.empty:
        return {}
    comment = rows["comment"].iloc[0]
    return {"status": rows["status"].iloc[0], "comment": None if pd.isna(comment) else comment,
            "answers": {r.criterion: r.value for r in rows.itertuples() if r.status == "label"},
            "rationales": {r.criterion: r.rationale for r in rows.itertuples()
                           if isinstance(r.rationale, str) and r.rationale}}


def undo_last_answer(db: Database, task: Task, rater: str) -> str:
    """Withdraw this expert's latest answer in the task (kept, superseded by an undo row); the
    item is their next one. Returns its id; NothingToUndoError when there is none to undo."""
    item_id, _round = label_store.undo_last_answer(db, task.task_id, rater)
    return item_id
