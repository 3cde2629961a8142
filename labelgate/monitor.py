"""Watching a labeler batch by batch: the anchor set, per-batch drift metrics and blocked batches.

Every batch of a labeler gets, from counts computed in DuckDB (labelgate/store/monitor.py):

- its label distribution, entropy and Jensen-Shannon divergence from the labeler's first batch,
  with qc's collapse flag (qc.drift.distribution_drift);
- anchor drift: agreement of its anchor re-labels with gold and with the labeler's first anchor
  run (flip rate = 1 - that agreement), Wilson intervals as qc.drift.anchor_drift gives them;
- cross-family disagreement: share of (item, labeler of another family) pairs with another label
  (for batches of more than ~150 labels, on a fixed hash sample of about 150 items per batch:
  enough for a rate, and it keeps 10M labels under the page's time budget);
- confidence against correctness on the gold slice: accuracy, AUROC and ECE (10 uniform bins,
  the same numbers as qc.calibration's functions, from per-bin sums and rank sums);
- lexical and semantic diversity of the preferred (pairwise) or labeled outputs, for the most
  recent batches only (text statistics need the texts: up to 100 per batch).

A task's thresholds (saved per task, append-only) turn these into breaches; a batch with a
breach is blocked, and `labelgate gate check` fails while the labeler's latest batch is blocked.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from labelgate import governance
from labelgate.gold import Gold, resolve_gold
from labelgate.labeling import strata_for
from labelgate.store import Database
from labelgate.store import items as item_store
from labelgate.store import monitor as store
from labelgate.store.users import User
from labelgate.tasks import Task
from qc.bias import _wilson as wilson_bounds  # vectorized Wilson bounds, as qc.drift.anchor_drift uses
from qc.drift import distribution_drift, lexical_diversity, semantic_diversity
from qc.gate import compare
from qc.sampling import stratified_sample

N_BINS = 10
DEFAULT_DIVERSITY_BATCHES = 20
TEXTS_PER_BATCH = 100
CROSS_FAMILY_ITEMS = 150     # bigger batches: cross-family disagreement on a fixed 1-in-k hash sample of items
# the most cross-family disagreement a labeler may show: the gate's default criterion (labelgate.gate) and the
# monitor's default per-batch threshold are this one number, so both pages show the same bar
CROSS_FAMILY_THRESHOLD = 0.35
# the most expected calibration error (10 uniform bins, on gold) a labeler's confidence may show: the gate's default
# criterion (ECE < this, over all its gold judgments) and the monitor's default per-batch threshold (a batch whose
# gold slice has ECE above it is blocked) are this one number, so both pages show the same bar (they once said 0.10
# and 0.15)
ECE_THRESHOLD = 0.10


@dataclass(frozen=True)
class Thresholds:
    """When a batch is blocked. None switches a rule off."""

    min_entropy_ratio: float | None = 0.5       # collapse: entropy below this share of the first batch's ...
    max_top_share: float | None = 0.9           # ... or one label above this share of the batch
    max_js: float | None = 0.1                  # Jensen-Shannon divergence (bits) from the first batch
    max_flip_rate: float | None = 0.15          # anchor labels changed since the first anchor run
    max_gold_drop: float | None = 0.10          # anchor agreement with gold fell this far below the first run's
    max_cross_family_disagreement: float | None = CROSS_FAMILY_THRESHOLD   # the gate's default too
    max_ece: float | None = ECE_THRESHOLD      # on the gold slice, when the labeler reports confidence; the gate's too
    min_auroc: float | None = None
    min_distinct_2: float | None = None         # lexical diversity of the outputs

    LABELS = {
        "min_entropy_ratio": "entropy ratio ≥", "max_top_share": "top-label share ≤", "max_js": "JS divergence <",
        "max_flip_rate": "anchor flip rate <", "max_gold_drop": "drop in anchor agreement with gold <",
        "max_cross_family_disagreement": "cross-family disagreement <", "max_ece": "ECE <",
        "min_auroc": "AUROC ≥", "min_distinct_2": "distinct-2 ≥",
    }

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
                raise ValueError(f"threshold {f.name} must be a number or empty; got {v!r}")
            if not 0 <= v <= 1:
                raise ValueError(f"threshold {f.name} must lie in [0, 1]; got {v}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> Thresholds:
        if not d:
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown monitor thresholds: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**{k: (None if v is None else float(v)) for k, v in d.items()})


def thresholds_for(db: Database, task: Task) -> Thresholds:
    saved = governance.load(db, task, "monitor_thresholds")
    return Thresholds.from_dict(saved.value if saved else None)


def save_thresholds(db: Database, task: Task, thresholds: Thresholds, *, user: User,
                    expected_version: int | None = None) -> int:
    """A lead saves the task's thresholds against the version loaded (None: the one in force now);
    see save_criteria in labelgate.gate for the errors."""
    if expected_version is None:
        saved = governance.load(db, task, "monitor_thresholds")
        expected_version = saved.version if saved else 0
    return governance.save(db, task, "monitor_thresholds", thresholds.to_dict(), default=Thresholds().to_dict(),
                           user=user, expected_version=expected_version)


def _bounds(task: Task):
    if task.kind == "ordinal":
        return tuple(task.spec["scale"])
    if task.kind == "continuous":
        return tuple(task.spec["range"])
    return None


# -- the anchor set ---------------------------------------------------------------------------
def draw_anchor_set(db: Database, task: Task, *, size: int, seed: int = 0, stratify_by: str | None = None,
                    created_by: str | None = None) -> list[str]:
    """Draw the task's fixed anchor set from its gold items (stratified, reproducible from `seed`).

    Every batch run re-labels it (as batch ``anchor:<batch>``); redrawing starts a new anchor
    history, so draw it once.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size: the anchor set needs at least 1 item; got {size!r}")
    gold = resolve_gold(db, task)
    if gold.labels.empty:
        raise ValueError(f"task {task.name} has no gold items yet: anchors are drawn from gold, so experts "
                         "must label the calibration set first")
    if size > gold.n_items:
        raise ValueError(f"size: only {gold.n_items} gold items can be anchors; got {size}")
    meta = item_store.item_meta_frame(db, task.task_id)
    meta = meta[meta["item_id"].isin(set(gold.labels["item_id"]))].reset_index(drop=True)
    if stratify_by:
        if stratify_by not in meta.columns:
            cols = [c for c in meta.columns if c != "item_id"]
            raise ValueError(f"stratify_by: no metadata column {stratify_by!r}; available: {', '.join(cols) or 'none'}")
        strata = strata_for(meta[stratify_by]).to_numpy(dtype=object)
    else:
        strata = np.array(["all"] * len(meta), dtype=object)
    idx = stratified_sample(strata, int(size), seed=seed)
    chosen = meta["item_id"].to_numpy()[np.asarray(idx)].tolist()
    item_store.record_set_draw(db, task.task_id, "anchor", chosen, seed=seed, stratify_by=stratify_by,
                               created_by=created_by)
    return chosen


