"""The gate: criteria per task, evaluating a labeler with its evidence, a lead's decision, staleness.

Every evaluation and decision appends an audit row (labelgate/store/gate.py) holding who, when,
and the fingerprint of what was judged: the labeler version, the task revision and spec hash
(kind, label options, rubric), the gold version and the labeler version's current correction.

An approval is *fresh* while that fingerprint still matches the present one; otherwise it is
*stale*, and `status()` says which part changed. Only the latest decision of a labeler counts:
a refusal after an approval withdraws it.

Default criteria (qc.gate.default_criteria, adjusted; a task's saved criteria replace them):

- ``n_gold`` >= 200 gold items the labeler was scored on;
- lower 95% bound of Cohen's kappa (categorical, pairwise) or Krippendorff's alpha (ordinal,
  continuous) against gold > 0.4 (moderate agreement, with confidence); qc's 0.6 is a strict
  bar a lead can restore on the Gate page;
- ``expert_alpha`` >= 0.667, *optional*: it is not evaluable when the gold comes from a single
  rater (an external reference such as the demo's MT-Bench majority, or one expert). It is then
  skipped and the evaluation says so; with two or more experts it is computed and must pass;
- optional ``ece`` < 0.1 (only when the labeler reports confidence), ``anchor_flip_rate`` < 0.15
  (latest batch against the first anchor run), ``cross_family_disagreement`` < 0.35 (qc's 0.3 is
  reached by a labeler that matches gold exactly whenever the other families err on 30% of items).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from labelgate.auth import can_decide_gate
from labelgate.gold import load_gold
from labelgate.monitor import Monitor, monitor, thresholds_for
from labelgate.store import Database
from labelgate.store import gate as gate_store
from labelgate.store import gold as gold_store
from labelgate.store import monitor as monitor_store
from labelgate.store.corrections import current_correction
from labelgate.store.labelers import current_versions
from labelgate.store.users import User
from labelgate.tasks import Task
from qc.estimate import Estimate
from qc.gate import Criterion, GateResult, evaluate_gate
from qc.gate import default_criteria as qc_default_criteria

AGREEMENT_THRESHOLD = 0.4
CROSS_FAMILY_THRESHOLD = 0.35
MIN_CONFIDENCE_ROWS = 20


class GatePermissionError(PermissionError):
    """Only a lead approves or refuses a labeler."""


def default_criteria(task: Task) -> list[Criterion]:
    out = []
    for c in qc_default_criteria(task.kind):
        if c.metric in ("kappa", "alpha"):
            c = replace(c, threshold=AGREEMENT_THRESHOLD)
        elif c.metric == "expert_alpha":
            c = replace(c, optional=True,
                        description="the gold itself is reliable (Krippendorff's tentative bound); not evaluable "
                                    "and skipped when the gold comes from a single rater")
        elif c.metric == "anchor_flip_rate":
            c = replace(c, threshold=0.15)
        elif c.metric == "cross_family_disagreement":
            c = replace(c, threshold=CROSS_FAMILY_THRESHOLD)
        out.append(c)
    return out


def criteria_for(db: Database, task: Task) -> list[Criterion]:
    """The task's saved criteria, else the defaults."""
    saved = gate_store.current_criteria(db, task.task_id)
    return [Criterion.from_dict(d) for d in saved] if saved else default_criteria(task)


def save_criteria(db: Database, task: Task, criteria: list[Criterion], *, user: User) -> None:
    if user.role not in ("engineer", "lead"):
        raise GatePermissionError(f"{user.name} ({user.role}) may not change gate criteria")
    if not criteria:
        raise ValueError("criteria: a gate needs at least one criterion")
    gate_store.save_criteria(db, task.task_id, [c.to_dict() for c in criteria], created_by=user.name)


@dataclass(frozen=True)
class Fingerprint:
    """What an approval is about; a change to any part makes it stale."""

    labeler_version: str
    task_revision: int
    task_spec: str
    gold_version: str
    correction_id: int | None

    def changes_from(self, old: Fingerprint) -> list[str]:
        """Sentences naming what changed from `old` (an approval) to self (now)."""
        out = []
        if old.labeler_version != self.labeler_version:
            out.append(f"the labeler changed (model, prompt or settings): version {old.labeler_version} was "
                       f"approved, the current version is {self.labeler_version}")
        if old.task_spec != self.task_spec:
            out.append(f"the task's rubric or label options changed: revision {old.task_revision} was approved, "
                       f"the task is at revision {self.task_revision}")
        if old.gold_version != self.gold_version:
            out.append(f"the gold labels changed: gold version {old.gold_version} was approved, "
                       f"the gold is now {self.gold_version}")
        if old.correction_id != self.correction_id:
            def name(c):
                return f"correction #{c}" if c is not None else "no correction"
            out.append(f"the correction changed: {name(old.correction_id)} was approved, "
                       f"the labeler now has {name(self.correction_id)}")
        return out


