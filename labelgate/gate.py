"""The gate: criteria per task, evaluating a labeler with its evidence, a lead's decision, staleness.

Every evaluation and decision appends an audit row (labelgate/store/gate.py) holding who, when,
and the fingerprint of what was judged: the labeler version, the task revision and spec hash
(kind, label options, rubric), the gold release (or the draft) and its version, the labeler
version's current correction, and the criteria.

The gate judges against a gold release, by default the latest (labelgate.gold.releases); a task
without one is judged on the live draft. An approval is *fresh* while its fingerprint still
matches the present one: new expert answers only move the draft, so they leave an approval on a
release fresh until a newer release is published. Otherwise it is *stale*, and `status()` says
which part changed (for a new release: the items added, relabeled and removed). Only the latest
decision of a labeler counts: a refusal after an approval withdraws it.

Default criteria (qc.gate.default_criteria, adjusted; a task's saved criteria replace them):

- ``n_gold`` >= 200 gold items the labeler was scored on;
- lower 95% bound of Cohen's kappa (categorical, pairwise) or Krippendorff's alpha (ordinal,
  continuous) against gold > 0.4 (moderate agreement, with confidence); qc's 0.6 is a strict
  bar a lead can restore on the Gate page;
- ``expert_alpha`` >= 0.667, *optional*: it is not evaluable when the gold comes from a single
  rater (an external reference such as the demo's MT-Bench majority, or one expert), nor while
  the experts share fewer than 30 items (noise would fail the gate). It is then skipped and the
  evaluation says so; otherwise it is computed and must pass. A release carries the value
  measured when it was published;
- optional ``ece`` < 0.1 (only when the labeler reports confidence; labelgate.monitor.ECE_THRESHOLD, the Monitor's
  default per-batch threshold too), ``anchor_flip_rate`` < 0.15
  (latest batch against the first anchor run), ``cross_family_disagreement`` < 0.35 (qc's 0.3 is
  reached by a labeler that matches gold exactly whenever the other families err on 30% of items);
  labelgate.monitor.CROSS_FAMILY_THRESHOLD, the Monitor's default per-batch threshold too.

On a task of several criteria the agreement rule is one rule per criterion (default_criteria). A
lead removes any rule and adds those of addable_criteria: a removed default, a rule on one criterion
(criterion_rules: its agreement, Spearman or accuracy against gold), and the student criteria
(STUDENT_CRITERIA, issue 13): the macro-F1 a proxy student
loses when trained on the labeler's labels instead of gold, its minority-class recall ratio and its
stability across seeds. They read the latest student preview recorded on the labeler's current
version and on the gold judged against (labelgate.student.record_evidence); without one they fail
and say how to record it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace

import pandas as pd

from labelgate import governance
from labelgate.auth import can_decide_gate
from labelgate.gold import (
    DraftProgress,
    Gold,
    criteria_gold_version,
    draft_progress,
    expert_agreement,
    get_release,
    latest_release,
    load_gold,
    resolve_gold,
)
from labelgate.gold import diff as gold_diff
from labelgate.monitor import CROSS_FAMILY_THRESHOLD, ECE_THRESHOLD, Monitor, monitor, thresholds_for
from labelgate.store import Database
from labelgate.store import gate as gate_store
from labelgate.store import gold as gold_store
from labelgate.store import monitor as monitor_store
from labelgate.store import student as student_store
from labelgate.store.corrections import current_correction, latest_correction_id
from labelgate.store.labelers import current_versions
from labelgate.store.users import User
from labelgate.tasks import Task
from qc.estimate import Estimate
from qc.gate import Criterion, GateResult, evaluate_gate
from qc.gate import default_criteria as qc_default_criteria

AGREEMENT_THRESHOLD = 0.4
MIN_CONFIDENCE_ROWS = 20
MIN_EXPERT_OVERLAP = 30   # items labeled by two or more experts before their agreement is judged


# not in the defaults (a preview takes tens of seconds and needs text items): a lead adds them per task
STUDENT_CRITERIA = (
    Criterion("student_f1_loss", "<=", 0.10, label="Student macro-F1 loss",
              description="a proxy student trained on the labeler's labels loses at most this much macro-F1 "
                          "against one trained on gold (student preview)"),
    Criterion("student_minority_recall_ratio", ">=", 0.80, label="Student minority recall ratio",
              description="the proxy student keeps at least this share of the gold-trained student's recall "
                          "of the minority class"),
    Criterion("student_stability_alpha", ">=", 0.80, label="Student stability",
              description="Krippendorff's alpha between proxy students trained with different seeds"),
)
STUDENT_METRICS = tuple(c.metric for c in STUDENT_CRITERIA)


class GatePermissionError(PermissionError):
    """Only a lead approves or refuses a labeler."""


def default_criteria(task: Task) -> list[Criterion]:
    """The app's defaults for `task`. On a task of several criteria the agreement rule is one rule per
    criterion (a labeler passes only when it agrees with the gold on every question it answers); the
    other rules read the first criterion, as on a one-question task."""
    out = []
    for c in qc_default_criteria(task.kind):
        if c.metric in ("kappa", "alpha"):
            if task.is_multi:
                out += [agreement_rule(task.criterion(n), n) for n in task.criterion_names]
                continue
            c = replace(c, threshold=AGREEMENT_THRESHOLD)
        elif c.metric == "expert_alpha":
            c = replace(c, optional=True,
                        description="the gold itself is reliable (Krippendorff's tentative bound); not evaluable "
                                    "and skipped when the gold comes from a single rater")
        elif c.metric == "anchor_flip_rate":
            c = replace(c, threshold=0.15)
        elif c.metric == "cross_family_disagreement":
            c = replace(c, threshold=CROSS_FAMILY_THRESHOLD)
        elif c.metric == "ece":
            c = replace(c, threshold=ECE_THRESHOLD)  # qc's 0.1 today; one number with the Monitor's either way
        out.append(c)
    return out


def agreement_rule(view: Task, criterion: str | None) -> Criterion:
    """The lower 95% bound of kappa (categorical, pairwise) or alpha (ordinal, continuous) against gold
    on one task criterion (`view`: the task seen by it). No min_n: the n_gold rule says how many items."""
    metric = "kappa" if view.kind in ("categorical", "pairwise") else "alpha"
    words = "Cohen's kappa" if metric == "kappa" else "Krippendorff's alpha"
    return Criterion(metric, ">", AGREEMENT_THRESHOLD, use="ci_low", label=f"{words} vs gold",
                     description=f"lower 95% bound of {metric} against expert gold", criterion=criterion)


# report metrics a lead may add as a rule on a criterion of this kind, beside the agreement rule
EXTRA_RULES = {
    "categorical": (("accuracy", ">=", 0.8, "Accuracy vs gold"),),
    "pairwise": (("accuracy", ">=", 0.8, "Accuracy vs gold"),),
    "ordinal": (("spearman", ">=", 0.5, "Spearman correlation vs gold"),),
    "continuous": (("spearman", ">=", 0.5, "Spearman correlation vs gold"),),
}


def criterion_rules(task: Task) -> list[Criterion]:
    """Every rule about agreement with gold a lead may ask of this task: per criterion (named on a task
    of several criteria, unnamed on a one-question task) the agreement rule and EXTRA_RULES."""
    names = task.criterion_names if task.is_multi else [None]
    out = []
    for name in names:
        view = task.criterion(name)
        out.append(agreement_rule(view, name))
        out += [Criterion(m, op, thr, use="ci_low", label=label, criterion=name,
                          description=f"lower 95% bound of {m.replace('_', ' ')} against expert gold")
                for m, op, thr, label in EXTRA_RULES[view.kind]]
    return out


def criteria_for(db: Database, task: Task) -> list[Criterion]:
    """The task's saved criteria, else the defaults."""
    saved = governance.load(db, task, "gate_criteria")
    return [Criterion.from_dict(d) for d in saved.value] if saved else default_criteria(task)


