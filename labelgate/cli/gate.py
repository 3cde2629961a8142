"""labelgate gate evaluate | approve | refuse | check --task T --labeler L; gate rules list | add | remove | set

`rules` shows and changes the task's gate rules (a lead only changes them, as on the Gate page):
a rule is named by its key, the metric or metric@criterion ("alpha@coherence").

`check` exits 0 only if the labeler's current version holds a fresh approval and its latest
batch is not blocked; otherwise 1, with the reasons (one per line, or in --json). Expert answers
not yet in a gold release do not make an approval stale: `check` says how many there are.
"""

from __future__ import annotations

import json

from labelgate.cli.common import CommandError, add_gold_release, login
from labelgate.store.tasks import get_task
from labelgate.store.users import User


def register(subparsers) -> None:
    p = subparsers.add_parser("gate", help="evaluate, approve, refuse and check a labeler against its task's gate")
    sub = p.add_subparsers(dest="gate_command", metavar="ACTION", required=True)
    e = sub.add_parser("evaluate", help="evaluate the labeler's current version (recorded in the audit log)")
    _common(e)
    e.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    add_gold_release(e)
    e.set_defaults(func=_evaluate)
    for name, verb in (("approve", "approve"), ("refuse", "refuse")):
        d = sub.add_parser(name, help=f"{verb} the labeler's current version (a lead only)")
        _common(d)
        d.add_argument("--user", required=True, help="the lead deciding (asked for their password)")
        d.add_argument("--comment", required=True, help="why")
        d.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
        d.set_defaults(func=_decide, decision=name)
    c = sub.add_parser("check", help="exit 0 only with a fresh approval and an unblocked latest batch")
    _common(c)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_check)
    _register_rules(sub)


def _register_rules(sub) -> None:
    r = sub.add_parser("rules", help="list, add, remove or set the thresholds of the task's gate rules")
    rs = r.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    ls = rs.add_parser("list", help="the rules in force, and the rules a lead may add")
    ls.add_argument("--task", required=True)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_rules_list)
    for name, text in (("add", "add a rule (see `list` for the addable ones)"), ("remove", "remove a rule in force"),
                       ("set", "set the threshold of a rule in force")):
        a = rs.add_parser(name, help=f"{text} (a lead only)")
        a.add_argument("--task", required=True)
        a.add_argument("--rule", required=True, help="the rule's key: a metric, or metric@criterion")
        if name != "remove":
            a.add_argument("--threshold", type=float, required=name == "set",
                           help="the rule's threshold" + (" (default: its own)" if name == "add" else ""))
        a.add_argument("--user", required=True, help="the lead (asked for their password)")
        a.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
        a.set_defaults(func=_rules_change, change=name)


def _common(p) -> None:
    p.add_argument("--task", required=True)
    p.add_argument("--labeler", required=True)


def _evaluate(args) -> int:
    from labelgate import calibrate as cal
    from labelgate import gate
    from labelgate.store.corrections import current_correction

    task = get_task(args.db, args.task)
    ev = gate.evaluate(args.db, task, args.labeler, gold_release=args.gold_release)
    gate.record_evaluation(args.db, ev, User("cli", "engineer"))
    corr = current_correction(args.db, task.task_id, args.labeler, ev.fingerprint.labeler_version,
                              criterion=task.criterion_name)
    if args.json:
        out = ev.to_dict()
        if corr is not None:
            out["correction"] = {"correction_id": int(corr["correction_id"]), "method": corr["method"],
                                 "description": cal.describe_correction(corr),
                                 "warnings": cal.cv_warnings(corr.get("cv_metrics"))}
        print(json.dumps(out, indent=2, default=str))
    else:
        print(f"{args.labeler} (version {ev.fingerprint.labeler_version}) on {task.name}, against "
              f"{ev.fingerprint.gold_name}: {ev.verdict.upper()}")
        for r in ev.evidence().itertuples(index=False):
            print(f"  [{r.result:7}] {r.criterion}: {r.reason}")
            if r.evidence:
                print(f"            {r.evidence}")
        if ev.notes.get("alignment_lab"):
            print(f"  alignment lab: {ev.notes['alignment_lab']}")
    if corr is not None and not args.json:  # as the Gate page's "Correction in force" and the Calibrate page's warnings
        print(f"  correction in force: {cal.describe_correction(corr)}")
        for warning in cal.cv_warnings(corr.get("cv_metrics")):
            print(f"  WARNING: {warning}")
    return 0 if ev.result.passed else 1


