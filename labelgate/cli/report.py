"""labelgate report --task T [--labeler L ...] [--group-by COLUMN] [--json]"""

from __future__ import annotations

import json

from labelgate.cli.common import add_gold_release
from labelgate.store.tasks import get_task


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="labeler-vs-gold metrics with 95%% CIs, and expert reliability")
    p.add_argument("--task", required=True)
    p.add_argument("--labeler", action="append", help="only this labeler (repeatable; default: all)")
    p.add_argument("--group-by", help="metadata column: also report each correlation averaged per group")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_gold_release(p)
    p.set_defaults(func=_report)


def _fmt(est: dict | None) -> str:
    if est is None:
        return "-"
    cell = f"{est['estimate']:.3f} [{est['ci_low']:.3f}, {est['ci_high']:.3f}]"
    if "n_groups" in est:
        cell += f" ({est['n_groups']} of {est['n_groups'] + est['n_groups_skipped']} groups)"
    return cell


def _invalid(info: dict) -> str:
    if not info["n_outputs"]:
        return "-"
    return f"{info['n_invalid']}/{info['n_outputs']} ({info['rate']:.1%})"


def _report(args) -> int:
    from labelgate.analysis import report  # scipy: loaded by this command only, not by every CLI start

    if args.resamples < 1:
        raise ValueError(f"--resamples must be at least 1; got {args.resamples}")
    task = get_task(args.db, args.task)
    doc = report(args.db, task, labelers=args.labeler, group_by=args.group_by, n_resamples=args.resamples,
                 gold_release=args.gold_release)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    g = doc["gold"]
    where = f"gold release {g['release']}" if g["release"] is not None else "the unreleased draft"
    if len(doc["criteria"]) == 1:
        print(f"task {doc['task']} ({doc['kind']}): {g['n_items']} gold items in {where}, {g['n_disputed']} in dispute")
        print(f"  {g['draft']}")
        _print_criterion(doc["criteria"][0])
        return 0
    print(f"task {doc['task']}: {len(doc['criteria'])} criteria, gold from {where}")
    print(f"  {g['draft']}")
    for c in doc["criteria"]:
        cg = c["gold"]
        print(f"\ncriterion {c['name']} ({c['kind']}): {cg['n_items']} gold items, {cg['n_disputed']} in dispute")
        _print_criterion(c)
    return 0


def _print_criterion(c: dict) -> None:
    h = c["humans"]
    # every human rater of the gold: app experts and imported raters (a benchmark's majority) alike
    print(f"human raters: {h['n_raters']} (app experts and imported raters), "
          f"Krippendorff's alpha {_fmt(h['krippendorff_alpha'])}")
    split = c["human_split"]
    if split["n_items"]:
        print(f"  split votes on {split['n_split']} of {split['n_items']} items with two or more human raters "
              f"({split['share']:.0%}, 95% CI {split['ci_low']:.0%} to {split['ci_high']:.0%})")
    for pair in h["pairwise_cohen_kappa"]:
        print(f"  kappa {pair['a']} vs {pair['b']}: {pair['kappa']:.3f} (n={pair['n']})")
    names = list(dict.fromkeys(m for lab in c["labelers"] for m in lab["metrics"]))
    head = ["labeler", "family", "version", "n", "invalid", *names]
    rows = [[lab["name"], lab["family"], lab["version"], str(lab["n"]), _invalid(lab["invalid_outputs"]),
             *(_fmt(lab["metrics"].get(m)) for m in names)] for lab in c["labelers"]]
    # every column as wide as its widest cell, so no name runs into the next column
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    right = {3}  # counts right-aligned
    print()
    for r in [head, *rows]:
        cells = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        print("  ".join(cells).rstrip())