def save_criteria(db: Database, task: Task, criteria: list[Criterion], *, user: User,
                  expected_version: int | None = None) -> int:
    """A lead saves the task's criteria against the version loaded (None: the one in force now).

    Returns the version in force; raises governance.SettingPermissionError for anyone but a
    lead and governance.StaleSettingError when someone saved since `expected_version`.
    """
    if not criteria:
        raise ValueError("criteria: a gate needs at least one criterion")
    if expected_version is None:
        saved = governance.load(db, task, "gate_criteria")
        expected_version = saved.version if saved else 0
    return governance.save(db, task, "gate_criteria", [c.to_dict() for c in criteria],
                           default=[c.to_dict() for c in default_criteria(task)], user=user,
                           expected_version=expected_version)


def addable_criteria(db: Database, task: Task, in_force: list[Criterion] | None = None) -> list[Criterion]:
    """The rules a lead may add to this task, given the rules in force (default: read them): a default
    that was removed, the agreement rules of criterion_rules, and the student rules (categorical tasks)."""
    in_force = {c.key for c in (criteria_for(db, task) if in_force is None else in_force)}
    student = list(STUDENT_CRITERIA) if task.kind == "categorical" else []
    candidates = {c.key: c for c in [*default_criteria(task), *criterion_rules(task), *student]}
    return [c for k, c in candidates.items() if k not in in_force]


