"""Targeted review: which items should people look at next, and what their answers show.

A review draw takes k items of a labeler's pool (a batch, or everything it labeled outside the
calibration and anchor sets) by one strategy, or a mix:

- ``disagreement``: labelers of other model families give a different label (current versions);
- ``confidence``: the labeler's stated confidence is low;
- ``entropy``: the labeler's repeated samples disagree;
- ``predicted-error``: qc's error predictor, fitted on the gold (item metadata and TF-IDF of the
  text; its cross-validated AUROC is shown before anyone relies on it), predicts the labeler errs;
- ``random``: the control;
- ``mix``: the average of the available strategies' draw weights.

Items are drawn with probability proportional to the score with a floor (qc.targeted), not a bare
top-k, and each item's probability is recorded: the weighted (Horvitz-Thompson) error rate over the
pool is then an honest estimate. Review items are kept apart: their human labels never enter gold,
the gate, corrections or PPI (labelgate.store.gold leaves them out). What they give instead: the
labeler's error rate on them against a random control (errors found per 100 items labeled), human
labels that replace the labeler's in export (source ``human_review``), and the weighted estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from labelgate.auth import can_draw_review
from labelgate.gold import resolve_gold
from labelgate.store import Database
from labelgate.store import gold as gold_store
from labelgate.store import items as item_store
from labelgate.store import review_sets as review_store
from labelgate.store.labelers import current_versions
from labelgate.store.monitor import llm_items
from labelgate.store.users import User
from labelgate.tasks import Task
from qc.estimate import Estimate

STRATEGIES = {
    "disagreement": "labelers of other model families give another label",
    "confidence": "the labeler's stated confidence is low",
    "entropy": "the labeler's repeated samples disagree",
    "predicted-error": "the error predictor (fitted on the gold) expects the labeler to be wrong",
    "random": "drawn at random: the control",
    "mix": "the average of the available strategies",
}
DEFAULT_FLOOR = 0.1
MIN_PREDICTOR_GOLD = 30


class ReviewRefused(ValueError):
    """A draw that cannot be made (no pool, a strategy without its data, a bad size)."""


@dataclass(frozen=True)
class Draw:
    draw_id: int
    strategy: str
    pool_size: int
    items: pd.DataFrame          # item_id, score, probability, reason, llm_value, llm_value_num
    details: dict                # per strategy used: how it scored, e.g. the predictor's AUROC

    def to_dict(self) -> dict:
        return {"draw_id": self.draw_id, "strategy": self.strategy, "pool_size": self.pool_size,
                "details": self.details,
                "items": [{"item_id": r.item_id, "score": float(r.score), "probability": float(r.probability),
                           "reason": r.reason} for r in self.items.itertuples()]}


def _version(db: Database, task: Task, labeler: str) -> tuple[str, str]:
    v = current_versions(db, task.task_id)
    row = v[v["name"] == labeler]
    if row.empty:
        raise ReviewRefused(f"task {task.name} has no labeler {labeler!r} (labelers: {', '.join(v['name']) or 'none'})")
    return str(row["version"].iloc[0]), str(row["family"].iloc[0])


def pool(db: Database, task: Task, labeler: str, batch: str | None) -> pd.DataFrame:
    """The labeler's items a review may take: in `batch` (or any), outside the calibration and anchor
    sets and earlier review draws, and without a human label already. One row per item: item_id, value,
    value_num, confidence, n_judgments."""
    version, _ = _version(db, task, labeler)
    labels = llm_items(db, task.task_id, labeler, version, kind=task.kind)
    if batch is not None:
        labels = labels[labels["batch"] == batch]
    taken = set(item_store.current_set(db, task.task_id, "calibration")) | \
        set(item_store.current_set(db, task.task_id, "anchor")) | \
        set(review_store.drawn_items(db, task.task_id)["item_id"]) | \
        set(gold_store.expert_labels(db, task.task_id, criterion=task.criterion_name)["item_id"])  # known already
    return labels[~labels["item_id"].isin(taken)].reset_index(drop=True)


def wrong(task: Task, llm_value, llm_num, human_value, human_num) -> np.ndarray:
    """Whether the labeler's label differs from a person's: the same option, or within the task's tolerance."""
    if task.kind in ("categorical", "pairwise"):
        return np.asarray(pd.Series(llm_value).astype(str).to_numpy() != pd.Series(human_value).astype(str).to_numpy())
    from labelgate.review import tolerance

    return np.abs(np.asarray(llm_num, dtype=float) - np.asarray(human_num, dtype=float)) > tolerance(task)