def _labeler_row(db: Database, task: Task, labeler: str) -> pd.Series:
    versions = current_versions(db, task.task_id)
    row = versions[versions["name"] == labeler]
    if row.empty:
        known = ", ".join(versions["name"]) or "none"
        raise LookupError(f"labeler: no labeler named {labeler!r} for task {task.name}; known: {known}")
    return row.iloc[0]


def fingerprint(db: Database, task: Task, labeler: str, *, gold_version: str | None = None) -> Fingerprint:
    version = _labeler_row(db, task, labeler)["version"]
    corr = current_correction(db, task.task_id, labeler, version)
    gold_version = gold_version or load_gold(db, task).version
    return Fingerprint(version, task.revision, task.spec_hash(), gold_version,
                       int(corr["correction_id"]) if corr else None)


@dataclass(frozen=True)
class Evaluation:
    task: Task
    labeler: str
    family: str
    fingerprint: Fingerprint
    criteria: tuple[Criterion, ...]
    metrics: dict          # name -> Estimate | float | None
    notes: dict            # name -> a sentence of evidence
    result: GateResult

    @property
    def verdict(self) -> str:
        return self.result.verdict

    def metrics_json(self) -> dict:
        out = {}
        for k, v in self.metrics.items():
            if isinstance(v, Estimate):
                out[k] = {"estimate": _num(v.estimate), "ci_low": _num(v.ci_low), "ci_high": _num(v.ci_high),
                          "n": int(v.n)}
            elif v is None:
                out[k] = None
            else:
                out[k] = {"estimate": _num(v)}
        return out

    def evidence(self) -> pd.DataFrame:
        """One row per criterion: what is required, what was observed, the result and the evidence."""
        rows = []
        for r in self.result.results:
            c = r.criterion
            what = c.metric if c.use == "estimate" else f"{c.metric} ({c.use.replace('_', ' ')})"
            rows.append({"criterion": c.name, "required": f"{what} {c.comparator} {c.threshold:g}"
                                                          + (f", n ≥ {c.min_n}" if c.min_n else ""),
                         "observed": r.observed, "result": {True: "pass", False: "fail", None: "skipped"}[r.passed],
                         "evidence": self.notes.get(c.metric, ""), "reason": r.reason})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        return {"task": self.task.name, "labeler": self.labeler, "verdict": self.verdict,
                "fingerprint": self.fingerprint.__dict__, "metrics": self.metrics_json(),
                "criteria": self.evidence().to_dict("records")}


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _fmt(e: Estimate) -> str:
    return f"{e.estimate:.3f} [{e.ci_low:.3f}, {e.ci_high:.3f}]"


