"""Student preview of a categorical task: what a small model would learn from a labeler's labels.

Builds the arms of `qc.student.student_preview` from the store -- gold, the labeler's labels on the
gold items and on everything it labeled, the export mix, and the labeler's labels filtered by its
confidence (or sample entropy) and by the learned error predictor at the same retention -- and
runs them. The page and the CLI read the same `StudentReport`; `record_evidence` stores one for
the gate, which reads it back (labelgate.gate) instead of rerunning a preview of tens of seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from labelgate.auth import can_record_evidence
from labelgate.calibrate import load_task_gold
from labelgate.export import DEFAULT_HUMAN_SHARE
from labelgate.store import Database
from labelgate.store import gold as gold_store
from labelgate.store import items as item_store
from labelgate.store import student as student_store
from labelgate.store.labelers import current_versions
from labelgate.store.monitor import llm_items
from labelgate.store.users import User
from labelgate.tasks import Task
from qc.sampling import sample_entropy
from qc.student import DEFAULT_CURVE, Arm, StudentPreview, describe_findings, student_preview

ARMS = {
    "gold": "gold labels of the training folds (the reference)",
    "llm_gold_items": "the labeler's labels on the same gold items",
    "llm_all": "the labeler's labels on every item it labeled (amplify)",
    "mix": "the export mix: gold plus the labeler's labels on the other items, human rows weighted to the share",
    "confidence_filter": "the labeler's labels on every item, keeping the most confident",
    "error_filter": "the labeler's labels on every item, dropping the likeliest errors (learned error predictor)",
}
ARM_TITLES = {"gold": "gold", "llm_gold_items": "LLM on gold items", "llm_all": "LLM on all items",
              "mix": "export mix", "confidence_filter": "confidence filter", "error_filter": "error-predictor filter"}
DEFAULT_ARMS = tuple(ARMS)
DEFAULT_RETENTION = 0.8


class StudentRefused(ValueError):
    """The task or labeler cannot be previewed (kind, no text, too little gold)."""


@dataclass(frozen=True)
class StudentReport:
    task: str
    labeler: str
    labeler_version: str
    gold_version: str
    retention: float
    human_share: float
    preview: StudentPreview
    gold_name: str
    arm_labels: dict                  # arm key -> the name shown
    notes: list = field(default_factory=list)   # arms left out, and why

    @property
    def findings(self) -> list[str]:
        return self.notes + describe_findings(self.preview)

    def to_dict(self) -> dict:
        return {"task": self.task, "labeler": self.labeler, "labeler_version": self.labeler_version,
                "gold_version": self.gold_version, "gold_name": self.gold_name, "retention": self.retention,
                "human_share": self.human_share,
                "arms_shown_as": self.arm_labels, "notes": self.notes, **self.preview.to_dict(),
                "findings": self.findings}

    def metrics(self) -> dict:
        """Gate evidence: the macro-F1 loss and minority-recall ratio of the amplify arm, its stability."""
        arm = self.preview.arm(self.arm_labels["llm_all"])
        ref = self.preview.arm(self.arm_labels["gold"])
        out = {}
        if arm.evaluable:
            out["student_f1_loss"] = arm.f1_loss.to_dict()
            out["student_minority_recall_ratio"] = arm.minority_recall_ratio.to_dict()
            out["student_stability_alpha"] = {"estimate": arm.stability_alpha, "reference": ref.stability_alpha,
                                              "n": self.preview.n_eval}
        return out


def item_texts(db: Database, task: Task) -> pd.DataFrame:
    """item_id and the text a model reads: the task's shown fields joined by blank lines."""
    items = item_store.get_items(db, task.task_id)
    cols = list(task.text_columns)
    text = items["fields"].map(lambda f: "\n\n".join(str(f.get(c, "") or "") for c in cols))
    return pd.DataFrame({"item_id": items["item_id"], "text": text})


def _labeler_version(db: Database, task: Task, labeler: str) -> str:
    versions = current_versions(db, task.task_id)
    row = versions[versions["name"] == labeler]
    if row.empty:
        known = ", ".join(versions["name"]) or "none"
        raise StudentRefused(f"task {task.name} has no labeler {labeler!r} (labelers: {known})")
    return str(row["version"].iloc[0])


def export_weights(is_human: np.ndarray, human_share: float) -> np.ndarray:
    """Weights under which human rows carry at least `human_share` of the total (LLM rows weigh 1)."""
    n_h, n_l = int(is_human.sum()), int((~is_human).sum())
    w_h = 1.0 if n_h == 0 or n_l == 0 else max(1.0, human_share * n_l / ((1 - human_share) * n_h))
    return np.where(is_human, w_h, 1.0)


