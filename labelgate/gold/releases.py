"""Gold releases: the live draft published as a numbered, frozen snapshot, and reading them back.

Expert answers and adjudications change only the draft. An engineer or lead publishes a release:
each item's gold label and how it was reached (agreed or adjudicated), the disputed items left
out, the experts' agreement with its CI, who, when and an optional note. Calibration, the gate,
reports and exports use a release -- by default the latest -- so an approval does not flip with
every key press on the Label page; a task with no release yet works on the draft and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from labelgate.gold.derive import Gold, load_gold
from labelgate.store import Database
from labelgate.store import gold as gold_store
from labelgate.store import gold_releases as store
from labelgate.store.users import User
from labelgate.tasks import Task
from qc.estimate import Estimate

PUBLISH_ROLES = ("engineer", "lead")
AGREEMENT_RESAMPLES = 1000


class ReleasePermissionError(PermissionError):
    """Only an engineer or a lead publishes a gold release."""


@dataclass(frozen=True)
class Release:
    task_id: int
    number: int
    gold_version: str
    n_items: int
    n_disputed: int
    last_label_id: int        # the newest first-round answer it saw
    n_adjudications: int      # adjudication rows it saw
    expert_agreement: dict    # n_raters, krippendorff_alpha (Estimate dict or None), pairwise_cohen_kappa
    note: str | None
    created_by: str
    created_at: pd.Timestamp

    @classmethod
    def from_row(cls, row) -> Release:
        note = row["note"]
        return cls(int(row["task_id"]), int(row["release_no"]), str(row["gold_version"]), int(row["n_items"]),
                   int(row["n_disputed"]), int(row["last_label_id"]), int(row["n_adjudications"]),
                   dict(row["expert_agreement"]), None if note is None or pd.isna(note) else str(note),
                   str(row["created_by"]), pd.Timestamp(row["created_at"]))

    @property
    def expert_alpha(self) -> Estimate | None:
        d = self.expert_agreement.get("krippendorff_alpha")
        if d is None:
            return None
        return Estimate(d["estimate"], _nan(d.get("ci_low")), _nan(d.get("ci_high")), int(d["n"]), d["method"],
                        d.get("level", 0.95))

    def describe(self) -> str:
        return f"release {self.number} (published by {self.created_by} on {self.created_at:%Y-%m-%d %H:%M})"

    def to_dict(self) -> dict:
        return {"release": self.number, "gold_version": self.gold_version, "n_items": self.n_items,
                "n_disputed": self.n_disputed, "expert_agreement": self.expert_agreement, "note": self.note,
                "created_by": self.created_by, "created_at": self.created_at.isoformat()}


def _nan(v) -> float:
    return float("nan") if v is None else float(v)


def can_publish(role: str) -> bool:
    return role in PUBLISH_ROLES


def list_releases(db: Database, task: Task) -> list[Release]:
    """Every release of the task, oldest first."""
    return [Release.from_row(r) for r in store.releases(db, task.task_id).to_dict("records")]


def latest_release(db: Database, task: Task) -> Release | None:
    row = store.release(db, task.task_id)
    return Release.from_row(row) if row else None


def get_release(db: Database, task: Task, number: int) -> Release:
    row = store.release(db, task.task_id, number)
    if row is None:
        known = ", ".join(str(r.number) for r in list_releases(db, task)) or "none yet"
        raise LookupError(f"gold release: task {task.name} has no release {number}; releases: {known}")
    return Release.from_row(row)


def criteria_gold_version(golds: dict[str, Gold]) -> str:
    """One fingerprint of the gold of several criteria (criterion name -> its Gold)."""
    import hashlib

    blob = "\n".join(f"{name}\t{g.version}" for name, g in golds.items())
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def release_gold(db: Database, task: Task, number: int) -> Gold:
    """The frozen gold of release `number` (LookupError if the task has no such release)."""
    get_release(db, task, number)
    items = store.release_items(db, task.task_id, number, criterion=task.criterion_name)
    gold = items[items["status"] == "gold"]
    labels = pd.DataFrame({"item_id": gold["item_id"], "value": gold["value"],
                           "value_num": pd.to_numeric(gold["value_num"], errors="coerce"), "source": gold["source"],
                           "n_experts": gold["n_experts"].astype(int)}).reset_index(drop=True)
    out = items[items["status"] == "disputed"]
    disputed = pd.DataFrame({"item_id": out["item_id"], "n_experts": out["n_experts"].astype(int),
                             "values": out["expert_values"]}).reset_index(drop=True)
    return Gold(labels, disputed, release=int(number))


def resolve_gold(db: Database, task: Task, release: int | None = None, *,
                 experts: pd.DataFrame | None = None) -> Gold:
    """The gold to work against: release `release` if given, else the latest release, else the draft
    (from `experts`, the criterion's expert labels, when the caller already read them)."""
    if release is not None:
        return release_gold(db, task, release)
    latest = latest_release(db, task)
    return release_gold(db, task, latest.number) if latest else load_gold(db, task, experts=experts)


def chosen_gold(db: Database, task: Task, release: int | None) -> Gold:
    """Release `release`, or the live draft when None (a page's explicit choice)."""
    return release_gold(db, task, release) if release is not None else load_gold(db, task)


def expert_agreement(db: Database, task: Task, gold: Gold, *, n_resamples: int = AGREEMENT_RESAMPLES,
                     seed: int = 0, experts: pd.DataFrame | None = None) -> dict:
    """The experts' reliability behind `gold` (as analysis.human_reliability returns it).

    A release carries the value measured when it was published; the draft's is computed now, from
    `experts` (the criterion's expert labels) when the caller already read them.
    """
    if gold.release is None:
        from labelgate.analysis import human_reliability  # scipy: only when the draft is measured

        if experts is None:
            experts = gold_store.expert_labels(db, task.task_id, criterion=task.criterion_name)
        return human_reliability(task, experts, n_resamples=n_resamples, seed=seed)
    rel = get_release(db, task, gold.release)
    return {"n_raters": int(rel.expert_agreement.get("n_raters", 0)), "krippendorff_alpha": rel.expert_alpha,
            "pairwise_cohen_kappa": list(rel.expert_agreement.get("pairwise_cohen_kappa", []))}


# -- what changed -----------------------------------------------------------------------------

@dataclass(frozen=True)
class GoldDiff:
    """Items gained, relabeled and lost from one gold (`old`) to another (`new`)."""

    old: str                  # e.g. "release 3"
    new: str
    added: pd.DataFrame       # item_id, value
    relabeled: pd.DataFrame   # item_id, old, new
    removed: pd.DataFrame     # item_id, old

    @property
    def unchanged(self) -> bool:
        return self.added.empty and self.relabeled.empty and self.removed.empty

    def summary(self) -> str:
        return f"+{len(self.added)} items, {len(self.relabeled)} relabeled, {len(self.removed)} removed"

    def to_dict(self) -> dict:
        return {"from": self.old, "to": self.new, "added": self.added.to_dict("records"),
                "relabeled": self.relabeled.to_dict("records"), "removed": self.removed.to_dict("records")}


def gold_label(gold: Gold) -> str:
    return f"release {gold.release}" if gold.release is not None else "draft"


def diff_gold(old: Gold, new: Gold) -> GoldDiff:
    a = old.labels.set_index("item_id")["value"].astype(str)
    b = new.labels.set_index("item_id")["value"].astype(str)
    both = a.index.intersection(b.index)
    changed = both[a.loc[both].to_numpy() != b.loc[both].to_numpy()]
    added = b.index.difference(a.index)
    removed = a.index.difference(b.index)
    return GoldDiff(gold_label(old), gold_label(new),
                    pd.DataFrame({"item_id": list(added), "value": list(b.loc[added])}),
                    pd.DataFrame({"item_id": list(changed), "old": list(a.loc[changed]), "new": list(b.loc[changed])}),
                    pd.DataFrame({"item_id": list(removed), "old": list(a.loc[removed])}))


def diff(db: Database, task: Task, old: int | None, new: int | None) -> GoldDiff:
    """What changed from release `old` to release `new` (None: the draft)."""
    def load(n):
        return load_gold(db, task) if n is None else release_gold(db, task, n)

    return diff_gold(load(old), load(new))


# -- the draft beside the latest release ---------------------------------------------------------

@dataclass(frozen=True)
class DraftProgress:
    """How far the live draft has moved past a release."""

    release: Release | None
    answers_since: int          # first-round expert answers (labels and flags) stored since it
    adjudications_since: int

    @property
    def has_news(self) -> bool:
        return bool(self.answers_since or self.adjudications_since)

    def describe(self) -> str:
        if self.release is None:
            return "No gold release yet: working on the unreleased draft."
        if not self.has_news:
            return f"Nothing new in the draft since release {self.release.number}."
        parts = [f"{self.answers_since} expert answer{'' if self.answers_since == 1 else 's'}"]
        if self.adjudications_since:
            parts.append(f"{self.adjudications_since} adjudication{'' if self.adjudications_since == 1 else 's'}")
        return f"{' and '.join(parts)} since release {self.release.number}, not yet released."


def draft_progress(db: Database, task: Task, release: Release | None = None) -> DraftProgress:
    """The draft's answers and adjudications since `release` (default: the latest); cheap (two counts)."""
    release = release or latest_release(db, task)
    if release is None:
        return DraftProgress(None, 0, 0)
    answers, adj = store.changes_since(db, task.task_id, release.last_label_id, release.n_adjudications)
    return DraftProgress(release, answers, adj)


# -- publishing ------------------------------------------------------------------------------------

def publish(db: Database, task: Task, *, user: User, note: str | None = None) -> Release:
    """Freeze the draft as the task's next release (engineers and leads).

    Refused when the draft has no gold item, or when nothing was answered or adjudicated since
    the latest release (a second identical release would only make approvals stale).
    """
    if not can_publish(user.role):
        raise ReleasePermissionError(f"only an engineer or a lead may publish a gold release; {user.name} has "
                                     f"the role {user.role}")
    note = (note or "").strip() or None
    latest = latest_release(db, task)
    if latest is not None and not draft_progress(db, task, latest).has_news:
        raise ValueError(f"nothing to release: no expert answer or adjudication since release {latest.number} "
                         f"of {task.name}")
    # the counters first: an answer stored while the draft is read counts as "since" this release
    last_label_id, n_adjudications = store.draft_counters(db, task.task_id)
    if task.view is not None:
        raise ValueError(f"publish a release of the task {task.name}, not of its criterion {task.view!r}")
    # every criterion is frozen in the release; the release's numbers are the first criterion's (a
    # one-question task's release is what it was), its gold version covers every criterion
    drafts, agreements, frames = {}, {}, []
    for name in task.criterion_names:
        view = task.criterion(name)
        drafts[name] = draft = load_gold(db, view)
        agreement = expert_agreement(db, view, draft)
        alpha = agreement["krippendorff_alpha"]
        agreements[name] = {"n_raters": int(agreement["n_raters"]),
                            "krippendorff_alpha": alpha.to_dict() if alpha is not None else None,
                            "pairwise_cohen_kappa": [{**p, "kappa": None if math.isnan(p["kappa"]) else p["kappa"]}
                                                     for p in agreement["pairwise_cohen_kappa"]]}
        labels, disputed = draft.labels, draft.disputed
        frames += [
            pd.DataFrame({"item_id": labels["item_id"], "status": "gold", "value": labels["value"],
                          "value_num": labels["value_num"], "source": labels["source"],
                          "n_experts": labels["n_experts"], "expert_values": None, "criterion": name}),
            pd.DataFrame({"item_id": disputed["item_id"], "status": "disputed", "value": None,
                          "value_num": float("nan"), "source": None, "n_experts": disputed["n_experts"],
                          "expert_values": disputed["values"], "criterion": name})]
    first = task.criterion_names[0]
    draft = drafts[first]
    if sum(d.n_items for d in drafts.values()) == 0:
        raise ValueError(f"nothing to release: the draft of {task.name} has no gold item yet "
                         f"({draft.n_disputed} in dispute)")
    stored_agreement = agreements[first]
    gold_version = draft.version
    if task.is_multi:
        stored_agreement = {**stored_agreement, "criteria": agreements}
        gold_version = criteria_gold_version(drafts)
    items = pd.concat(frames, ignore_index=True)
    try:
        number = store.insert_release(db, task.task_id, gold_version=gold_version, items=items,
                                      n_items=draft.n_items, n_disputed=draft.n_disputed,
                                      last_label_id=last_label_id, n_adjudications=n_adjudications,
                                      expert_agreement=stored_agreement, note=note, created_by=user.name)
    except store.ReleaseConflictError:
        raise ValueError(f"another gold release of {task.name} was published at the same moment: look at it "
                         "(labelgate gold list) before publishing again") from None
    return get_release(db, task, number)