def add_criterion(db: Database, task: Task, key: str, *, user: User, expected_version: int,
                  threshold: float | None = None) -> int:
    """A lead adds the rule `key` (a Criterion.key from addable_criteria: "spearman@empathy", or a
    metric on a one-question task), at `threshold` (default: the rule's own); returns the version."""
    new = next((c for c in addable_criteria(db, task) if c.key == key), None)
    if new is None:
        known = ", ".join(c.key for c in addable_criteria(db, task)) or "none"
        raise ValueError(f"rule {key!r} cannot be added to {task.name} (addable: {known})")
    if threshold is not None:
        new = replace(new, threshold=float(threshold))
    return save_criteria(db, task, [*criteria_for(db, task), new], user=user, expected_version=expected_version)


def remove_criterion(db: Database, task: Task, key: str, *, user: User, expected_version: int) -> int:
    """A lead removes the rule `key` (a Criterion.key), a default one too: the change log and the page
    say who removed it, and any approval under the old rules goes stale. The last rule stays."""
    in_force = criteria_for(db, task)
    if key not in {c.key for c in in_force}:
        raise ValueError(f"rule {key!r} is not in force on {task.name} (in force: "
                         f"{', '.join(c.key for c in in_force)})")
    kept = [c for c in in_force if c.key != key]
    return save_criteria(db, task, kept, user=user, expected_version=expected_version)


def removed_defaults(db: Database, task: Task) -> dict[str, governance.Mark]:
    """Criterion.key -> who removed it, for every default rule not in force."""
    return governance.removed(db, task, "gate_criteria", default=[c.to_dict() for c in default_criteria(task)])


def criteria_marks(db: Database, task: Task) -> dict[str, governance.Mark]:
    """Criterion.key -> who set it, for every criterion that differs from the defaults."""
    return governance.marks(db, task, "gate_criteria", default=[c.to_dict() for c in default_criteria(task)])


# the fields of a criterion that change a verdict (its label and description do not)
CRITERION_FIELDS = ("comparator", "threshold", "use", "min_n", "optional")


def criteria_key(criteria) -> str:
    """Canonical text of criteria (Criterion objects or their dicts) for the fingerprint."""
    dicts = [c.to_dict() if isinstance(c, Criterion) else dict(c) for c in criteria]
    # a threshold typed into the page is a float: 200 and 200.0 are the same criterion; a criterion
    # naming no task criterion has no "criterion" key, so keys from before criteria are unchanged
    rows = [{"metric": d["metric"]} | {f: d.get(f) for f in CRITERION_FIELDS} | {"threshold": float(d["threshold"])}
            | ({"criterion": d["criterion"]} if d.get("criterion") else {}) for d in dicts]
    return json.dumps(sorted(rows, key=_row_key), sort_keys=True)


def _row_key(d: dict) -> str:
    return f"{d['metric']}@{d['criterion']}" if d.get("criterion") else d["metric"]


def criteria_changes(old: str, new: str) -> list[str]:
    """What differs between two criteria_key texts, e.g. "kappa: threshold 0.4 -> 0.05"."""
    a = {_row_key(d): d for d in json.loads(old or "[]")}
    b = {_row_key(d): d for d in json.loads(new or "[]")}
    out = [f"{m} added" for m in b if m not in a] + [f"{m} removed" for m in a if m not in b]
    for m in (m for m in a if m in b):
        out += [f"{m}: {f.replace('_', ' ')} {_val(a[m].get(f))} -> {_val(b[m].get(f))}"
                for f in CRITERION_FIELDS if a[m].get(f) != b[m].get(f)]
    return out


def _val(v) -> str:
    return "none" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