def _texts(db: Database, task: Task, ids) -> pd.DataFrame:
    items = item_store.get_items(db, task.task_id, list(ids))
    text = items["fields"].map(lambda f: "\n\n".join(str(f.get(c, "") or "") for c in task.text_columns))
    meta = pd.DataFrame(list(items["meta"])) if len(items) else pd.DataFrame()
    out = pd.DataFrame({"item_id": items["item_id"], "text": text, "text_length": text.str.len()})
    return pd.concat([out, meta.reset_index(drop=True)], axis=1).drop_duplicates("item_id")


def _gold_pairs(db: Database, task: Task, labeler: str, version: str, what: str):
    """The gold, the gold items the labeler labeled (its label and gold's), and where it is wrong there."""
    gold = resolve_gold(db, task)
    mine = llm_items(db, task.task_id, labeler, version, kind=task.kind)
    both = gold.labels.merge(mine, on="item_id", suffixes=("_gold", "")).reset_index(drop=True)
    if len(both) < MIN_PREDICTOR_GOLD:
        raise ReviewRefused(f"{what} needs {MIN_PREDICTOR_GOLD} gold items the labeler labeled; "
                            f"{gold.name} has {len(both)}")
    return gold, both, wrong(task, both["value"], both["value_num"], both["value_gold"], both["value_num_gold"])


def _fit_predictor(db: Database, task: Task, gold, both: pd.DataFrame, err: np.ndarray, pool_ids=()):
    """qc's error predictor on the gold items (text and their usable metadata); also the features of
    `pool_ids`, to score them with the same columns."""
    from qc.sampling import fit_error_predictor

    if err.all() or not err.any():
        raise ReviewRefused(f"the labeler is {'always' if err.all() else 'never'} wrong on {gold.name}: "
                            "nothing for an error predictor to learn")
    feats = _texts(db, task, list(both["item_id"]) + list(pool_ids)).set_index("item_id")
    cols = ["text", *(c for c in feats.columns if c != "text" and feats[c].nunique(dropna=True) > 1
                      and (pd.api.types.is_numeric_dtype(feats[c]) or feats[c].nunique() <= 50))]
    pred = fit_error_predictor(feats.loc[both["item_id"], cols].reset_index(drop=True), err, text="text", seed=0)
    return pred, feats.loc[list(pool_ids), cols].reset_index(drop=True), cols


def _error_probability(pred, balanced: np.ndarray) -> np.ndarray:
    """The predictor weighs classes evenly, which inflates every probability of error; undo that prior
    shift so the score is a probability of error (a draw proportional to it then concentrates)."""
    odds = balanced / np.clip(1 - balanced, 1e-12, None) / ((pred.n - pred.n_errors) / pred.n_errors)
    return odds / (1 + odds)


def _predicted_error(db: Database, task: Task, labeler: str, version: str, pool_ids) -> tuple[np.ndarray, dict]:
    from qc.sampling import score_error_predictor

    gold, both, err = _gold_pairs(db, task, labeler, version, "the error predictor")
    pred, pool_feats, cols = _fit_predictor(db, task, gold, both, err, pool_ids)
    scores = _error_probability(pred, score_error_predictor(pred, pool_feats))
    return scores, {"cv_auroc": round(float(pred.cv_auroc), 4), "n_gold": int(pred.n), "n_errors": int(pred.n_errors),
                    "gold": gold.name, "features": cols}