def anchor_set(db: Database, task: Task) -> list[str]:
    return item_store.current_set(db, task.task_id, "anchor")


# -- per-batch metrics ------------------------------------------------------------------------
@dataclass(frozen=True)
class Monitor:
    """A labeler's batches, oldest first, with every metric, its breaches and whether it is blocked."""

    task: str
    labeler: str
    batches: pd.DataFrame       # one row per batch (see monitor())
    counts: pd.DataFrame        # batch x label counts
    thresholds: Thresholds
    n_anchor_items: int

    @property
    def latest(self) -> pd.Series | None:
        return self.batches.iloc[-1] if not self.batches.empty else None

    @property
    def blocked(self) -> pd.DataFrame:
        return self.batches[self.batches["blocked"]]


def monitor(db: Database, task: Task, labeler: str, *, thresholds: Thresholds | None = None,
            only_latest: bool = False, diversity_batches: int = DEFAULT_DIVERSITY_BATCHES,
            semantic: bool = True, gold: Gold | None = None) -> Monitor:
    """Per-batch metrics of one labeler (all versions) of a task, on one open of the database.

    With `only_latest`, the frame holds the latest batch only (what `gate check` needs); its
    baselines (the first batch's label distribution, the first anchor run, the cross-family item
    sample) still come from the whole history, so its row equals the full monitor's last row.
    Diversity is computed for the last `diversity_batches` batches (semantic diversity, which
    no threshold uses, only with `semantic`). `gold` saves loading it again when the caller has it.
    """
    with db.session() as s:
        return _monitor(s, task, labeler, thresholds=thresholds, only_latest=only_latest,
                        diversity_batches=diversity_batches, semantic=semantic, gold=gold)


