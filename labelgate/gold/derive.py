"""Gold labels: the adjudicated label of an item, else the agreed label of its experts.

Agreement means a strict majority of the item's experts gave the same label (with two
experts: both); for a continuous task, experts agree when their values lie within
`tolerance` (default 10% of the range) and the gold is their mean. Items with expert labels
but no agreement and no adjudication are disputed: left out of gold and counted, as are items an
expert flagged as ambiguous until someone adjudicates them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd

from labelgate.store import Database
from labelgate.store import gold as gold_store
from labelgate.tasks import Task


@dataclass(frozen=True)
class Gold:
    labels: pd.DataFrame      # item_id, value, value_num, source ('adjudicated' | 'agreed'), n_experts
    disputed: pd.DataFrame    # item_id, n_experts, values (the experts' labels, comma-separated)
    release: int | None = None  # the gold release these labels are frozen in; None: the live draft

    @property
    def name(self) -> str:
        return f"gold release {self.release}" if self.release is not None else "the unreleased draft"

    @property
    def n_items(self) -> int:
        return len(self.labels)

    @property
    def n_disputed(self) -> int:
        return len(self.disputed)

    @property
    def version(self) -> str:
        """Fingerprint of the gold labels: changes when any item's gold changes."""
        blob = "\n".join(f"{i}\t{v}" for i, v in zip(self.labels["item_id"], self.labels["value"], strict=True))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def derive_gold(task: Task, experts: pd.DataFrame, adjudicated: pd.DataFrame, *,
                tolerance: float | None = None, flagged: list[str] | tuple = ()) -> Gold:
    """Gold from expert labels (item_id, rater, value, value_num) and adjudications (item_id, value, value_num)."""
    cols = ["item_id", "value", "value_num", "source", "n_experts"]
    if experts.empty:
        agreed = pd.DataFrame(columns=cols)
        disputed = pd.DataFrame(columns=["item_id", "n_experts", "values"])
    elif task.kind == "continuous":
        lo, hi = task.spec["range"]
        tol = 0.1 * (hi - lo) if tolerance is None else tolerance
        g = experts.groupby("item_id")["value_num"].agg(["min", "max", "mean", "count"]).reset_index()
        ok = (g["max"] - g["min"]) <= tol + 1e-12
        agreed = pd.DataFrame({"item_id": g["item_id"][ok], "value": g["mean"][ok].map(repr),
                               "value_num": g["mean"][ok], "source": "agreed", "n_experts": g["count"][ok]})
        disputed = _disputed(experts, g["item_id"][~ok])
    else:
        counts = experts.groupby(["item_id", "value"]).size().rename("votes").reset_index()
        totals = experts.groupby("item_id").size().rename("n_experts")
        counts = counts.join(totals, on="item_id")
        winners = counts[counts["votes"] * 2 > counts["n_experts"]]
        nums = experts.drop_duplicates(["item_id", "value"])[["item_id", "value", "value_num"]]
        agreed = winners.merge(nums, on=["item_id", "value"], how="left").assign(source="agreed")[cols]
        disputed = _disputed(experts, totals.index.difference(winners["item_id"]))
    if len(flagged):
        # an expert who calls an item ambiguous disagrees with whatever the others said: people settle it
        flagged = set(flagged)
        agreed = agreed[~agreed["item_id"].isin(flagged)]
        extra = pd.DataFrame({"item_id": sorted(flagged - set(disputed["item_id"]))})
        counts = experts.groupby("item_id").size()
        values = experts.groupby("item_id")["value"].agg(lambda v: ", ".join(sorted(v)))
        extra["n_experts"] = extra["item_id"].map(counts).fillna(0).astype(int)
        extra["values"] = [", ".join(filter(None, [values.get(i, ""), "flagged as ambiguous"]))
                           for i in extra["item_id"]]
        disputed = pd.concat([disputed, extra], ignore_index=True) if len(extra) else disputed
    if not adjudicated.empty:
        adj = adjudicated.assign(source="adjudicated", n_experts=adjudicated["item_id"].map(
            experts.groupby("item_id").size()).fillna(0).astype(int))[cols]
        agreed = agreed[~agreed["item_id"].isin(adj["item_id"])]
        disputed = disputed[~disputed["item_id"].isin(adj["item_id"])]
        agreed = pd.concat([agreed, adj], ignore_index=True) if not agreed.empty else adj
    labels = agreed.sort_values("item_id").reset_index(drop=True)
    labels["value_num"] = pd.to_numeric(labels["value_num"], errors="coerce")
    return Gold(labels, disputed.sort_values("item_id").reset_index(drop=True))


def _disputed(experts: pd.DataFrame, item_ids) -> pd.DataFrame:
    sub = experts[experts["item_id"].isin(list(item_ids))]
    g = sub.groupby("item_id").agg(n_experts=("rater", "size"), values=("value", lambda v: ", ".join(sorted(v))))
    return g.reset_index()


def load_gold(db: Database, task: Task, *, experts: pd.DataFrame | None = None) -> Gold:
    """The live draft: every expert answer and adjudication so far (the Review page works on it).

    `experts`: the criterion's gold_store.expert_labels rows when the caller already read them (the
    report reads them once per criterion for the gold, the agreement and the split)."""
    c = task.criterion_name
    if experts is None:
        experts = gold_store.expert_labels(db, task.task_id, criterion=c)
    return derive_gold(task, experts,
                       gold_store.latest_adjudications(db, task.task_id, criterion=c),
                       flagged=gold_store.flagged_items(db, task.task_id, criterion=c))
