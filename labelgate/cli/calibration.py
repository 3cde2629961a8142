"""labelgate calibration draw --task T"""

from __future__ import annotations

from labelgate.labeling import DEFAULT_CALIBRATION_SIZE, draw_calibration_set
from labelgate.store.tasks import get_task


def register(subparsers) -> None:
    p = subparsers.add_parser("calibration", help="the calibration set experts label")
    sub = p.add_subparsers(dest="calibration_command", metavar="ACTION", required=True)
    d = sub.add_parser("draw", help="draw (or redraw) the calibration set; labels already given are kept")
    d.add_argument("--task", required=True)
    d.add_argument("--size", type=int, default=DEFAULT_CALIBRATION_SIZE)
    d.add_argument("--stratify-by", help="metadata column to stratify by (numeric columns are binned)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--experts-per-item", type=int)
    d.add_argument("--overlap-share", type=float,
                   help="share of the set every expert labels first, 0-1 (default: the task's, 0.2)")
    d.set_defaults(func=_draw)


def _draw(args) -> int:
    task = get_task(args.db, args.task)
    chosen = draw_calibration_set(args.db, task, size=args.size, stratify_by=args.stratify_by, seed=args.seed,
                                  experts_per_item=args.experts_per_item, overlap_share=args.overlap_share,
                                  created_by="cli")
    task = get_task(args.db, args.task)
    by = f", stratified by {args.stratify_by}" if args.stratify_by else ""
    print(f"calibration set of {len(chosen)} items{by} (seed {args.seed}); "
          f"{task.experts_per_item} experts per item; {task.overlap_share:.0%} shared by every expert")
    return 0