def _monitor(db: Database, task: Task, labeler: str, *, thresholds: Thresholds | None, only_latest: bool,
             diversity_batches: int, semantic: bool, gold: Gold | None) -> Monitor:
    thresholds = thresholds or thresholds_for(db, task)
    kind, bounds, crit = task.kind, _bounds(task), task.criterion_name
    long = store.batch_label_counts(db, task.task_id, labeler, kind=kind, criterion=crit, bounds=bounds)
    info = _batch_info(long)
    anchors = anchor_set(db, task)
    if info.empty:
        return Monitor(task.name, labeler, info.assign(blocked=False, breaches=[[] for _ in range(len(info))]),
                       pd.DataFrame(), thresholds, len(anchors))
    history = list(info["batch"])                       # every batch, oldest first
    order = history[-1:] if only_latest else history    # the batches in the frame
    only = order if only_latest else None               # restricts the per-row queries
    out = info.set_index("batch").loc[order]
    since = _since(out["first_at"]) if only_latest else None   # lets DuckDB skip older row groups

    # label distribution: drift from the first batch with labels, over the labels seen in any batch
    own = long[~long["anchor_run"] & long["label"].notna()]
    counts = own.pivot_table(index="batch", columns="label", values="n", aggfunc="sum", fill_value=0)
    counts = counts.reindex([b for b in history if b in counts.index])
    if kind in ("categorical", "pairwise", "ordinal"):
        labels = [lab for lab in task.labels if lab in counts.columns] + \
                 [c for c in counts.columns if c not in task.labels]
        counts = counts.reindex(columns=labels, fill_value=0)
    if not counts.empty:
        dist = distribution_drift(counts.astype(float), counts.index[0],
                                  min_entropy_ratio=_or(thresholds.min_entropy_ratio, -1.0),
                                  max_share=_or(thresholds.max_top_share, 2.0))
        out = out.join(dist[["entropy", "entropy_ratio", "js", "top_label", "top_share", "collapsed"]])
        out["collapsed"] = out["collapsed"].astype("boolean").fillna(False).astype(bool)
    else:
        out = out.assign(entropy=np.nan, entropy_ratio=np.nan, js=np.nan, top_label=None, top_share=np.nan,
                         collapsed=False)
    counts = counts.reindex([b for b in order if b in counts.index])

    # anchors: every batch's agreement is needed for the first run (the baseline of the flip rate and gold drop)
    gold_labels = (gold if gold is not None else resolve_gold(db, task)).labels
    cols = ["anchor_n", "anchor_gold_agreement", "anchor_gold_low", "anchor_gold_high", "anchor_first_agreement",
            "flip_rate", "flip_low", "flip_high", "gold_drop", "first_anchor_batch"]
    out = out.assign(**{c: np.nan for c in cols})
    out["first_anchor_batch"] = None
    if anchors:
        a = store.anchor_agreement(db, task.task_id, labeler, anchors, gold_labels, kind=kind, criterion=crit,
                                   bounds=bounds)
        a = a.set_index("batch")
        with np.errstate(divide="ignore", invalid="ignore"):
            g_all = a["n_gold_same"] / a["n_gold"].where(a["n_gold"] > 0)
        first_b = a["first_batch"].iloc[0] if len(a) else None
        first_gold = g_all.get(first_b) if first_b is not None else None
        if first_gold is not None and pd.isna(first_gold):
            first_gold = None
        a = a[a.index.isin(out.index)]
        g_lo, g_hi = wilson_bounds(a["n_gold_same"], a["n_gold"], 0.95)
        f_lo, f_hi = wilson_bounds(a["n_first_same"], a["n_first"], 0.95)
        with np.errstate(divide="ignore", invalid="ignore"):
            g_est = a["n_gold_same"] / a["n_gold"].where(a["n_gold"] > 0)
            f_est = a["n_first_same"] / a["n_first"].where(a["n_first"] > 0)

        def col(values):
            return pd.Series(np.asarray(values, dtype=float), index=a.index).reindex(out.index)

        out["anchor_n"] = a["n_anchor"].reindex(out.index)
        out["first_anchor_batch"] = a["first_batch"].reindex(out.index)
        out["anchor_gold_agreement"] = col(g_est)
        out["anchor_gold_low"], out["anchor_gold_high"] = col(g_lo), col(g_hi)
        out["anchor_first_agreement"] = col(f_est)
        out["flip_rate"] = 1 - out["anchor_first_agreement"]
        out["flip_low"], out["flip_high"] = 1 - col(f_hi), 1 - col(f_lo)
        if first_gold is not None:
            out["gold_drop"] = first_gold - out["anchor_gold_agreement"]

    # cross-family disagreement (the item sample is set by the whole history's mean batch size)
    sample = cross_family_sample(info["n_labels"])
    x = store.cross_family(db, task.task_id, labeler, kind=kind, criterion=crit, bounds=bounds, only=only,
                           item_sample=sample, since=since).set_index("batch")
    out["cross_family_sample"] = sample
    out["cross_family_pairs"] = x["n_pairs"].reindex(out.index)
    out["cross_family_disagreement"] = (x["n_disagree"] / x["n_pairs"]).reindex(out.index)

    # confidence vs correctness on the gold slice
    edges = np.linspace(0.0, 1.0, N_BINS + 1)
    per_batch, per_bin = store.calibration_counts(db, task.task_id, labeler, gold_labels, edges, kind=kind,
                                                  criterion=crit, bounds=bounds, only=only, since=since)
    out = out.join(calibration_table(per_batch, per_bin))

    # diversity of the outputs, recent batches only
    out = out.assign(distinct_1=np.nan, distinct_2=np.nan, semantic_diversity=np.nan)
    recent = [b for b in history[-diversity_batches:] if b in out.index] if diversity_batches > 0 else []
    if recent:
        texts = store.output_texts(db, task.task_id, labeler, recent, kind=kind, criterion=crit,
                                   text_columns=list(task.text_columns), per_batch=TEXTS_PER_BATCH, bounds=bounds,
                                   since=_since(out.loc[recent, "first_at"]))
        for b, grp in texts.dropna(subset=["text"]).groupby("batch"):
            lex = lexical_diversity(grp["text"].tolist())
            out.loc[b, ["distinct_1", "distinct_2"]] = [lex["distinct_1"], lex["distinct_2"]]
            if semantic and len(grp) >= 2:
                out.loc[b, "semantic_diversity"] = semantic_diversity(grp["text"].tolist())["mean_cosine_distance"]

    out["breaches"] = [breaches(row, thresholds) for row in out.to_dict("records")]
    out["blocked"] = out["breaches"].map(bool)
    frame = out.reset_index().rename(columns={"index": "batch"})
    return Monitor(task.name, labeler, frame, counts, thresholds, len(anchors))