@dataclass(frozen=True)
class Fingerprint:
    """What an approval is about; a change to any part makes it stale."""

    labeler_version: str
    task_revision: int
    task_spec: str
    gold_version: str
    correction_id: int | None
    gold_release: int | None = None   # None: the unreleased draft
    criteria: str = ""                # criteria_key() of the criteria evaluated

    @property
    def gold_name(self) -> str:
        return f"gold release {self.gold_release}" if self.gold_release is not None else "the unreleased draft"

    def changes_from(self, old: Fingerprint, *, release_diff: str | None = None) -> list[str]:
        """Sentences naming what changed from `old` (an approval) to self (now).

        `release_diff` is the summary of the gold's change between the two releases, when known.
        """
        out = []
        if old.labeler_version != self.labeler_version:
            out.append(f"the labeler changed (model, prompt or settings): version {old.labeler_version} was "
                       f"approved, the current version is {self.labeler_version}")
        if old.task_spec != self.task_spec:
            out.append(f"the task's rubric or label options changed: revision {old.task_revision} was approved, "
                       f"the task is at revision {self.task_revision}")
        if old.gold_release != self.gold_release:
            what = f" ({release_diff})" if release_diff else ""
            after = f"the approved release {old.gold_release}" if old.gold_release is not None else \
                "this approval on the unreleased draft"
            out.append(f"gold release {self.gold_release} was published after {after}{what}")
        elif old.gold_version != self.gold_version:
            out.append(f"the draft gold changed (no release was published): gold version {old.gold_version} was "
                       f"approved, the draft is now {self.gold_version}; publish a gold release so that new "
                       "answers stop making approvals stale")
        if old.correction_id != self.correction_id:
            def name(c):
                return f"correction #{c}" if c is not None else "no correction"
            out.append(f"the correction changed: {name(old.correction_id)} was approved, "
                       f"the labeler now has {name(self.correction_id)}")
        if old.criteria != self.criteria:
            changes = criteria_changes(old.criteria, self.criteria)
            out.append("the gate criteria changed since the approval: " + ("; ".join(changes) or "edited"))
        return out


def _labeler_row(db: Database, task: Task, labeler: str) -> pd.Series:
    versions = current_versions(db, task.task_id)
    row = versions[versions["name"] == labeler]
    if row.empty:
        known = ", ".join(versions["name"]) or "none"
        raise LookupError(f"labeler: no labeler named {labeler!r} for task {task.name}; known: {known}")
    return row.iloc[0]


def fingerprint(db: Database, task: Task, labeler: str, *, gold: Gold | None = None,
                criteria: list[Criterion] | None = None) -> Fingerprint:
    """The present fingerprint: against `gold` (default: the latest release, else the draft) and
    `criteria` (default: the task's)."""
    version = _labeler_row(db, task, labeler)["version"]
    if task.is_multi and task.view is None:   # a new correction on any criterion makes an approval stale
        correction = latest_correction_id(db, task.task_id, labeler, version)
    else:
        corr = current_correction(db, task.task_id, labeler, version, criterion=task.criterion_name)
        correction = int(corr["correction_id"]) if corr else None
    if gold is not None:
        release, gold_version = gold.release, gold.version
    else:
        latest = latest_release(db, task)   # its version is stored: no need to read its items
        release, gold_version = (latest.number, latest.gold_version) if latest else (None, None)
    if task.is_multi and task.view is None:
        # the gold of every criterion: a change to any of them makes an approval stale
        if release is not None:
            gold_version = get_release(db, task, release).gold_version
        else:
            gold_version = criteria_gold_version({n: load_gold(db, task.criterion(n)) for n in task.criterion_names})
    elif gold_version is None:
        gold_version = load_gold(db, task).version
    return Fingerprint(version, task.revision, task.spec_hash(), gold_version, correction, release,
                       criteria_key(criteria if criteria is not None else criteria_for(db, task)))


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
                         "evidence": self.notes.get(c.key, ""), "reason": r.reason})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        return {"task": self.task.name, "labeler": self.labeler, "verdict": self.verdict,
                "fingerprint": self.fingerprint.__dict__, "metrics": self.metrics_json(),
                "criteria": self.evidence().to_dict("records"),
                **({"alignment_lab": self.notes["alignment_lab"]} if self.notes.get("alignment_lab") else {})}


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _fmt(e: Estimate) -> str:
    return f"{e.estimate:.3f} [{e.ci_low:.3f}, {e.ci_high:.3f}]"


