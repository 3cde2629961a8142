"""Train / dev / test splits of a task's gold items, made once per gold release and stored.

The split is stratified by gold label (and optionally by one metadata column) and seeded; the
items are taken in item-id order, so the same gold, shares and seed give the same split. Once
stored, a split never changes: asking again returns it, and asking for other shares is refused.
A later gold release keeps every item of the task's previous split in its part (an item once in
test stays in test) and splits only the items new to the gold. With no release yet the split is
made on the unreleased draft (and says so); items the draft gains later are in no part until a
release is split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from labelgate.gold import Gold, resolve_gold
from labelgate.store import Database
from labelgate.store import align as store
from labelgate.store.items import item_meta_frame
from labelgate.tasks import Task
from qc.sampling import stratified_split

PARTS = ("train", "dev", "test")
DEFAULT_SHARES = (0.2, 0.4, 0.4)


class SplitRefused(ValueError):
    """A split that cannot be made or changed (bad shares, another ratio on a stored split)."""


@dataclass(frozen=True)
class Split:
    split_id: int
    task: str
    gold_release: int | None     # None: the unreleased draft
    gold_version: str
    shares: tuple[float, float, float]
    stratify: str | None
    seed: int
    created_by: str
    created_at: pd.Timestamp
    items: pd.DataFrame          # item_id, part, stratum
    created: bool = False        # made by this call (False: the stored split was returned)
    inherited_from: int | None = None

    @property
    def gold_name(self) -> str:
        return f"gold release {self.gold_release}" if self.gold_release is not None else "the unreleased draft"

    def ids(self, part: str) -> list[str]:
        if part not in PARTS:
            raise ValueError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
        return sorted(self.items.loc[self.items["part"] == part, "item_id"])

    def counts(self) -> dict[str, int]:
        return {p: int((self.items["part"] == p).sum()) for p in PARTS}

    def describe(self) -> str:
        c = self.counts()
        how = "stratified by gold label" + (f" and {self.stratify}" if self.stratify else "")
        return (f"split {self.split_id} of {self.task} on {self.gold_name}: train {c['train']}, dev {c['dev']}, "
                f"test {c['test']} items ({how}, seed {self.seed}; made by {self.created_by} on "
                f"{self.created_at:%Y-%m-%d %H:%M})")

    def to_dict(self) -> dict:
        return {"split_id": self.split_id, "task": self.task, "gold_release": self.gold_release,
                "gold": self.gold_name, "gold_version": self.gold_version,
                "shares": dict(zip(PARTS, self.shares, strict=True)), "stratify": self.stratify, "seed": self.seed,
                "created": self.created, "inherited_from": self.inherited_from, "created_by": self.created_by,
                "created_at": self.created_at.isoformat(), "counts": self.counts(),
                **{p: self.ids(p) for p in PARTS}}


def _shares(train: float | None, dev: float | None) -> tuple[float, float, float]:
    t = DEFAULT_SHARES[0] if train is None else float(train)
    d = DEFAULT_SHARES[1] if dev is None else float(dev)
    test = 1.0 - t - d
    if not (0 < t < 1 and 0 < d < 1) or test <= 1e-9 or not all(map(math.isfinite, (t, d))):
        raise SplitRefused(f"train and dev must be shares in (0, 1) that leave a test share; got train {t:g}, "
                           f"dev {d:g} (test would be {test:g})")
    return (t, d, round(test, 12))


def _load(db: Database, task: Task, row: dict, *, created: bool) -> Split:
    """A stored split (an align_splits row) with its items."""
    def opt(v):
        return None if v is None or pd.isna(v) else v

    release, inherited, stratify = opt(row["gold_release"]), opt(row.get("inherited_from")), opt(row["stratify"])
    return Split(int(row["split_id"]), task.name, None if release is None else int(release),
                 str(row["gold_version"]),
                 (float(row["train_share"]), float(row["dev_share"]), float(row["test_share"])),
                 None if stratify is None else str(stratify), int(row["seed"]), str(row["created_by"]),
                 pd.Timestamp(row["created_at"]), store.split_items(db, int(row["split_id"])), created,
                 None if inherited is None else int(inherited))


def get_split(db: Database, task: Task, gold_release: int | None = None) -> Split:
    """The stored split for gold release `gold_release` (default: the latest release, else the draft)."""
    return split_for(db, task, resolve_gold(db, task, gold_release))


def split_for(db: Database, task: Task, gold: Gold) -> Split:
    """The stored split of the gold snapshot `gold`, or LookupError saying how to make it."""
    row = store.find_split(db, task.task_id, gold.release)
    if row is None:
        raise LookupError(f"task {task.name} has no alignment split on {gold.name} yet: make it with "
                          f"`labelgate align split --task {task.name}`")
    return _load(db, task, row, created=False)


def make_split(db: Database, task: Task, *, train: float | None = None, dev: float | None = None,
               stratify: str | None = None, seed: int = 0, gold_release: int | None = None,
               created_by: str = "cli", gold: Gold | None = None) -> Split:
    """Split the gold items of `task` (release `gold_release`, default the latest, else the draft).

    Returns the stored split when there is one for that gold (``created`` False); refuses other
    shares or another stratification column for it. `train` and `dev` default to 0.2 and 0.4; test
    gets the rest. `gold` (a snapshot already read, e.g. the draft a page shows) replaces `gold_release`.
    """
    gold = gold if gold is not None else resolve_gold(db, task, gold_release)
    row = store.find_split(db, task.task_id, gold.release)
    if row is not None:
        existing = _load(db, task, row, created=False)
        if train is not None or dev is not None:
            wanted = _shares(train if train is not None else existing.shares[0],
                             dev if dev is not None else existing.shares[1])
            if not np.allclose(wanted, existing.shares, atol=1e-9):
                have = ", ".join(f"{p} {s:g}" for p, s in zip(PARTS, existing.shares, strict=True))
                raise SplitRefused(f"task {task.name} is already split on {existing.gold_name} ({have}); its items "
                                   "never move, so another ratio is refused (publish a new gold release to split "
                                   "its new items)")
        if stratify is not None and stratify != existing.stratify:
            raise SplitRefused(f"task {task.name} is already split on {existing.gold_name}, stratified by "
                               f"{existing.stratify or 'gold label only'}; its items never move, so another "
                               "stratification is refused")
        return existing
    previous_row = store.latest_split(db, task.task_id)
    previous = None if previous_row is None else _load(db, task, previous_row, created=False)
    if previous is not None:   # a new release keeps the earlier split's shape unless told otherwise
        train = previous.shares[0] if train is None else train
        dev = previous.shares[1] if dev is None else dev
        stratify = previous.stratify if stratify is None else stratify
    shares = _shares(train, dev)
    labels = gold.labels[["item_id", "value"]].sort_values("item_id").reset_index(drop=True)
    if len(labels) < len(PARTS):
        raise SplitRefused(f"task {task.name} has {len(labels)} gold items on {gold.name}: a split needs at least "
                           f"{len(PARTS)}")
    strata = labels["value"].astype(str)
    if stratify:
        meta = item_meta_frame(db, task.task_id)
        if stratify not in meta.columns or stratify == "item_id":
            raise SplitRefused(f"no metadata column {stratify!r} to stratify by; available: "
                               f"{', '.join(c for c in meta.columns if c != 'item_id') or 'none'}")
        col = labels["item_id"].map(meta.set_index("item_id")[stratify]).fillna("missing").astype(str)
        strata = strata + " | " + col
    labels["stratum"] = strata
    labels["part"] = None
    if previous is not None:
        kept = labels["item_id"].map(previous.items.set_index("item_id")["part"])
        labels["part"] = kept
    new = labels["part"].isna().to_numpy()
    if new.any():
        parts = stratified_split(labels.loc[new, "stratum"].to_numpy(), shares, seed=seed)
        labels.loc[new, "part"] = np.asarray(PARTS, dtype=object)[parts]
    split_id, created = store.record_split(
        db, task_id=task.task_id, gold_release=gold.release, gold_version=gold.version, shares=shares,
        stratify=stratify, seed=seed, inherited_from=None if previous is None else previous.split_id,
        items=labels[["item_id", "part", "stratum"]], created_by=created_by)
    return _load(db, task, store.find_split(db, task.task_id, gold.release), created=created)