def _batch_info(long: pd.DataFrame) -> pd.DataFrame:
    """One row per batch, oldest first (by first label, then name): batch, first_at, n_labels (the
    batch's own rows), n_anchor_labels (rows of its anchor re-run), versions (comma-separated)."""
    cols = ["batch", "first_at", "n_labels", "n_anchor_labels", "versions"]
    if long.empty:
        return pd.DataFrame(columns=cols)
    n = long["n"].astype("int64")
    g = long.assign(own=n.where(~long["anchor_run"], 0), anc=n.where(long["anchor_run"], 0)).groupby("batch")
    out = pd.DataFrame({"first_at": g["first_at"].min(), "n_labels": g["own"].sum(), "n_anchor_labels": g["anc"].sum()})
    versions: dict[str, list[str]] = {}
    for b, v in sorted(set(zip(long["batch"].to_numpy(object), long["version"].to_numpy(object), strict=True))):
        versions.setdefault(b, []).append(v)
    out["versions"] = pd.Series({b: ",".join(vs) for b, vs in versions.items()}, dtype=object)
    return out.reset_index().sort_values(["first_at", "batch"]).reset_index(drop=True)[cols]


def _since(first_at: pd.Series):
    """The earliest first label of these batches, as a parameter for the store (None if unknown)."""
    t = pd.Timestamp(first_at.min()) if len(first_at) else pd.NaT
    return None if pd.isna(t) else t.to_pydatetime()