def evaluate(db: Database, task: Task, labeler: str, *, criteria: list[Criterion] | None = None,
             monitor_data: Monitor | None = None, n_resamples: int = 1000, seed: int = 0) -> Evaluation:
    """Compute every metric the criteria name for the labeler's current version and evaluate them."""
    # scipy and the agreement statistics: imported here, so `gate check` (and the CLI) start without them
    from labelgate.analysis import human_reliability, judgments_vs_gold, labeler_metrics
    from qc.calibration import expected_calibration_error
    from qc.uncertainty import wilson_interval

    row = _labeler_row(db, task, labeler)
    version, family = row["version"], row["family"]
    criteria = list(criteria) if criteria is not None else criteria_for(db, task)
    gold = load_gold(db, task)
    fp = fingerprint(db, task, labeler, gold_version=gold.version)
    judgments = gold_store.llm_judgments(db, task.task_id, labelers=[(labeler, version)])
    pairs = judgments_vs_gold(task, gold, judgments)
    metrics: dict = {}
    notes: dict = {}

    metrics["n_gold"] = float(pairs.n_items)
    notes["n_gold"] = (f"{pairs.n_items} gold items labeled by version {version} ({len(pairs.frame)} judgments); "
                       f"{gold.n_items} gold items, {gold.n_disputed} disputed")

    agree_name = "kappa" if task.kind in ("categorical", "pairwise") else "alpha"
    metric = "cohen_kappa" if agree_name == "kappa" else "krippendorff_alpha"
    est = labeler_metrics(task, pairs, metrics=[metric], n_resamples=n_resamples, seed=seed).get(metric)
    metrics[agree_name] = est
    notes[agree_name] = (f"{metric} {_fmt(est)} on {est.n} items ({est.method})" if est
                         else "not computable: no judgments on gold items")

    experts = gold_store.expert_labels(db, task.task_id)
    humans = human_reliability(task, experts, n_resamples=200, seed=seed)
    metrics["expert_alpha"] = humans["krippendorff_alpha"]
    if humans["krippendorff_alpha"] is None:
        notes["expert_alpha"] = (f"not evaluable: the gold comes from {humans['n_raters']} rater"
                                 f"{'' if humans['n_raters'] == 1 else 's'}, so the experts' agreement is unknown")
    else:
        notes["expert_alpha"] = f"Krippendorff's alpha among {humans['n_raters']} experts " \
                                f"{_fmt(humans['krippendorff_alpha'])}"

    conf = pairs.frame.dropna(subset=["confidence"])
    if len(conf) >= MIN_CONFIDENCE_ROWS:
        correct = (conf["gold"].astype(str) == conf["pred"].astype(str)).to_numpy()
        metrics["ece"] = expected_calibration_error(conf["confidence"].to_numpy(float), correct)
        notes["ece"] = f"ECE over {len(conf)} judgments with a confidence (10 uniform bins)"
    else:
        metrics["ece"] = None
        notes["ece"] = "not evaluable: the labeler reports no confidence" if conf.empty else \
            f"not evaluable: only {len(conf)} judgments with a confidence"

    m = monitor_data if monitor_data is not None else monitor(db, task, labeler, only_latest=True,
                                                                diversity_batches=0, gold=gold)
    latest = m.latest
    if latest is not None and latest["batch"] == latest.get("first_anchor_batch"):
        metrics["anchor_flip_rate"] = None  # the first anchor run compared with itself says nothing
        notes["anchor_flip_rate"] = (f"not evaluable: batch {latest['batch']} is the first anchor run; drift shows "
                                     "from the next batch on")
    elif latest is not None and not pd.isna(latest.get("flip_rate")):
        rate = float(latest["flip_rate"])
        # the monitor's Wilson bounds, on the judgments actually compared with the first run
        metrics["anchor_flip_rate"] = Estimate(rate, float(latest["flip_low"]), float(latest["flip_high"]),
                                               int(latest["anchor_n"]), "wilson (monitor)")
        notes["anchor_flip_rate"] = (f"batch {latest['batch']}: {rate:.1%} of the anchor judgments compared differ "
                                     f"from the first anchor run ({latest['first_anchor_batch']})")
    else:
        metrics["anchor_flip_rate"] = None
        notes["anchor_flip_rate"] = ("not evaluable: no anchor set drawn" if m.n_anchor_items == 0
                                     else "not evaluable: no anchor re-labels yet")

    x = monitor_store.cross_family(db, task.task_id, labeler, kind=task.kind, bounds=_bounds(task),
                                   current_only=True)
    pairs_n, dis = int(x["n_pairs"].sum()), int(x["n_disagree"].sum())
    if pairs_n:
        metrics["cross_family_disagreement"] = wilson_interval(dis, pairs_n)
        notes["cross_family_disagreement"] = (f"{dis} of {pairs_n} (item, other-family labeler) pairs disagree "
                                              f"(families other than {family}; current versions)")
    else:
        metrics["cross_family_disagreement"] = None
        notes["cross_family_disagreement"] = "not evaluable: no labeler of another family labeled the same items"

    result = evaluate_gate(criteria, metrics)
    return Evaluation(task, labeler, family, fp, tuple(criteria), metrics, notes, result)


def _bounds(task: Task):
    from labelgate.monitor import _bounds as b

    return b(task)


def _record(db: Database, ev: Evaluation, user: User, kind: str, comment: str | None = None) -> int:
    fp = ev.fingerprint
    return gate_store.append_event(
        db, task_id=ev.task.task_id, labeler=ev.labeler, kind=kind, actor=user.name, actor_role=user.role,
        labeler_version=fp.labeler_version, task_revision=fp.task_revision, task_spec=fp.task_spec,
        gold_version=fp.gold_version, correction_id=fp.correction_id, criteria=[c.to_dict() for c in ev.criteria],
        metrics=ev.metrics_json(), result=ev.result.to_dict() | {"evidence": ev.notes}, verdict=ev.verdict,
        comment=comment)


def record_evaluation(db: Database, ev: Evaluation, user: User) -> int:
    """Append the evaluation to the audit log (anyone who may open the Gate page evaluates)."""
    return _record(db, ev, user, "evaluation")


