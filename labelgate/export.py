"""Export a training set: the human gold plus a gated labeler's (corrected) LLM labels.

Rules:

- The labeler's current version must hold a fresh gate approval, unless a lead forces the export
  with a reason; every export is an audit row (kind ``export``), and a forced one is marked
  ``forced`` and names the lead and the reason.
- Human gold is never less than the task's human share (10-20%, default 10%; a lead sets it,
  see labelgate.governance); an export may ask for a larger share, never a smaller one. When
- The human rows come from a gold release: by default the latest (the one a fresh approval is
  on; the draft when the task has none). Another release needs a forced export, since the
  approval was not given on it.
  there are too few human rows, the export is refused with the number of LLM rows that fit, or,
  with `subsample`, a seeded random subset of that many LLM rows is exported, or, with
  `human_weight`, every LLM row is exported and a `weight` column (LLM rows 1, human rows the
  least weight >= 1 that gives them `human_share` of the total weight) keeps the human share in
  weight instead of in rows.
- Optional filters drop LLM rows where labelers of different families disagree on the item, or
  whose confidence is below a threshold (or unknown); the report counts what each removed.
- One LLM row per item (the most frequent label of its judgments, the mean for continuous tasks and
  the scale point nearest the mean for ordinal ones);
  items with gold are exported once, as human rows. An item whose judgments tie (two labels equally
  frequent: for a pairwise judge, typically the two presentation orders disagree) has no LLM label:
  it is left out and counted, rather than given the first label in sort order (which would turn a
  judge's position bias into a preference for output 1).

- Items people reviewed in a targeted review draw of this labeler (labelgate.targeted) are exported
  with the reviewer's label, source ``human_review``, in place of the labeler's: never subsampled
  or filtered, and counted with the LLM rows for the human share (which counts gold only).

Columns: item_id, source (human | llm | human_review), value, value_num, confidence, labeler, labeler_version,
correction_version (``<id>:<method>`` or empty), batch, gold_version, gold_release (empty: the draft).

With ``soft_labels``, every row also carries its item's human label distribution on the criterion
(first-round expert answers, as gold is derived from): categorical and pairwise ``human_count_<option>``
per option; ordinal and continuous ``human_mean`` and ``human_sd`` (sample standard deviation, empty
with fewer than two raters); both ``human_n_raters`` (0 on an item no expert answered).

A ``rationale`` column is added when any exported label has one: on a human row its experts'
("rater: why", joined with " | "), after the adjudicator's reason when people settled the item
("adjudicated by lead: why"); on a human_review row the reviewer's ("rater: why"); on an LLM row the
labeler's.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from labelgate import csv_out, gate, governance
from labelgate.auth import can_force_export
from labelgate.gold import resolve_gold
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
           "correction_version", "batch", "gold_version", "gold_release"]
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
    forced_by: str | None = None     # the lead who forced it, and why
    force_reason: str | None = None
    n_human: int = 0
    n_llm_available: int = 0         # LLM rows before filters
    removed: dict = field(default_factory=dict)   # filter -> LLM rows it removed
    n_llm_fit: int = 0               # LLM rows the human share allows
    subsampled: bool = False
    human_weight: float | None = None    # weight of each human row in a weighted export (LLM rows: 1)
    n_llm: int = 0                   # LLM rows exported
    n_review: int = 0                # rows whose label a person gave in a targeted review (human_review)
    correction: str | None = None
    correction_note: str = ""
    correction_warnings: list = field(default_factory=list)  # the Calibrate page's warnings of the correction
    gold_release: int | None = None  # the release the human rows come from (None: the draft)
    gold_version: str = ""
    path: str | None = None
    format: str | None = None
    criterion: str | None = None     # a task of several criteria: whose labels these are

    @property
    def n_rows(self) -> int:
        return self.n_human + self.n_llm + self.n_review

    def to_dict(self) -> dict:
        d = asdict(self) | {"n_rows": self.n_rows}
        if d["criterion"] is None:
            del d["criterion"]
        return d

    def summary(self) -> str:
        gold = f"gold release {self.gold_release}" if self.gold_release is not None else "the unreleased draft"
        parts = [f"{self.n_rows} rows: {self.n_human} human gold ({gold}) + {self.n_llm} LLM ({self.labeler} "
                 f"{self.labeler_version})" + (f" + {self.n_review} reviewed by people (human_review)"
                                               if self.n_review else "")]
        for name, n in self.removed.items():
            parts.append(f"filter '{name}' removed {n} LLM rows")
        if self.human_weight is not None:
            total = self.n_human * self.human_weight + self.n_llm
            share = self.n_human * self.human_weight / total if total else 0.0
            rows = self.n_human / self.n_rows if self.n_rows else 0.0
            parts.append(f"human rows are {rows:.1%} of the rows and, weighing {self.human_weight:.4g} each, "
                         f"{share:.1%} of the weight (at least {self.human_share:.0%})")
        if self.subsampled:
            parts.append(f"subsampled {self.n_llm} of {self.n_llm_available - sum(self.removed.values())} LLM rows "
                         f"to keep human labels at {self.human_share:.0%}")
        if self.correction:
            note = f" ({self.correction_note})" if self.correction_note else ""
            parts.append(f"correction {self.correction}{note}")
            parts.extend(f"WARNING: {w}" for w in self.correction_warnings)
        if self.forced:
            parts.append(f"FORCED by {self.forced_by} without a fresh approval ({self.approval}), because: "
                         f"{self.force_reason}; recorded in the audit log")
        return "; ".join(parts)


def format_for(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"out: the file name must end in .jsonl, .csv or .parquet; got {Path(path).name!r}")
    return FORMATS[suffix]


def task_human_share(db: Database, task: Task) -> float:
    """The least human share the task's exports keep (a lead's setting, else the default)."""
    saved = governance.load(db, task, "human_share")
    return float(saved.value) if saved else DEFAULT_HUMAN_SHARE


def save_human_share(db: Database, task: Task, share: float, *, user: User, expected_version: int | None = None) -> int:
    """A lead sets the task's least human share (see gate.save_criteria for the errors)."""
    _check_share(share)
    if expected_version is None:
        saved = governance.load(db, task, "human_share")
        expected_version = saved.version if saved else 0
    return governance.save(db, task, "human_share", round(float(share), 4), default=DEFAULT_HUMAN_SHARE, user=user,
                           expected_version=expected_version)