def evaluate(db: Database, task: Task, labeler: str, *, criteria: list[Criterion] | None = None,
             gold_release: int | None = None, monitor_data: Monitor | None = None, n_resamples: int = 1000,
             seed: int = 0) -> Evaluation:
    """Compute every metric the criteria name for the labeler's current version and evaluate them,
    against gold release `gold_release` (default: the latest release, else the draft)."""
    row = _labeler_row(db, task, labeler)
    version, family = row["version"], row["family"]
    criteria = list(criteria) if criteria is not None else criteria_for(db, task)
    gold = resolve_gold(db, task, gold_release)
    fp = fingerprint(db, task, labeler, gold=gold, criteria=criteria)
    # a gate criterion naming no task criterion is about the first (a one-question task: its only one)
    wanted = {c.metric for c in criteria}
    metrics, notes = _criterion_metrics(db, task, labeler, version, family, gold, monitor_data, wanted,
                                        n_resamples=n_resamples, seed=seed)
    named = list(dict.fromkeys(c.criterion for c in criteria if c.criterion))
    unknown = [n for n in named if n not in task.criterion_names]
    if unknown:
        raise ValueError(f"criteria: the gate names {unknown[0]!r}, which is not a criterion of task {task.name} "
                         f"({', '.join(task.criterion_names)})")
    for name in named:   # the same metrics on each criterion a gate criterion names: metric@criterion
        view = task.criterion(name)
        m, n = _criterion_metrics(db, view, labeler, version, family, resolve_gold(db, view, gold.release),
                                  None, wanted, n_resamples=n_resamples, seed=seed)
        metrics.update({f"{k}@{name}": v for k, v in m.items()})
        notes.update({f"{k}@{name}": v for k, v in n.items()})

    if any(c.metric in STUDENT_METRICS for c in criteria):
        _student_evidence(db, task, labeler, version, gold, metrics, notes)

    from labelgate.align.promote import gate_evidence

    lab = gate_evidence(db, task, labeler, version)
    if lab is not None:   # not a criterion: the alignment lab's dev and test numbers, shown beside them
        lab_metrics, notes["alignment_lab"] = lab
        metrics.update({k: _lab_value(v) for k, v in lab_metrics.items()})

    result = evaluate_gate(criteria, metrics)
    return Evaluation(task, labeler, family, fp, tuple(criteria), metrics, notes, result)


def _lab_value(v):
    """A promotion's stored number: {estimate, ci_low, ci_high} as an Estimate, else the number."""
    if isinstance(v, dict):
        return Estimate(_nan(v.get("estimate")), _nan(v.get("ci_low")), _nan(v.get("ci_high")), 0, "alignment lab")
    return v


