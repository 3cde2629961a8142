"""Export a training set: the human gold plus a gated labeler's (corrected) LLM labels.

Rules:

- The labeler's current version must hold a fresh gate approval, unless `force` is given; every
  export is an audit row (kind ``export``), and a forced one is marked ``forced``.
- Human gold is never less than `human_share` of the rows (default 10%, settable 10-20%). When
  there are too few human rows, the export is refused with the number of LLM rows that fit, or,
  with `subsample`, a seeded random subset of that many LLM rows is exported.
- Optional filters drop LLM rows where labelers of different families disagree on the item, or
  whose confidence is below a threshold (or unknown); the report counts what each removed.
- One LLM row per item (the most frequent label of its judgments, the mean for numeric kinds);
  items with gold are exported once, as human rows.

Columns: item_id, source (human | llm), value, value_num, confidence, labeler, labeler_version,
correction_version (``<id>:<method>`` or empty), batch, gold_version.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from labelgate import gate
from labelgate.gold import load_gold
from labelgate.monitor import _bounds
from labelgate.store import Database
from labelgate.store import gate as gate_store
from labelgate.store import monitor as store
from labelgate.store.corrections import current_correction
from labelgate.store.users import User
from labelgate.tasks import Task
from qc.correction import apply_linear_covariates, apply_platt, params_from_dict

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
COLUMNS = ["item_id", "source", "value", "value_num", "confidence", "labeler", "labeler_version",
           "correction_version", "batch", "gold_version"]
DEFAULT_HUMAN_SHARE = 0.10
MIN_HUMAN_SHARE, MAX_HUMAN_SHARE = 0.10, 0.20


class ExportRefused(ValueError):
    """The export would break a rule; the message says which and what to do."""


@dataclass
class ExportReport:
    task: str
    labeler: str
    labeler_version: str
    approval: str                    # the gate status, as a sentence
    forced: bool
    human_share: float
    n_human: int = 0
    n_llm_available: int = 0         # LLM rows before filters
    removed: dict = field(default_factory=dict)   # filter -> LLM rows it removed
    n_llm_fit: int = 0               # LLM rows the human share allows
    subsampled: bool = False
    n_llm: int = 0                   # LLM rows exported
    correction: str | None = None
    correction_note: str = ""
    path: str | None = None
    format: str | None = None

    @property
    def n_rows(self) -> int:
        return self.n_human + self.n_llm

    def to_dict(self) -> dict:
        return asdict(self) | {"n_rows": self.n_rows}

    def summary(self) -> str:
        parts = [f"{self.n_rows} rows: {self.n_human} human gold + {self.n_llm} LLM ({self.labeler} "
                 f"{self.labeler_version})"]
        for name, n in self.removed.items():
            parts.append(f"filter '{name}' removed {n} LLM rows")
        if self.subsampled:
            parts.append(f"subsampled {self.n_llm} of {self.n_llm_available - sum(self.removed.values())} LLM rows "
                         f"to keep human labels at {self.human_share:.0%}")
        if self.correction:
            note = f" ({self.correction_note})" if self.correction_note else ""
            parts.append(f"correction {self.correction}{note}")
        if self.forced:
            parts.append(f"FORCED without a fresh approval ({self.approval}); recorded in the audit log")
        return "; ".join(parts)


def format_for(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"out: the file name must end in .jsonl, .csv or .parquet; got {Path(path).name!r}")
    return FORMATS[suffix]


def max_llm_rows(n_human: int, human_share: float) -> int:
    """The most LLM rows that keep human rows at `human_share` of the mix or more."""
    return int(math.floor(n_human * (1 - human_share) / human_share + 1e-9))


def _apply_correction(db: Database, task: Task, llm: pd.DataFrame, corr: dict | None) -> tuple[pd.DataFrame, str]:
    """Apply a saved correction (as the Calibrate page stored it) to one row per item."""
    from labelgate import calibrate as cal  # the one decoder of stored corrections

    if corr is None or llm.empty:
        return llm, ""
    stored = corr["params"]
    method = stored["method"]
    out = llm.copy()
    if method == "platt":
        known = out["confidence"].notna()
        p = params_from_dict(stored["params"])
        out.loc[known, "confidence"] = apply_platt(p, out.loc[known, "confidence"].to_numpy(float))
        return out, "confidence recalibrated"
    if not task.is_numeric:
        return out, f"{method} corrects class shares, not single labels: labels exported as given"
    x = out["value_num"].to_numpy(float)
    if method == "linear_covariates":
        p = params_from_dict(stored["params"])
        X = cal._covariates(cal.item_frame(db, task), out, stored["covariates"])
        out["value_num"] = apply_linear_covariates(p, x, X)
    else:
        out["value_num"] = cal.correction_curve(task, stored, x)
    if task.kind == "ordinal":
        lo, hi = task.spec["scale"]
        out["value_num"] = np.clip(np.round(out["value_num"]), lo, hi)
    elif task.kind == "continuous":
        lo, hi = task.spec["range"]
        out["value_num"] = np.clip(out["value_num"], lo, hi)
    return out, "labels corrected"


def _numeric_text(task: Task, v: pd.Series) -> pd.Series:
    if task.kind == "ordinal":
        return v.map(lambda x: f"{x:g}" if pd.notna(x) else None)
    return v.map(lambda x: repr(float(x)) if pd.notna(x) else None)


def prepare(db: Database, task: Task, labeler: str, *, human_share: float = DEFAULT_HUMAN_SHARE,
            subsample: bool = False, drop_family_disagreement: bool = False, min_confidence: float | None = None,
            force: bool = False, seed: int = 0) -> tuple[pd.DataFrame, ExportReport]:
    """The export table and its report; raises ExportRefused when a rule forbids it."""
    if isinstance(human_share, bool) or not isinstance(human_share, (int, float)) or \
            not MIN_HUMAN_SHARE - 1e-9 <= human_share <= MAX_HUMAN_SHARE + 1e-9:
        raise ValueError(f"human_share: human labels must be between 10% and 20% of the mix; got {human_share!r}")
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise ValueError(f"min_confidence must lie in [0, 1]; got {min_confidence}")
    st = gate.status(db, task, labeler)
    if not st.fresh_approval and not force:
        raise ExportRefused(f"{labeler} has no fresh gate approval ({st.describe()}); "
                            "export anyway with force (recorded in the audit log)")
    version = st.current.labeler_version
    corr = current_correction(db, task.task_id, labeler, version)
    report = ExportReport(task.name, labeler, version, st.describe(), not st.fresh_approval, float(human_share),
                          correction=f"{corr['correction_id']}:{corr['method']}" if corr else None)

    gold = load_gold(db, task)
    human = pd.DataFrame({"item_id": gold.labels["item_id"], "source": "human", "value": gold.labels["value"],
                          "value_num": gold.labels["value_num"], "confidence": np.nan, "labeler": None,
                          "labeler_version": None, "correction_version": None, "batch": None,
                          "gold_version": gold.version})
    report.n_human = len(human)

    llm = store.llm_items(db, task.task_id, labeler, version, kind=task.kind)
    llm = llm[~llm["item_id"].isin(set(gold.labels["item_id"]))]
    report.n_llm_available = len(llm)
    # labels from a batch the monitor blocked (drift, collapse) never train anything
    from labelgate.monitor import monitor

    batches = monitor(db, task, labeler, semantic=False, gold=gold).batches
    blocked = set(batches.loc[batches["blocked"].astype(bool), "batch"]) if not batches.empty else set()
    if blocked:
        keep = ~llm["batch"].isin(blocked)
        names = ", ".join(sorted(blocked)[:5]) + (", ..." if len(blocked) > 5 else "")
        report.removed[f"in a batch the monitor blocked ({names})"] = int((~keep).sum())
        llm = llm[keep]
    llm, report.correction_note = _apply_correction(db, task, llm, corr)
    if task.is_numeric:
        llm = llm.assign(value=_numeric_text(task, llm["value_num"]))

    if drop_family_disagreement:
        bad = set(store.family_disagreement_items(db, task.task_id, labeler, version, kind=task.kind,
                                                  bounds=_bounds(task)))
        keep = ~llm["item_id"].isin(bad)
        report.removed["labelers of different families disagree"] = int((~keep).sum())
        llm = llm[keep]
    if min_confidence is not None:
        keep = llm["confidence"].notna() & (llm["confidence"] >= min_confidence)
        report.removed[f"confidence below {min_confidence:g} or unknown"] = int((~keep).sum())
        llm = llm[keep]

    report.n_llm_fit = max_llm_rows(report.n_human, human_share)
    if len(llm) > report.n_llm_fit:
        if not subsample:
            raise ExportRefused(
                f"too few human labels: {report.n_human} human gold rows allow at most {report.n_llm_fit} LLM rows "
                f"at a {human_share:.0%} human share, and {len(llm)} LLM rows remain after the filters. "
                f"Subsample to export a random {report.n_llm_fit} of them, or add gold.")
        llm = llm.sample(n=report.n_llm_fit, random_state=seed).sort_values("item_id")
        report.subsampled = True
    report.n_llm = len(llm)
    llm_rows = pd.DataFrame({"item_id": llm["item_id"], "source": "llm", "value": llm["value"],
                             "value_num": llm["value_num"], "confidence": llm["confidence"], "labeler": labeler,
                             "labeler_version": version, "correction_version": report.correction,
                             "batch": llm["batch"], "gold_version": gold.version})
    frames = [f for f in (human, llm_rows) if not f.empty]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    table = table[COLUMNS].astype({"item_id": "string", "source": "string", "value": "string",
                                   "value_num": "float64", "confidence": "float64", "labeler": "string",
                                   "labeler_version": "string", "correction_version": "string", "batch": "string",
                                   "gold_version": "string"})
    return table, report


def serialize(table: pd.DataFrame, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "jsonl":
        buf.write(table.to_json(orient="records", lines=True, force_ascii=False).encode())
    elif fmt == "csv":
        buf.write(table.to_csv(index=False).encode())
    elif fmt == "parquet":
        table.to_parquet(buf, index=False)
    else:
        raise ValueError(f"format must be jsonl, csv or parquet; got {fmt!r}")
    return buf.getvalue()


def record(db: Database, task: Task, report: ExportReport, user: User) -> int:
    """The export's audit row (forced when made without a fresh approval)."""
    fp = gate.fingerprint(db, task, report.labeler)
    return gate_store.append_event(
        db, task_id=task.task_id, labeler=report.labeler, kind="export", actor=user.name, actor_role=user.role,
        labeler_version=fp.labeler_version, task_revision=fp.task_revision, task_spec=fp.task_spec,
        gold_version=fp.gold_version, correction_id=fp.correction_id, criteria=[], metrics={},
        result=report.to_dict(), verdict="fail" if report.forced else "pass", comment=report.summary(),
        forced=report.forced)


def export(db: Database, task: Task, labeler: str, out: str | Path, *, user: User, **options) -> ExportReport:
    """Prepare, write `out` (format from its suffix) and record the export."""
    fmt = format_for(out)
    table, report = prepare(db, task, labeler, **options)
    data = serialize(table, fmt)
    Path(out).write_bytes(data)
    report.path, report.format = str(out), fmt
    record(db, task, report, user)
    return report