def _disagreement(db: Database, task: Task, labeler: str, family: str, pool_frame: pd.DataFrame
                  ) -> tuple[np.ndarray, dict]:
    others = current_versions(db, task.task_id)
    others = others[(others["name"] != labeler) & (others["family"] != family)]
    if others.empty:
        raise ReviewRefused(f"no labeler of a family other than {family} labels task {task.name}")
    ids = pool_frame["item_id"]
    differ = np.zeros(len(ids))
    seen = np.zeros(len(ids))
    for r in others.itertuples():
        o = llm_items(db, task.task_id, r.name, r.version, kind=task.kind).set_index("item_id")
        o = o.reindex(ids)
        has = o["n_judgments"].notna().to_numpy()
        w = wrong(task, pool_frame["value"], pool_frame["value_num"], o["value"], o["value_num"])
        differ += np.where(has, w, 0)
        seen += has
    if not seen.any():
        raise ReviewRefused("the labelers of other families labeled none of these items")
    return np.divide(differ, seen, out=np.zeros_like(differ), where=seen > 0), {
        "other_labelers": sorted(others["name"]), "items_seen_by_another_family": int((seen > 0).sum())}


def _entropy(db: Database, task: Task, labeler: str, version: str, ids) -> tuple[np.ndarray, dict]:
    from qc.sampling import sample_entropy

    j = gold_store.llm_judgments(db, task.task_id, labelers=[(labeler, version)], item_ids=list(ids))
    if j.empty or j.groupby("item_id").size().max() < 2:
        raise ReviewRefused("the labeler gave one sample per item: no sample entropy to rank by")
    wide = j.assign(k=j.groupby("item_id").cumcount()).pivot(index="item_id", columns="k", values="value")
    ent = pd.Series(sample_entropy(wide.to_numpy(dtype=object)), index=wide.index).reindex(ids).fillna(0.0)
    return ent.to_numpy(float), {}


