"""labelgate student --task T --labeler L [--arms A,B] [--seeds 5] [--retention 0.8] [--json]
[--record --user NAME [--password-stdin]]"""

from __future__ import annotations

import json

from labelgate.cli.common import CommandError, login
from labelgate.store.tasks import get_task


def register(subparsers) -> None:
    from labelgate.student import ARMS, DEFAULT_RETENTION

    p = subparsers.add_parser("student", help="student preview: what a small model would learn from the labels")
    p.add_argument("--task", required=True)
    p.add_argument("--labeler", required=True)
    p.add_argument("--arms", default=",".join(ARMS),
                   help=f"comma-separated arms (default all): {', '.join(ARMS)}; gold and the labeler's "
                        "labels on all items always run")
    p.add_argument("--seeds", type=int, default=5, help="students per arm and fold (default 5)")
    p.add_argument("--retention", type=float, default=DEFAULT_RETENTION,
                   help=f"share of the labeler's rows the filters keep (default {DEFAULT_RETENTION})")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--record", action="store_true",
                   help="record the preview as gate evidence for the labeler's current version (needs --user)")
    p.add_argument("--user", help="the engineer or lead recording it (asked for their password)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=_student)


def _ci(e) -> str:
    return "-" if e is None else f"{e.estimate:.3f} [{e.ci_low:.3f}, {e.ci_high:.3f}]"


def _student(args) -> int:
    from labelgate.student import build_preview, check_can_record, record_evidence

    task = get_task(args.db, args.task)
    if args.record and not args.user:
        raise CommandError("--record needs --user: the engineer or lead recording the preview")
    user = None
    if args.record:   # before the long work, not after it
        user = login(args.db, args.user, args.password_stdin)
        try:
            check_can_record(user)
        except PermissionError as exc:
            raise CommandError(str(exc)) from None
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    report = build_preview(args.db, task, args.labeler, arms=arms, n_seeds=args.seeds, retention=args.retention,
                           n_resamples=args.resamples)
    recorded = None
    if user is not None:
        recorded = record_evidence(args.db, task, report, user=user)
    if args.json:
        print(json.dumps(report.to_dict() | {"recorded_preview_id": recorded}, indent=2, default=float))
        return 0
    p = report.preview
    students = f"{p.n_seeds} student" + ("s" if p.n_seeds != 1 else "")
    print(f"task {report.task}: {p.n_eval} gold items scored in {p.n_folds} folds, {students} per arm; "
          f"minority class {p.minority!r}")
    width = max(len(a.name) for a in p.arms) + 2
    print(f"{'arm':<{width}}{'train rows':>11}  {'macro-F1':<22}  {'minority recall':<22}  {'F1 loss':<22}  "
          f"{'stability':>9}")
    for a in p.arms:
        if not a.evaluable:
            print(f"{a.name:<{width}}{'':>11}  not evaluable: {a.note}")
            continue
        stab = f"{a.stability_alpha:.3f}" if a.stability_alpha == a.stability_alpha else "-"
        print(f"{a.name:<{width}}{a.n_train:>11,.0f}  {_ci(a.macro_f1):<22}  {_ci(a.recall.get(p.minority)):<22}  "
              f"{_ci(a.f1_loss):<22}  {stab:>9}")
    print()
    for line in report.findings:
        print(f"- {line}")
    if recorded is not None:
        print(f"\nrecorded as gate evidence: student preview #{recorded} of {report.labeler} version "
              f"{report.labeler_version} on {report.gold_name}")
    return 0