def _decide(args) -> int:
    from labelgate import gate

    task = get_task(args.db, args.task)
    user = login(args.db, args.user, args.password_stdin)
    try:
        event_id, ev = gate.decide(args.db, task, args.labeler, user=user, decision=args.decision,
                                   comment=args.comment)
    except gate.GatePermissionError as exc:
        raise CommandError(str(exc)) from None
    word = "approved" if args.decision == "approve" else "refused"
    print(f"{args.labeler} version {ev.fingerprint.labeler_version} {word} by {user.name} on "
          f"{ev.fingerprint.gold_name} (gate {ev.verdict}; audit row {event_id})")
    return 0


def _check(args) -> int:
    from labelgate import gate

    task = get_task(args.db, args.task)
    result = gate.check(args.db, task, args.labeler)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    elif result.ok:
        print(f"OK: {args.labeler} {result.status.describe()}; latest batch {result.latest_batch} is not blocked")
        if result.status.unreleased:
            print(f"  ({result.status.unreleased} The approval stays fresh until a newer release is published.)")
    else:
        print(f"NOT OK: {args.labeler} (version {result.status.current.labeler_version}) may not label for "
              f"{task.name}:")
        for reason in result.reasons:
            print(f"  - {reason}")
    return 0 if result.ok else 1


def _rule_row(c) -> dict:
    return {"rule": c.key, "name": c.name, "comparator": c.comparator, "threshold": c.threshold, "use": c.use,
            "optional": c.optional}


def _rule_text(c) -> str:
    bound = {"ci_low": " (lower 95% bound)", "ci_high": " (upper 95% bound)"}.get(c.use, "")
    return f"{c.key}{bound} {c.comparator} {c.threshold:g}{', optional' if c.optional else ''}  ({c.name})"


def _rules_list(args) -> int:
    from labelgate import gate

    task = get_task(args.db, args.task)
    in_force = gate.criteria_for(args.db, task)
    addable, removed = gate.addable_criteria(args.db, task, in_force), gate.removed_defaults(args.db, task)
    if args.json:
        print(json.dumps({"task": task.name, "rules": [_rule_row(c) for c in in_force],
                          "addable": [_rule_row(c) for c in addable],
                          "removed_defaults": [{"rule": k, "by": m.by, "at": m.at} for k, m in removed.items()]},
                         indent=2, default=str))
        return 0
    print(f"Gate rules of {task.name}:")
    for c in in_force:
        print(f"  {_rule_text(c)}")
    for k, m in removed.items():
        print(f"  (default {k} removed by {m.by} on {m.at:%Y-%m-%d %H:%M})")
    if addable:
        print("A lead may add:")
        for c in addable:
            print(f"  {_rule_text(c)}")
    return 0


def _rules_change(args) -> int:
    from dataclasses import replace

    from labelgate import gate, governance

    task = get_task(args.db, args.task)
    user = login(args.db, args.user, args.password_stdin)
    saved = governance.load(args.db, task, "gate_criteria")
    loaded = saved.version if saved else 0
    try:
        if args.change == "add":
            v = gate.add_criterion(args.db, task, args.rule, user=user, expected_version=loaded,
                                   threshold=args.threshold)
        elif args.change == "remove":
            v = gate.remove_criterion(args.db, task, args.rule, user=user, expected_version=loaded)
        else:
            rules = gate.criteria_for(args.db, task)
            if args.rule not in {c.key for c in rules}:
                raise CommandError(f"rule {args.rule!r} is not in force on {task.name} (in force: "
                                   f"{', '.join(c.key for c in rules)})")
            v = gate.save_criteria(args.db, task, [replace(c, threshold=args.threshold) if c.key == args.rule else c
                                                   for c in rules], user=user, expected_version=loaded)
    except PermissionError as exc:
        raise CommandError(str(exc)) from None
    if v == loaded:
        print(f"Nothing changed: the gate rules of {task.name} stay at version {v}.")
        return 0
    done = {"add": "added", "remove": "removed", "set": "set"}[args.change]
    print(f"Rule {args.rule} {done} on {task.name} by {user.name} (gate rules version {v}); approvals under the "
          "old rules are stale.")
    return 0