def _criterion_metrics(db: Database, task: Task, labeler: str, version: str, family: str, gold: Gold,
                       monitor_data: Monitor | None, wanted: set[str], *, n_resamples: int,
                       seed: int) -> tuple[dict, dict]:
    """The gate's metrics and their evidence for one criterion of the task (`task`: the task, whose
    first criterion it measures, or a view of one criterion; `gold`: that criterion's). Besides the
    gate's own metrics, any report metric of the criterion's kind that `wanted` names (spearman,
    kendall_tau, accuracy, mae, ...) is computed with its bootstrap CI."""
    # scipy and the agreement statistics: imported here, so `gate check` (and the CLI) start without them
    from labelgate.analysis import METRICS_BY_KIND, judgments_vs_gold, labeler_metrics
    from qc.calibration import expected_calibration_error
    from qc.uncertainty import wilson_interval

    judgments = gold_store.llm_judgments(db, task.task_id, labelers=[(labeler, version)],
                                           criterion=task.criterion_name)
    pairs = judgments_vs_gold(task, gold, judgments)
    metrics: dict = {}
    notes: dict = {}

    metrics["n_gold"] = float(pairs.n_items)
    notes["n_gold"] = (f"{pairs.n_items} gold items labeled by version {version} ({len(pairs.frame)} judgments); "
                       f"{gold.n_items} gold items in {gold.name}, {gold.n_disputed} disputed")

    agree_name = "kappa" if task.kind in ("categorical", "pairwise") else "alpha"
    metric = "cohen_kappa" if agree_name == "kappa" else "krippendorff_alpha"
    est = labeler_metrics(task, pairs, metrics=[metric], n_resamples=n_resamples, seed=seed).get(metric)
    metrics[agree_name] = est
    notes[agree_name] = (f"{metric} {_fmt(est)} on {est.n} items ({est.method})" if est
                         else "not computable: no judgments on gold items")
    extra = [m for m in METRICS_BY_KIND[task.kind] if m in wanted and m != metric]
    if extra:
        computed = labeler_metrics(task, pairs, metrics=extra, n_resamples=n_resamples, seed=seed)
        for m in extra:
            e = computed.get(m)
            metrics[m] = e
            notes[m] = f"{m} {_fmt(e)} on {e.n} items ({e.method})" if e else \
                "not computable: no judgments on gold items"

    humans = expert_agreement(db, task, gold, n_resamples=200, seed=seed)
    metrics["expert_alpha"] = alpha = humans["krippendorff_alpha"]
    if alpha is not None and alpha.n < MIN_EXPERT_OVERLAP:
        # a handful of shared items says little about the experts, and would fail the gate on noise
        metrics["expert_alpha"] = None
        notes["expert_alpha"] = (f"not evaluable yet: the experts share {alpha.n} items (alpha {_fmt(alpha)}); "
                                 f"agreement counts from {MIN_EXPERT_OVERLAP} shared items")
    elif alpha is None:
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

    x = monitor_store.cross_family(db, task.task_id, labeler, kind=task.kind, criterion=task.criterion_name,
                                   bounds=_bounds(task), current_only=True)
    pairs_n, dis = int(x["n_pairs"].sum()), int(x["n_disagree"].sum())
    if pairs_n:
        metrics["cross_family_disagreement"] = wilson_interval(dis, pairs_n)
        notes["cross_family_disagreement"] = (f"{dis} of {pairs_n} (item, other-family labeler) pairs disagree "
                                              f"(families other than {family}; current versions)")
    else:
        metrics["cross_family_disagreement"] = None
        notes["cross_family_disagreement"] = "not evaluable: no labeler of another family labeled the same items"
    return metrics, notes


def _student_evidence(db: Database, task: Task, labeler: str, version: str, gold: Gold, metrics: dict,
                      notes: dict) -> None:
    """The student_* metrics from the latest preview recorded on this labeler version and gold."""
    rec = student_store.latest_preview(db, task.task_id, labeler)
    why = None
    if rec is None:
        why = "not evaluable: no student preview recorded for this labeler"
    elif rec["labeler_version"] != version:
        why = (f"not evaluable: the latest student preview (#{rec['preview_id']}) was of version "
               f"{rec['labeler_version']}, not the current {version}")
    elif rec["gold_version"] != gold.version:
        why = (f"not evaluable: the latest student preview (#{rec['preview_id']}) was scored on "
               f"{rec['gold_name']} as it was then, not on {gold.name} now")
    elif not rec["metrics"]:
        why = (f"not evaluable: the student trained on {labeler}'s labels could not be scored "
               f"(preview #{rec['preview_id']})")
    if why:
        how = "; record one on the Student page or with `labelgate student --task ... --labeler ... --record`"
        for m in STUDENT_METRICS:
            metrics[m], notes[m] = None, why + how
        return
    seen = (f"student preview #{rec['preview_id']} by {rec['created_by']} on {rec['created_at']:%Y-%m-%d %H:%M}, "
            f"{rec['settings']['seeds']} seeds, scored on {rec['gold_name']}")
    got = rec["metrics"]
    for m in ("student_f1_loss", "student_minority_recall_ratio"):
        d = got[m]
        metrics[m] = Estimate(d["estimate"], _nan(d["ci_low"]), _nan(d["ci_high"]), int(d["n"]), d["method"])
    stab = got["student_stability_alpha"]
    metrics["student_stability_alpha"] = _nan(stab["estimate"])
    notes["student_f1_loss"] = f"macro-F1 of the gold-trained student minus the labeler-trained one; {seen}"
    notes["student_minority_recall_ratio"] = f"minority-class recall, labeler-trained over gold-trained; {seen}"
    ref = stab.get("reference")
    notes["student_stability_alpha"] = ("alpha between seeds of the labeler-trained students"
                                        + (f" (gold-trained: {ref:.3f})" if ref is not None else "") + f"; {seen}")