def _check_share(share) -> None:
    if isinstance(share, bool) or not isinstance(share, (int, float)) or \
            not MIN_HUMAN_SHARE - 1e-9 <= share <= MAX_HUMAN_SHARE + 1e-9:
        raise ValueError(f"human_share: human labels must be between 10% and 20% of the mix; got {share!r}")


def _check_force(user: User | None, reason: str | None) -> str:
    """The reason of a forced export, once it is known that a lead gives it."""
    if user is None or not can_force_export(user.role):
        who = f"{user.name} is {'an' if user.role[0] in 'aeiou' else 'a'} {user.role}" if user else "no user given"
        raise ExportRefused(f"only a lead can force an export without a fresh approval ({who})")
    reason = (reason or "").strip()
    if not reason:
        raise ExportRefused("a forced export needs a reason: say why these labels may train without a fresh approval")
    return reason


def max_llm_rows(n_human: int, human_share: float) -> int:
    """The most LLM rows that keep human rows at `human_share` of the mix or more."""
    return int(math.floor(n_human * (1 - human_share) / human_share + 1e-9))


def human_row_weight(n_human: int, n_llm: int, human_share: float) -> float:
    """The least weight >= 1 of each human row that gives human rows `human_share` of the total
    weight when every LLM row weighs 1: n_h w / (n_h w + n_llm) >= share."""
    if n_human == 0:
        raise ExportRefused("no human gold rows to weigh: a weighted export needs gold")
    return max(1.0, human_share * n_llm / ((1 - human_share) * n_human))


def _apply_correction(db: Database, task: Task, llm: pd.DataFrame, corr: dict | None) -> tuple[pd.DataFrame, str]:
    """Apply a saved correction (as the Calibrate page stored it) to one row per item."""
    from labelgate import calibrate as cal  # the one decoder of stored corrections

    if corr is None or llm.empty:
        return llm, ""
    stored = corr["params"]
    method = stored["method"]
    if method not in cal.correction_methods_of(task):
        raise ExportRefused(f"the saved correction #{corr['correction_id']} ({method}) is not one the export can "
                            f"apply to a {task.kind} task ({', '.join(cal.correction_methods_of(task))}); "
                            "save another correction on the Calibrate page")
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
    if task.kind == "continuous":
        lo, hi = task.spec["range"]
        out["value_num"] = np.clip(out["value_num"], lo, hi)
    return out, "labels corrected"


