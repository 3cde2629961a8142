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
                         created_by: str | None = None) -> list[str]:
    """Draw the calibration set and set how many experts label each item."""
    if experts_per_item is not None and experts_per_item != task.experts_per_item:
        if experts_per_item < 1:
            raise ValueError(f"experts per item must be at least 1; got {experts_per_item}")
        task = revise_task(db, task.name, experts_per_item=experts_per_item, created_by=created_by)
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


def next_item(db: Database, task: Task, rater: str, *, retest_share: float = RETEST_SHARE,
              retest_after_items: int = RETEST_AFTER_ITEMS,
              retest_after_hours: float = RETEST_AFTER_HOURS) -> QueueItem | None:
    """The item this expert should see now, or None when their queue is empty.

    A due retest (see `due_retest`) comes first; it is shown exactly like any other item (blind,
    same order rule) and its answer is stored as round 2.
    """
    def pick(history: pd.DataFrame) -> str | None:
        return due_retest(history, rater, share=retest_share, after_items=retest_after_items,
                          after_hours=retest_after_hours)

    snap = label_store.queue_snapshot(db, task.task_id, rater, task.experts_per_item,
                                      pick_retest=pick if retest_share > 0 else None)
    item_id = snap["item_id"]
    if item_id is None:
        return None
    order = shown_order(rater, item_id) if task.kind == "pairwise" else None
    return QueueItem(item_id, json.loads(snap["fields"]), order, snap["done"], snap["done"] + snap["open"],
                     snap["round"])


def submit_answer(db: Database, task: Task, rater: str, item: QueueItem, *, status: str = "label",
                  answer: str | None = None, comment: str | None = None) -> None:
    """Store an expert's answer (a label, a skip or an ambiguity flag); durable when it returns.

    For pairwise items `answer` refers to the outputs as shown and is stored in the original
    numbering together with the order shown.
    """
    if status not in ("label", "skip", "flag"):
        raise ValueError(f"status must be label, skip or flag; got {status!r}")
    value = value_num = None
    if status == "label":
        if answer is None:
            raise ValueError("a label needs an answer")
        if task.kind == "pairwise":
            answer = to_original_answer(str(answer).lower(), item.shown_order or "12")
        value, value_num = task.normalize_value(answer)
    label_store.append_human_label(db, task_id=task.task_id, item_id=item.item_id, rater=rater, status=status,
                                   value=value, value_num=value_num, shown_order=item.shown_order,
                                   comment=(comment or "").strip() or None, round=item.round)