def decide(db: Database, task: Task, labeler: str, *, user: User, decision: str, comment: str,
           criteria: list[Criterion] | None = None) -> tuple[int, Evaluation]:
    """A lead approves or refuses the labeler's current version, with a comment.

    The gate is evaluated afresh and recorded with the decision. Approving a labeler that fails
    the gate is refused: change the criteria (recorded) or the labeler first.
    """
    if not can_decide_gate(user.role):
        raise GatePermissionError(f"only a lead may approve or refuse a labeler; {user.name} has the role "
                                  f"{user.role}")
    if decision not in ("approve", "refuse"):
        raise ValueError(f"decision must be approve or refuse; got {decision!r}")
    comment = (comment or "").strip()
    if not comment:
        raise ValueError("comment: a decision needs a comment saying why")
    ev = evaluate(db, task, labeler, criteria=criteria)
    if decision == "approve" and not ev.result.passed:
        failed = "; ".join(r.reason for r in ev.result.failures) or "no criterion was evaluated"
        raise ValueError(f"cannot approve {labeler}: the gate fails ({failed})")
    return _record(db, ev, user, decision, comment), ev


@dataclass(frozen=True)
class GateStatus:
    """Where a labeler stands: approved (fresh), stale, refused, or never decided."""

    state: str                      # approved | stale | refused | undecided
    decision: dict | None           # the latest decision row
    current: Fingerprint
    stale_reasons: tuple[str, ...] = ()

    @property
    def fresh_approval(self) -> bool:
        return self.state == "approved"

    def describe(self) -> str:
        d = self.decision
        if self.state == "undecided":
            return "no lead has approved this labeler yet"
        who = f"{d['actor']} on {pd.Timestamp(d['created_at']):%Y-%m-%d %H:%M}"
        if self.state == "refused":
            return f"refused by {who}: {d['comment']}"
        if self.state == "approved":
            return f"approved by {who} (version {d['labeler_version']}): {d['comment']}"
        return f"the approval by {who} is stale: " + "; ".join(self.stale_reasons)


def status(db: Database, task: Task, labeler: str, *, gold_version: str | None = None) -> GateStatus:
    now = fingerprint(db, task, labeler, gold_version=gold_version)
    d = gate_store.latest_decision(db, task.task_id, labeler)
    if d is None:
        return GateStatus("undecided", None, now)
    if d["kind"] == "refuse":
        return GateStatus("refused", d, now)
    then = Fingerprint(d["labeler_version"], int(d["task_revision"]), d["task_spec"], d["gold_version"],
                       d["correction_id"])
    reasons = now.changes_from(then)
    return GateStatus("stale" if reasons else "approved", d, now, tuple(reasons))


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    status: GateStatus
    latest_batch: str | None
    batch_breaches: tuple[str, ...]
    reasons: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"ok": self.ok, "state": self.status.state, "labeler_version": self.status.current.labeler_version,
                "approval": self.status.describe(), "latest_batch": self.latest_batch,
                "batch_blocked": bool(self.batch_breaches), "batch_breaches": list(self.batch_breaches),
                "reasons": list(self.reasons)}


def check(db: Database, task: Task, labeler: str) -> CheckResult:
    """OK only if the labeler's current version holds a fresh approval and its latest batch is not blocked.

    On one open of the database: the approval's staleness inputs (labeler version, task spec,
    gold version, correction) and the latest batch's metrics against the history's baselines
    (monitor(only_latest=True): the same row as the full monitor's last one). Text diversity is
    computed only when a threshold uses it.
    """
    with db.session() as s:
        gold = load_gold(s, task)
        st = status(s, task, labeler, gold_version=gold.version)
        thresholds = thresholds_for(s, task)
        m = monitor(s, task, labeler, thresholds=thresholds, only_latest=True, gold=gold, semantic=False,
                    diversity_batches=1 if thresholds.min_distinct_2 is not None else 0)
    return check_result(st, m)


def check_result(st: GateStatus, m: Monitor) -> CheckResult:
    """The check's verdict from the labeler's status and its monitor (whose last row is the latest batch)."""
    reasons = []
    if st.state != "approved":
        reasons.append(st.describe())
    latest = m.latest
    breaches = tuple(latest["breaches"]) if latest is not None else ()
    if breaches:
        reasons.append(f"its latest batch {latest['batch']} is blocked: " + "; ".join(breaches))
    return CheckResult(not reasons, st, None if latest is None else latest["batch"], breaches, tuple(reasons))
