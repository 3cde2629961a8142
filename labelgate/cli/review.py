"""labelgate review draw --task T --labeler L [--batch B] --size K --by STRATEGY [--seed S] [--json] --user NAME
labelgate review results --task T [--json]"""

from __future__ import annotations

import json

from labelgate.cli.common import CommandError, login
from labelgate.store.tasks import get_task


def register(subparsers) -> None:
    from labelgate.targeted import DEFAULT_FLOOR, STRATEGIES

    p = subparsers.add_parser("review", help="targeted review sets: which items people should check next")
    sub = p.add_subparsers(dest="review_command", required=True)
    d = sub.add_parser("draw", help="draw a review set of a labeler's items by a strategy (recorded)")
    d.add_argument("--task", required=True)
    d.add_argument("--labeler", help="whose labels are reviewed (default: the task's only labeler)")
    d.add_argument("--batch", help="draw from this batch (default: every item the labeler labeled)")
    d.add_argument("--size", type=int, required=True, help="items to draw")
    d.add_argument("--by", required=True, choices=list(STRATEGIES),
                   help="; ".join(f"{k}: {v}" for k, v in STRATEGIES.items()))
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--floor", type=float, default=DEFAULT_FLOOR,
                   help=f"share of the draw spread evenly, so every item keeps a chance (default {DEFAULT_FLOOR})")
    d.add_argument("--user", required=True, help="the engineer or lead drawing (asked for their password)")
    d.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    d.add_argument("--json", action="store_true", help="print the draw as JSON (each item's score and probability)")
    d.set_defaults(func=_draw)
    r = sub.add_parser("results", help="per draw: items reviewed, errors found per 100, the weighted pool error rate")
    r.add_argument("--task", required=True)
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_results)


def _labeler(args, task) -> str:
    from labelgate.store.labelers import current_versions

    if args.labeler:
        return args.labeler
    names = list(current_versions(args.db, task.task_id)["name"])
    if len(names) != 1:
        raise CommandError(f"--labeler is needed: task {task.name} has {len(names)} labelers "
                           f"({', '.join(names) or 'none'})")
    return names[0]


def _draw(args) -> int:
    from labelgate import targeted

    task = get_task(args.db, args.task)
    labeler = _labeler(args, task)
    user = login(args.db, args.user, args.password_stdin)
    try:
        d = targeted.draw(args.db, task, labeler, size=args.size, by=args.by, batch=args.batch, seed=args.seed,
                          floor=args.floor, user=user)
    except PermissionError as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        print(json.dumps(d.to_dict(), indent=2))
        return 0
    print(f"review draw {d.draw_id} of {task.name}: {len(d.items)} of {d.pool_size} items of {labeler} by {d.strategy}"
          f"{f' (batch {args.batch})' if args.batch else ''}; experts see them on the Label page after the "
          "calibration set")
    auroc = d.details.get("cv_auroc") or d.details.get("predicted-error", {}).get("cv_auroc")
    if auroc is not None:
        print(f"error predictor: cross-validated AUROC {auroc:.3f} on the gold")
    for r in d.items.head(20).itertuples():
        print(f"  {r.item_id}  p={r.probability:.3f}  {r.reason}")
    if len(d.items) > 20:
        print(f"  ... and {len(d.items) - 20} more (--json lists all)")
    return 0


def _ci(e) -> str:
    return "-" if e is None else f"{e.estimate:.1f} [{e.ci_low:.1f}, {e.ci_high:.1f}]"


def _results(args) -> int:
    from labelgate import targeted

    task = get_task(args.db, args.task)
    rows = targeted.results(args.db, task)
    if args.json:
        print(json.dumps([{"draw_id": r.draw_id, "strategy": r.strategy, "labeler": r.labeler, "batch": r.batch,
                           "size": r.size, "n_reviewed": r.n_reviewed, "n_wrong": r.n_wrong,
                           "errors_per_100": r.per_100.to_dict() if r.per_100 else None,
                           "pool_error_rate": r.pool_error_rate.to_dict() if r.pool_error_rate else None}
                          for r in rows], indent=2))
        return 0
    if not rows:
        print(f"task {task.name} has no review draws yet")
        return 0
    for r in rows:
        pool = "" if r.pool_error_rate is None else (
            f"; pool error rate {r.pool_error_rate.estimate:.1%} [{r.pool_error_rate.ci_low:.1%}, "
            f"{r.pool_error_rate.ci_high:.1%}] (weighted)")
        print(f"draw {r.draw_id} ({r.strategy}, {r.labeler}): {r.n_reviewed} of {r.size} reviewed, {r.n_wrong} wrong; "
              f"errors per 100 {_ci(r.per_100)}{pool}")
    return 0