def build_preview(db: Database, task: Task, labeler: str, *, arms=DEFAULT_ARMS, n_seeds: int = 5,
                  retention: float = DEFAULT_RETENTION, human_share: float = DEFAULT_HUMAN_SHARE,
                  curve=DEFAULT_CURVE, n_folds: int = 5, n_resamples: int = 1000, seed: int = 0,
                  on_fit: Callable | None = None) -> StudentReport:
    """Run the student preview of `labeler` on `task` (categorical, with text items and gold)."""
    if task.kind != "categorical":
        raise StudentRefused(f"the student preview needs a categorical task; {task.name} is {task.kind}")
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise StudentRefused(f"unknown arms {unknown}; choose from {', '.join(ARMS)}")
    if not 0 < retention < 1:
        raise StudentRefused(f"retention must be between 0 and 1 (exclusive), got {retention}")
    version = _labeler_version(db, task, labeler)
    texts = item_texts(db, task)
    if texts.empty or not texts["text"].str.strip().astype(bool).any():
        raise StudentRefused(f"task {task.name} has no item text for a student to read")
    gold = load_task_gold(db, task)
    ids = texts["item_id"]
    gold_map = dict(zip(gold.labels["item_id"], gold.labels["value"], strict=True))
    y_gold = ids.map(gold_map).to_numpy(dtype=object)
    llm = llm_items(db, task.task_id, labeler, version, kind=task.kind)
    if llm.empty:
        raise StudentRefused(f"{labeler} has no labels on task {task.name} yet")
    llm_map = dict(zip(llm["item_id"], llm["value"], strict=True))
    y_llm = ids.map(llm_map).to_numpy(dtype=object)
    has_gold = pd.notna(y_gold)
    names = {"gold": "gold", "llm_gold_items": f"{labeler} (gold items)", "llm_all": f"{labeler} (all items)",
             "mix": "export mix", "confidence_filter": f"{labeler}, confidence filter",
             "error_filter": f"{labeler}, error-predictor filter"}
    notes, built = [], []
    for key in dict.fromkeys(("gold", "llm_all", *arms)):   # the reference and the amplify arm always run
        if key == "gold":
            built.append(Arm(names[key], y_gold))
        elif key == "llm_gold_items":
            built.append(Arm(names[key], np.where(has_gold, y_llm, None)))
        elif key == "llm_all":
            built.append(Arm(names[key], y_llm))
        elif key == "mix":
            mix = np.where(has_gold, y_gold, y_llm)
            labeled = pd.notna(mix)
            weights = np.where(labeled, export_weights(has_gold & labeled, human_share), 0.0)
            built.append(Arm(names[key], mix, weights=weights))
        elif key == "confidence_filter":
            score, how = _keep_score(db, task, labeler, version, ids, llm)
            if score is None:
                notes.append(f"The confidence filter is left out: {labeler} states no confidence and gave one "
                             "sample per item, so there is nothing to filter by.")
                continue
            names[key] = f"{labeler}, {how} filter"
            built.append(Arm(names[key], y_llm, keep_score=score, retention=retention, base=names["llm_all"]))
        elif key == "error_filter":
            built.append(Arm(names[key], y_llm, error_filter=True, retention=retention, base=names["llm_all"]))
    n_gold = int(has_gold.sum())
    if n_gold < 2 * n_folds:
        raise StudentRefused(f"task {task.name} has {n_gold} gold items; the preview needs at least {2 * n_folds}")
    try:
        preview = student_preview(texts["text"].tolist(), y_gold, built, n_folds=n_folds, n_seeds=n_seeds,
                                  curve=curve, n_resamples=n_resamples, seed=seed, on_fit=on_fit)
    except ValueError as exc:
        raise StudentRefused(str(exc)) from exc
    return StudentReport(task.name, labeler, version, gold.version, retention, human_share, preview, gold.name,
                         {k: names[k] for k in names if any(a.name == names[k] for a in built)}, notes)


def check_can_record(user: User) -> None:
    if not can_record_evidence(user.role):
        raise PermissionError(f"{user.name} is {user.role}: only engineers and leads record student previews")


def record_evidence(db: Database, task: Task, report: StudentReport, *, user: User) -> int:
    """Record `report` as gate evidence for its labeler version and gold; returns the record's id.

    Recording adds evidence and loosens nothing, so an engineer may do it as well as a lead (the
    gate criteria that read it are a lead's to set).
    """
    check_can_record(user)
    p = report.preview
    settings = {"seeds": p.n_seeds, "folds": p.n_folds, "retention": report.retention,
                "human_share": report.human_share, "arms": sorted(report.arm_labels)}
    return student_store.record_preview(
        db, task_id=task.task_id, labeler=report.labeler, labeler_version=report.labeler_version,
        gold_version=report.gold_version, gold_name=report.gold_name, settings=settings, metrics=report.metrics(),
        report=report.to_dict(), created_by=user.name)


def default_arms(db: Database, task: Task, labeler: str, version: str) -> tuple[str, ...]:
    """Every arm, less the confidence filter when the labeler gives it nothing to rank by (no stated
    confidence, one sample per item): the preview would leave it out and say so."""
    llm = llm_items(db, task.task_id, labeler, version, kind=task.kind)
    if pd.to_numeric(llm["confidence"], errors="coerce").notna().any():
        return DEFAULT_ARMS
    j = gold_store.llm_judgments(db, task.task_id, labelers=[(labeler, version)], criterion=task.criterion_name)
    if not j.empty and j.groupby("item_id").size().max() >= 2:
        return DEFAULT_ARMS
    return tuple(a for a in DEFAULT_ARMS if a != "confidence_filter")


def _keep_score(db: Database, task: Task, labeler: str, version: str, ids: pd.Series,
                llm: pd.DataFrame) -> tuple[np.ndarray | None, str]:
    """Per item: the labeler's mean confidence, else minus its sample entropy, else None."""
    conf = ids.map(dict(zip(llm["item_id"], llm["confidence"], strict=True))).to_numpy(dtype=float)
    if np.isfinite(conf).any():
        return conf, "confidence"
    j = gold_store.llm_judgments(db, task.task_id, labelers=[(labeler, version)], criterion=task.criterion_name)
    if j.empty or j.groupby("item_id").size().max() < 2:
        return None, ""
    wide = j.assign(k=j.groupby("item_id").cumcount()).pivot(index="item_id", columns="k", values="value")
    ent = pd.Series(sample_entropy(wide.to_numpy(dtype=object)), index=wide.index)
    return -ids.map(ent).to_numpy(dtype=float), "sample-entropy"