def cross_family_sample(n_labels: pd.Series) -> int:
    """k of the 1-in-k item sample of cross-family disagreement: about CROSS_FAMILY_ITEMS items per
    batch at the history's mean batch size (every item when there is one batch)."""
    if len(n_labels) <= 1:
        return 1
    return max(1, int(round(float(n_labels.mean()) / CROSS_FAMILY_ITEMS)))


def _or(v, default):
    return default if v is None else v


def calibration_table(per_batch: pd.DataFrame, per_bin: pd.DataFrame) -> pd.DataFrame:
    """calib_n, accuracy, auroc and ece per batch from the store's rank sums and bin sums.

    AUROC = (sum of the correct rows' mid-ranks - k(k+1)/2) / (k (n - k)) (Mann-Whitney, as
    qc.calibration.confidence_auroc_score; NaN when all rows are right or all wrong);
    ECE = sum over bins |n_correct - sum_conf| / n (as qc.calibration.expected_calibration_error).
    """
    cols = ["calib_n", "accuracy", "auroc", "ece"]
    if per_batch.empty:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="batch"), dtype=float)
    pb = per_batch.set_index("batch")
    n, k = pb["n"].astype(float), pb["n_correct"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        auroc = (pb["sum_rank_correct"] - k * (k + 1) / 2) / (k * (n - k))
    auroc = auroc.where((k > 0) & (k < n))
    gap = (per_bin["n_correct"] - per_bin["sum_conf"]).abs().groupby(per_bin["batch"]).sum()
    ece = gap.reindex(pb.index) / n
    return pd.DataFrame({"calib_n": n, "accuracy": k / n, "auroc": auroc, "ece": ece})


def breaches(row: dict, t: Thresholds) -> list[str]:
    """The thresholds a batch's metrics break, as sentences."""
    out = []

    def val(name):
        v = row.get(name)
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

    if bool(row.get("collapsed")):
        out.append(f"label distribution collapsed: '{row.get('top_label')}' holds {val('top_share'):.0%} of the labels,"
                   f" entropy {val('entropy_ratio') or 0:.0%} of the first batch's")
    checks = [
        ("js", t.max_js, ">", "label distribution drifted: JS divergence {v:.3f} from the first batch > {t:g}"),
        ("flip_rate", t.max_flip_rate, ">", "anchor drift: {v:.0%} of anchor labels flipped since the first "
                                            "anchor run > {t:.0%}"),
        ("gold_drop", t.max_gold_drop, ">", "anchor agreement with gold fell by {v:.0%} since the first anchor run "
                                            "> {t:.0%}"),
        ("cross_family_disagreement", t.max_cross_family_disagreement, ">",
         "cross-family disagreement {v:.0%} > {t:.0%}"),
        ("ece", t.max_ece, ">", "calibration: ECE {v:.3f} on the gold slice > {t:g}"),
        ("auroc", t.min_auroc, "<", "confidence AUROC {v:.2f} on the gold slice < {t:g}"),
        ("distinct_2", t.min_distinct_2, "<", "lexical diversity: distinct-2 {v:.2f} < {t:g}"),
    ]
    for name, limit, op, text in checks:
        v = val(name)
        if limit is None or v is None:
            continue
        # a batch must stay below a max (as the gate's "<" rules on the same metrics) and reach a min
        if not compare(float(v), "<" if op == ">" else ">=", limit):
            if op == ">" and compare(float(v), "<=", limit):   # at the bar itself: not above it
                text = text.replace(" > ", " ≥ ")
            elif f"{float(v):.0%}" == f"{limit:.0%}":  # 35.2% > 35% would read "35% > 35%"
                text = text.replace("{v:.0%}", "{v:.1%}")
            out.append(text.format(v=float(v), t=limit))
    return out