def _nan(v) -> float:
    return math.nan if v is None else float(v)


def _bounds(task: Task):
    from labelgate.monitor import _bounds as b

    return b(task)


def _record(db: Database, ev: Evaluation, user: User, kind: str, comment: str | None = None) -> int:
    fp = ev.fingerprint
    return gate_store.append_event(
        db, task_id=ev.task.task_id, labeler=ev.labeler, kind=kind, actor=user.name, actor_role=user.role,
        labeler_version=fp.labeler_version, task_revision=fp.task_revision, task_spec=fp.task_spec,
        gold_version=fp.gold_version, gold_release=fp.gold_release, correction_id=fp.correction_id,
        criteria=[c.to_dict() for c in ev.criteria],
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
    draft: DraftProgress | None = None   # the draft's answers since the current release

    @property
    def approved_release(self) -> int | None:
        """The gold release of the latest approval (None: the draft, or no approval)."""
        d = self.decision
        if d is None or d["kind"] != "approve":
            return None
        return _release_of(d)

    @property
    def unreleased(self) -> str:
        """The draft's news beside the release, as a sentence ("" when there is none)."""
        return self.draft.describe() if self.draft is not None and self.draft.has_news else ""

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
            return (f"approved by {who} (version {d['labeler_version']}, on {_as_fingerprint(d).gold_name}): "
                    f"{d['comment']}")
        return f"the approval by {who} is stale: " + "; ".join(self.stale_reasons)


def _release_of(row: dict) -> int | None:
    r = row.get("gold_release")
    return None if r is None or pd.isna(r) else int(r)


def _as_fingerprint(d: dict) -> Fingerprint:
    """The fingerprint an audit row was recorded with."""
    return Fingerprint(d["labeler_version"], int(d["task_revision"]), d["task_spec"], d["gold_version"],
                       d["correction_id"], _release_of(d), criteria_key(d["criteria"]))


def status(db: Database, task: Task, labeler: str, *, gold: Gold | None = None) -> GateStatus:
    """Where the labeler stands against `gold` (default: the latest release, else the draft)."""
    now = fingerprint(db, task, labeler, gold=gold)
    progress = draft_progress(db, task) if now.gold_release is not None else None
    d = gate_store.latest_decision(db, task.task_id, labeler)
    if d is None:
        return GateStatus("undecided", None, now, draft=progress)
    if d["kind"] == "refuse":
        return GateStatus("refused", d, now, draft=progress)
    then = _as_fingerprint(d)
    summary = None
    if then.gold_release is not None and now.gold_release is not None and then.gold_release != now.gold_release:
        if task.is_multi and task.view is None:   # what changed in each criterion's gold
            old, new = then.gold_release, now.gold_release
            summary = "; ".join(f"{n}: {gold_diff(db, task.criterion(n), old, new).summary()}"
                                for n in task.criterion_names)
        else:
            summary = gold_diff(db, task, then.gold_release, now.gold_release).summary()
    reasons = now.changes_from(then, release_diff=summary)
    return GateStatus("stale" if reasons else "approved", d, now, tuple(reasons), progress)


def metrics_side_by_side(db: Database, task: Task, labeler: str, releases: list[int], *,
                         n_resamples: int = 1000) -> pd.DataFrame:
    """The labeler's gate evidence on several gold releases: one row per criterion, per release an
    observed value and a verdict column."""
    frames = []
    for r in releases:
        ev = evaluate(db, task, labeler, gold_release=r, n_resamples=n_resamples)
        e = ev.evidence().set_index("criterion")
        frames.append(pd.DataFrame({f"release {r}": e["observed"], f"release {r} result": e["result"]}))
    return pd.concat(frames, axis=1).rename_axis("criterion").reset_index()


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    status: GateStatus
    latest_batch: str | None
    batch_breaches: tuple[str, ...]
    reasons: tuple[str, ...]

    def to_dict(self) -> dict:
        progress = self.status.draft
        return {"ok": self.ok, "state": self.status.state, "labeler_version": self.status.current.labeler_version,
                "approval": self.status.describe(), "gold_release": self.status.current.gold_release,
                "unreleased_answers": progress.answers_since if progress else None,
                "unreleased_adjudications": progress.adjudications_since if progress else None,
                "latest_batch": self.latest_batch,
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
        gold = resolve_gold(s, task)
        st = status(s, task, labeler, gold=gold)
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