def _numeric_text(task: Task, v: pd.Series) -> pd.Series:
    if task.kind == "ordinal":
        return v.map(lambda x: f"{x:g}" if pd.notna(x) else None)
    return v.map(lambda x: repr(float(x)) if pd.notna(x) else None)


def prepare(db: Database, task: Task, labeler: str, *, human_share: float | None = None,
            subsample: bool = False, human_weight: bool = False, drop_family_disagreement: bool = False,
            min_confidence: float | None = None, force: bool = False, user: User | None = None,
            force_reason: str | None = None, seed: int = 0,
            gold_release: int | None = None, criterion: str | None = None,
            soft_labels: bool = False) -> tuple[pd.DataFrame, ExportReport]:
    """The export table and its report; raises ExportRefused when a rule forbids it.

    `human_share` None is the task's share. `force` (a lead, `user`, with a `force_reason`)
    exports without a fresh approval. `gold_release`: the release whose gold the human rows are
    (default: the latest, else the draft). `criterion`: for a task of several criteria, the one whose
    labels are exported (default: the first); the approval checked is the labeler's on the whole task.
    `soft_labels`: add each item's human label distribution (see the module's docstring).
    """
    whole = task
    if criterion is not None:
        try:
            task = task.criterion(criterion)
        except KeyError as exc:
            raise ValueError(f"criterion: {exc.args[0]}") from None
    if subsample and human_weight:
        raise ValueError("subsample and human_weight are two answers to too few human rows: choose one")
    floor = task_human_share(db, task)
    human_share = floor if human_share is None else human_share
    _check_share(human_share)
    if human_share < floor - 1e-9:
        raise ValueError(f"human_share: {task.name}'s exports keep at least {floor:.0%} human labels (a lead's "
                         f"setting on the Gate page); got {human_share:.0%}")
    if force:
        force_reason = _check_force(user, force_reason)
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise ValueError(f"min_confidence must lie in [0, 1]; got {min_confidence}")
    gold = resolve_gold(db, task, gold_release)
    st = gate.status(db, whole, labeler)
    fresh = st.fresh_approval and st.current.gold_release == gold.release
    if not fresh and not force:
        why = st.describe() if not st.fresh_approval else \
            f"it was approved on {st.current.gold_name}, not on {gold.name}"
        raise ExportRefused(f"{labeler} has no fresh gate approval for {gold.name} ({why}); "
                            "export anyway with force (recorded in the audit log)")
    version = st.current.labeler_version
    corr = current_correction(db, task.task_id, labeler, version, criterion=task.criterion_name)
    forced = not fresh
    report = ExportReport(task.name, labeler, version, st.describe(), forced, float(human_share),
                          forced_by=user.name if forced else None, force_reason=force_reason if forced else None,
                          correction=f"{corr['correction_id']}:{corr['method']}" if corr else None,
                          gold_release=gold.release, gold_version=gold.version, criterion=criterion)

    human = pd.DataFrame({"item_id": gold.labels["item_id"], "source": "human", "value": gold.labels["value"],
                          "value_num": gold.labels["value_num"], "confidence": np.nan, "labeler": None,
                          "labeler_version": None, "correction_version": None, "batch": None,
                          "gold_version": gold.version, "gold_release": gold.release})
    report.n_human = len(human)

    llm = store.llm_items(db, task.task_id, labeler, version, kind=task.kind, criterion=task.criterion_name)
    llm = llm[~llm["item_id"].isin(set(gold.labels["item_id"]))]
    # a person's review answer replaces the labeler's label, whatever the monitor or a filter says of the latter
    reviewed = _reviewed(db, task, labeler)
    is_rev = llm["item_id"].isin(set(reviewed["item_id"]))
    review = llm[is_rev].drop(columns=["value", "value_num"]).merge(reviewed, on="item_id")
    llm = llm[~is_rev]
    report.n_review = len(review)
    report.n_llm_available = len(llm)
    tied = llm["tied"].fillna(False).astype(bool)
    if tied.any():
        why = "the two presentation orders disagree" if task.kind == "pairwise" else "two labels equally frequent"
        report.removed[f"no majority label: the judgments tie ({why})"] = int(tied.sum())
        llm = llm[~tied]
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
    if corr is not None:
        from labelgate import calibrate as cal

        report.correction_warnings = cal.cv_warnings(corr.get("cv_metrics"))
    if task.kind == "ordinal":   # a training label is a scale point: the nearest to the (corrected) mean
        lo, hi = task.spec["scale"]
        llm = llm.assign(value_num=np.clip(np.round(llm["value_num"]), lo, hi))
    if task.is_numeric:
        llm = llm.assign(value=_numeric_text(task, llm["value_num"]))

    if drop_family_disagreement:
        bad = set(store.family_disagreement_items(db, task.task_id, labeler, version, kind=task.kind,
                                                  criterion=task.criterion_name, bounds=_bounds(task)))
        keep = ~llm["item_id"].isin(bad)
        report.removed["labelers of different families disagree"] = int((~keep).sum())
        llm = llm[keep]
    if min_confidence is not None:
        keep = llm["confidence"].notna() & (llm["confidence"] >= min_confidence)
        report.removed[f"confidence below {min_confidence:g} or unknown"] = int((~keep).sum())
        llm = llm[keep]

    report.n_llm_fit = max(0, max_llm_rows(report.n_human, human_share) - report.n_review)
    if human_weight:
        report.human_weight = human_row_weight(report.n_human, len(llm) + report.n_review, human_share)
    elif len(llm) > report.n_llm_fit:
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
                             "batch": llm["batch"], "gold_version": gold.version, "gold_release": gold.release})
    review_rows = pd.DataFrame({"item_id": review["item_id"], "source": "human_review", "value": review["value"],
                                "value_num": review["value_num"], "confidence": np.nan, "labeler": labeler,
                                "labeler_version": version, "correction_version": None, "batch": review["batch"],
                                "gold_version": gold.version, "gold_release": gold.release})
    frames = [f for f in (human, llm_rows, review_rows) if not f.empty]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    columns = COLUMNS
    if report.human_weight is not None:
        table["weight"] = np.where(table["source"] == "human", report.human_weight, 1.0)
        columns = [*COLUMNS, "weight"]
    table = table.reindex(columns=columns).astype({"item_id": "string", "source": "string", "value": "string",
                                   "value_num": "float64", "confidence": "float64", "labeler": "string",
                                   "labeler_version": "string", "correction_version": "string", "batch": "string",
                                   "gold_version": "string", "gold_release": "Int64"})
    why = _rationales(db, task, labeler, version, table, gold, review)
    if why.notna().any():   # a rationale column only when some label has one
        table["rationale"] = why.astype("string")
    if soft_labels:
        table = table.merge(soft_label_columns(db, task, table["item_id"]), on="item_id", how="left")
    return table, report


