"""labelgate report --task T [--labeler L ...] [--group-by COLUMN] [--json]"""

from __future__ import annotations

import json

from labelgate.store.tasks import get_task


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="labeler-vs-gold metrics with 95%% CIs, and expert reliability")
    p.add_argument("--task", required=True)
    p.add_argument("--labeler", action="append", help="only this labeler (repeatable; default: all)")
    p.add_argument("--group-by", help="metadata column: also report each correlation averaged per group")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_report)


def _fmt(est: dict | None) -> str:
    if est is None:
        return "-"
    return f"{est['estimate']:.3f} [{est['ci_low']:.3f}, {est['ci_high']:.3f}]"


def _report(args) -> int:
    from labelgate.analysis import report  # scipy: loaded by this command only, not by every CLI start

    task = get_task(args.db, args.task)
    doc = report(args.db, task, labelers=args.labeler, group_by=args.group_by, n_resamples=args.resamples)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    g, h = doc["gold"], doc["humans"]
    print(f"task {doc['task']} ({doc['kind']}): {g['n_items']} gold items, {g['n_disputed']} in dispute")
    print(f"experts: {h['n_raters']}, Krippendorff's alpha {_fmt(h['krippendorff_alpha'])}")
    for pair in h["pairwise_cohen_kappa"]:
        print(f"  kappa {pair['a']} vs {pair['b']}: {pair['kappa']:.3f} (n={pair['n']})")
    names = sorted({m for lab in doc["labelers"] for m in lab["metrics"]},
                   key=lambda m: [m for lab in doc["labelers"] for m in lab["metrics"]].index(m))
    print()
    print(f"{'labeler':<14}{'family':<9}{'version':<14}{'n':>5}  " + "  ".join(f"{m:<24}" for m in names))
    for lab in doc["labelers"]:
        cells = "  ".join(f"{_fmt(lab['metrics'].get(m)):<24}" for m in names)
        print(f"{lab['name']:<14}{lab['family']:<9}{lab['version']:<14}{lab['n']:>5}  {cells}")
    return 0