def strategy_scores(db: Database, task: Task, labeler: str, pool_frame: pd.DataFrame, strategy: str
                    ) -> tuple[np.ndarray, dict]:
    """Per pool item, the strategy's score (>= 0, higher: more likely wrong) and how it was made."""
    version, family = _version(db, task, labeler)
    ids = pool_frame["item_id"]
    if strategy == "random":
        return np.ones(len(ids)), {}
    if strategy == "confidence":
        conf = pool_frame["confidence"].to_numpy(float)
        if not np.isfinite(conf).any():
            raise ReviewRefused(f"{labeler} states no confidence on these items")
        conf = np.where(np.isfinite(conf), conf, np.nanmedian(conf))
        return np.clip(1.0 - conf, 0.0, 1.0), {}
    if strategy == "entropy":
        return _entropy(db, task, labeler, version, ids)
    if strategy == "disagreement":
        return _disagreement(db, task, labeler, family, pool_frame)
    if strategy == "predicted-error":
        return _predicted_error(db, task, labeler, version, ids)
    if strategy == "mix":
        parts, details = [], {}
        for s in ("disagreement", "confidence", "entropy", "predicted-error"):
            try:
                sc, d = strategy_scores(db, task, labeler, pool_frame, s)
            except ReviewRefused as exc:
                details[s] = {"left out": str(exc)}
                continue
            parts.append(sc / sc.sum() if sc.sum() > 0 else np.full(len(sc), 1.0 / len(sc)))
            details[s] = d
        if not parts:
            raise ReviewRefused("no strategy of the mix has its data: " +
                                "; ".join(f"{k}: {v['left out']}" for k, v in details.items()))
        return np.mean(parts, axis=0) * len(ids), details
    raise ReviewRefused(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")


def _reason(strategy: str, score: float, details: dict) -> str:
    if strategy == "random":
        return "drawn at random (control)"
    if strategy == "confidence":
        return f"confidence {1 - score:.2f}"
    if strategy == "entropy":
        return f"sample entropy {score:.2f} bits"
    if strategy == "disagreement":
        return f"{score:.0%} of other-family labelers disagree"
    if strategy == "predicted-error":
        return f"predicted error {score:.0%} (predictor AUROC {details.get('cv_auroc', float('nan')):.2f})"
    return f"mixed score {score:.2f}"


def draw(db: Database, task: Task, labeler: str, *, size: int, by: str, batch: str | None = None,
         seed: int = 0, floor: float = DEFAULT_FLOOR, user: User) -> Draw:
    """Draw and record a review set of `size` items of the labeler's pool by strategy `by`."""
    from qc.targeted import draw_pps, inclusion_probabilities

    if not can_draw_review(user.role):
        raise PermissionError(f"{user.name} is {user.role}: engineers and leads draw review sets")
    frame = pool(db, task, labeler, batch)
    where = f"batch {batch}" if batch else "its pool"
    if frame.empty:
        raise ReviewRefused(f"{labeler} has no items to review in {where}: every item it labeled is in the "
                            "calibration or anchor set, an earlier review set, or has a human label already")
    if not 1 <= size <= len(frame):
        raise ReviewRefused(f"size must be between 1 and the {len(frame)} items of {where}; got {size}")
    scores, details = strategy_scores(db, task, labeler, frame, by)
    pi = inclusion_probabilities(scores, size, floor=floor)
    idx = draw_pps(pi, seed=seed)
    picked = frame.iloc[idx]
    items = pd.DataFrame({"item_id": picked["item_id"].to_numpy(), "score": scores[idx], "probability": pi[idx],
                          "reason": [_reason(by, s, details) for s in scores[idx]],
                          "llm_value": picked["value"].to_numpy(), "llm_value_num": picked["value_num"].to_numpy()})
    version, _ = _version(db, task, labeler)
    draw_id = review_store.record_draw(
        db, task_id=task.task_id, labeler=labeler, labeler_version=version, batch=batch, strategy=by,
        pool_size=len(frame), seed=seed, floor=floor, gold_name=resolve_gold(db, task).name, details=details,
        items=items, created_by=user.name)
    return Draw(draw_id, by, len(frame), items, details)


@dataclass(frozen=True)
class DrawResult:
    draw_id: int
    strategy: str
    labeler: str
    batch: str | None
    size: int
    n_reviewed: int
    n_wrong: int
    per_100: Estimate | None          # errors found per 100 items reviewed (Wilson)
    pool_error_rate: Estimate | None  # Horvitz-Thompson over the pool, from the drawn probabilities


def results(db: Database, task: Task) -> list[DrawResult]:
    """Per review draw: how many items people reviewed, how many the labeler had wrong, and the estimates."""
    from qc.targeted import horvitz_thompson_mean
    from qc.uncertainty import wilson_interval

    items = review_store.drawn_items(db, task.task_id)
    answers = review_store.review_answers(db, task.task_id, criterion=task.criterion_name)
    first = answers.drop_duplicates("item_id")    # the first expert's answer decides a reviewed item
    out = []
    for draw_id, grp in items.groupby("draw_id", sort=True):
        rev = grp.merge(first, on="item_id", suffixes=("", "_human"))
        n = len(rev)
        w = wrong(task, rev["llm_value"], rev["llm_value_num"], rev["value"], rev["value_num"]) if n else np.array([])
        head = grp.iloc[0]
        per = wilson_interval(int(w.sum()), n) if n else None
        per_100 = Estimate(100 * per.estimate, 100 * per.ci_low, 100 * per.ci_high, n, per.method) if per else None
        # the weighted estimate needs the whole draw reviewed: an unreviewed item is not a zero
        ht = horvitz_thompson_mean(w.astype(float), rev["probability"].to_numpy(float), int(head["pool_size"])) \
            if n == len(grp) and n >= 2 else None
        out.append(DrawResult(int(draw_id), head["strategy"], head["labeler"],
                              None if pd.isna(head["batch"]) else head["batch"], len(grp), n, int(w.sum()),
                              per_100, ht))
    return out


def compare_strategies(db: Database, task: Task, labeler: str, *, k_share: float = 0.1, floor: float = DEFAULT_FLOOR,
                       n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Errors per 100 items a draw of `k_share` would find by each strategy, on the gold items the
    labeler labeled (the current release, where the truth is known), against the random control.

    The error predictor's scores there are cross-fitted (each item scored by the model fitted
    without its fold). Columns: strategy, per_100, ci_low, ci_high, vs_random, note.
    """
    from qc.calibration import expected_calibration_error
    from qc.targeted import strategy_yield

    version, _ = _version(db, task, labeler)
    gold, both, err = _gold_pairs(db, task, labeler, version, "Comparing strategies")
    rows = []
    for s in ("random", "disagreement", "confidence", "entropy", "predicted-error"):
        try:
            if s == "predicted-error":   # cross-fitted: no gold item is scored by a model that saw it
                pred, _, _ = _fit_predictor(db, task, gold, both, err)
                scores = _error_probability(pred, pred.oof_proba)
                ece = expected_calibration_error(scores, err, n_bins=10, strategy="quantile")
                note = (f"cross-fitted AUROC {pred.cv_auroc:.2f}; calibration: predicted error rate "
                        f"{scores.mean():.1%} against {err.mean():.1%} observed, ECE {ece:.3f}")
            else:
                scores, _ = strategy_scores(db, task, labeler, both, s)
                note = ""
        except ReviewRefused as exc:
            rows.append({"strategy": s, "per_100": np.nan, "ci_low": np.nan, "ci_high": np.nan, "note": str(exc)})
            continue
        y = strategy_yield(err, scores, k_share, floor=floor, n_resamples=n_resamples, seed=seed)
        rows.append({"strategy": s, "per_100": 100 * y.estimate, "ci_low": 100 * y.ci_low,
                     "ci_high": 100 * y.ci_high, "note": note})
    out = pd.DataFrame(rows)
    base = out.loc[out["strategy"] == "random", "per_100"].iloc[0]
    out["vs_random"] = out["per_100"] / base if base > 0 else np.nan
    return out[["strategy", "per_100", "ci_low", "ci_high", "vs_random", "note"]]


def per_batch(db: Database, task: Task, labeler: str) -> pd.DataFrame:
    """Per batch of the labeler: review items drawn from it, reviewed, and how many the labeler had wrong.

    Columns: batch, review_drawn, review_reviewed, review_wrong (batches without a review draw absent).
    """
    items = review_store.drawn_items(db, task.task_id)
    items = items[items["labeler"] == labeler]
    if items.empty:
        return pd.DataFrame(columns=["batch", "review_drawn", "review_reviewed", "review_wrong"])
    version, _ = _version(db, task, labeler)
    where = llm_items(db, task.task_id, labeler, version, kind=task.kind)[["item_id", "batch"]]
    items = items.drop(columns=["batch"]).merge(where, on="item_id", how="left")
    answers = review_store.review_answers(db, task.task_id, criterion=task.criterion_name).drop_duplicates("item_id")
    both = items.merge(answers, on="item_id", how="left", suffixes=("", "_human"))
    done = both["value"].notna() | both["value_num"].notna()
    both["reviewed"] = done
    both["wrong"] = False
    if done.any():
        d = both[done]
        both.loc[done, "wrong"] = wrong(task, d["llm_value"], d["llm_value_num"], d["value"], d["value_num"])
    return (both.groupby("batch", dropna=False)
            .agg(review_drawn=("item_id", "size"), review_reviewed=("reviewed", "sum"), review_wrong=("wrong", "sum"))
            .reset_index())