def _rationales(db: Database, task: Task, labeler: str, version: str, table: pd.DataFrame, gold,
                review: pd.DataFrame) -> pd.Series:
    """Each row's rationale: on a human row the item's experts' ("rater: why", joined with " | "), after the
    reason of the adjudication that set its gold ("adjudicated by who: why"); on a human_review row the
    reviewer's ("rater: why"); on an LLM row the labeler's (the first of its judgments of the item that has
    one); None when there is none."""
    from labelgate.store.gold import expert_labels, latest_adjudications, llm_judgments

    experts = expert_labels(db, task.task_id, criterion=task.criterion_name)
    experts = experts[experts["rationale"].notna() & (experts["rationale"].astype(str).str.strip() != "")]
    human = experts.groupby("item_id").apply(
        lambda g: " | ".join(f"{r}: {w}" for r, w in zip(g["rater"], g["rationale"], strict=True)),
        include_groups=False) if not experts.empty else pd.Series(dtype=object)
    llm = llm_judgments(db, task.task_id, labelers=[(labeler, version)], criterion=task.criterion_name)
    llm = llm[llm["rationale"].notna() & (llm["rationale"].astype(str).str.strip() != "")]
    llm = llm.drop_duplicates("item_id").set_index("item_id")["rationale"]
    # an adjudicated gold: the reason of the latest adjudication that gave the item this value
    adjudicated = set(gold.labels.loc[gold.labels["source"] == "adjudicated", "item_id"])
    adj = latest_adjudications(db, task.task_id, criterion=task.criterion_name)
    adj = adj[adj["item_id"].isin(adjudicated) & adj["reason"].notna()
              & (adj["reason"].astype(str).str.strip() != "")]
    settled = pd.Series({r.item_id: f"adjudicated by {r.decided_by}: {str(r.reason).strip()}"
                         for r in adj.itertuples()}, dtype=object)
    human = pd.concat([settled, human]).groupby(level=0, sort=False).agg(" | ".join) if len(settled) else human
    reviewed = review[review["review_rationale"].notna()
                      & (review["review_rationale"].astype(str).str.strip() != "")] if len(review) else review
    by_reviewer = pd.Series({r.item_id: f"{r.review_rater}: {str(r.review_rationale).strip()}"
                             for r in reviewed.itertuples()}, dtype=object)
    ids = table["item_id"].astype(str)
    out = pd.Series([None] * len(table), index=table.index, dtype=object)
    is_h, is_l, is_r = table["source"] == "human", table["source"] == "llm", table["source"] == "human_review"
    out[is_h] = ids[is_h].map(human).astype(object)
    out[is_l] = ids[is_l].map(llm).astype(object)
    out[is_r] = ids[is_r].map(by_reviewer).astype(object)
    return out.where(out.notna(), None)


