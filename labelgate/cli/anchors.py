"""labelgate anchors draw|show --task T: the fixed anchor set (gold items) every batch run re-labels."""

from __future__ import annotations

from labelgate.cli.common import CommandError
from labelgate.monitor import anchor_set, draw_anchor_set
from labelgate.store.tasks import get_task


def register(subparsers) -> None:
    p = subparsers.add_parser("anchors", help="the anchor set: gold items re-labeled with every batch")
    sub = p.add_subparsers(dest="anchors_command", metavar="ACTION", required=True)
    d = sub.add_parser("draw", help="draw the anchor set from the task's gold items")
    d.add_argument("--task", required=True)
    d.add_argument("--size", type=int, required=True)
    d.add_argument("--stratify-by", help="metadata column to stratify by (numeric columns are binned)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--replace", action="store_true",
                   help="replace an existing anchor set (drift is then measured against the new one)")
    d.set_defaults(func=_draw)
    s = sub.add_parser("show", help="print the anchor set's item ids, one a line")
    s.add_argument("--task", required=True)
    s.set_defaults(func=_show)


def _draw(args) -> int:
    task = get_task(args.db, args.task)
    existing = anchor_set(args.db, task)
    if existing and not args.replace:
        raise CommandError(f"task {task.name} already has an anchor set of {len(existing)} items; a new one restarts"
                           " the drift history: pass --replace to draw it anyway")
    chosen = draw_anchor_set(args.db, task, size=args.size, seed=args.seed, stratify_by=args.stratify_by,
                             created_by="cli")
    by = f", stratified by {args.stratify_by}" if args.stratify_by else ""
    print(f"anchor set of {len(chosen)} gold items{by} (seed {args.seed}); every batch run re-labels it")
    return 0


def _show(args) -> int:
    ids = anchor_set(args.db, get_task(args.db, args.task))
    if not ids:
        print(f"task {args.task} has no anchor set yet: labelgate anchors draw --task {args.task} --size N")
        return 1
    print("\n".join(ids))
    return 0