def soft_label_columns(db: Database, task: Task, item_ids: pd.Series) -> pd.DataFrame:
    """Per item of `item_ids`: the human label distribution on `task`'s (first) criterion."""
    from labelgate.store.gold import expert_labels

    experts = expert_labels(db, task.task_id, criterion=task.criterion_name)
    items = pd.Index(pd.unique(item_ids.astype(str)), name="item_id")
    g = experts.groupby("item_id")
    n = g["rater"].nunique().reindex(items, fill_value=0).astype("Int64")
    if task.is_numeric:
        out = pd.DataFrame({"human_mean": g["value_num"].mean().reindex(items).astype("float64"),
                            "human_sd": g["value_num"].std().reindex(items).astype("float64")}, index=items)
    else:
        counts = experts.assign(value=experts["value"].astype(str)).groupby(["item_id", "value"]).size() \
            .unstack(fill_value=0).reindex(index=items, columns=task.labels, fill_value=0).fillna(0)
        out = pd.DataFrame({f"human_count_{o}": counts[o].astype("Int64") for o in task.labels}, index=items)
    out["human_n_raters"] = n
    return out.reset_index().astype({"item_id": "string"})


def _reviewed(db: Database, task: Task, labeler: str) -> pd.DataFrame:
    """item_id, value, value_num, review_rater, review_rationale: the first reviewer's label on each item
    reviewed in a draw of this labeler."""
    from labelgate.store import review_sets

    drawn = review_sets.drawn_items(db, task.task_id)
    answers = review_sets.review_answers(db, task.task_id, criterion=task.criterion_name).drop_duplicates("item_id")
    mine = set(drawn.loc[drawn["labeler"] == labeler, "item_id"])
    return answers.loc[answers["item_id"].isin(mine), ["item_id", "value", "value_num", "rater", "rationale"]] \
        .rename(columns={"rater": "review_rater", "rationale": "review_rationale"})


def serialize(table: pd.DataFrame, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "jsonl":
        buf.write(table.to_json(orient="records", lines=True, force_ascii=False).encode())
    elif fmt == "csv":
        buf.write(csv_out.to_csv(table))  # formula cells neutralized
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
        gold_version=report.gold_version, gold_release=report.gold_release, correction_id=fp.correction_id,
        criteria=[], metrics={},
        result=report.to_dict(), verdict="fail" if report.forced else "pass", comment=report.summary(),
        forced=report.forced)


def export(db: Database, task: Task, labeler: str, out: str | Path, *, user: User, **options) -> ExportReport:
    """Prepare, write `out` (format from its suffix) and record the export."""
    fmt = format_for(out)
    table, report = prepare(db, task, labeler, user=user, **options)
    data = serialize(table, fmt)
    Path(out).write_bytes(data)
    report.path, report.format = str(out), fmt
    record(db, task.criterion(options["criterion"]) if options.get("criterion") else task, report, user)
    return report
