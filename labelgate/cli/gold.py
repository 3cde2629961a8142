"""labelgate gold release | list | diff --task T

`release` freezes the task's draft gold as its next numbered release (an engineer or lead,
password asked or read with --password-stdin); `list` shows the releases and how far the draft
has moved since the latest; `diff` names the items added, relabeled and removed between two
releases (or a release and the draft).
"""

from __future__ import annotations

import argparse
import json

from labelgate.cli.common import CommandError, login
from labelgate.store.tasks import get_task


def register(subparsers) -> None:
    p = subparsers.add_parser("gold", help="publish, list and compare a task's gold releases")
    sub = p.add_subparsers(dest="gold_command", metavar="ACTION", required=True)
    r = sub.add_parser("release", help="publish the draft gold as the task's next release (engineers and leads)")
    r.add_argument("--task", required=True)
    r.add_argument("--user", required=True, help="who publishes (asked for their password)")
    r.add_argument("--note", help="what this release is about")
    r.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    r.set_defaults(func=_release)
    ls = sub.add_parser("list", help="the task's releases, and the draft's answers since the latest")
    ls.add_argument("--task", required=True)
    ls.add_argument("--json", action="store_true", help="print one JSON object")
    ls.set_defaults(func=_list)
    d = sub.add_parser("diff", help="items added, relabeled and removed between two releases")
    d.add_argument("--task", required=True)
    d.add_argument("--from", dest="old", required=True, type=_release_arg, help="a release number, or 'draft'")
    d.add_argument("--to", dest="new", required=True, type=_release_arg, help="a release number, or 'draft'")
    d.add_argument("--criterion", help="a task of several criteria: the criterion to compare (default: the first)")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    d.set_defaults(func=_diff)


def _release_arg(text: str) -> int | None:
    if text.strip().lower() == "draft":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"a release is a positive number or 'draft'; got {text!r}")
    return n


def _agreement(rel) -> str:
    alpha = rel.expert_alpha
    n = rel.expert_agreement.get("n_raters", 0)
    if alpha is None:
        return f"expert agreement not measurable ({n} rater{'' if n == 1 else 's'})"
    return (f"experts' Krippendorff alpha {alpha.estimate:.3f} [{alpha.ci_low:.3f}, {alpha.ci_high:.3f}] "
            f"({n} experts, {alpha.n} shared items)")


def _release(args) -> int:
    from labelgate import gold

    task = get_task(args.db, args.task)
    user = login(args.db, args.user, args.password_stdin)
    previous = gold.latest_release(args.db, task)
    try:
        rel = gold.publish(args.db, task, user=user, note=args.note)
    except gold.ReleasePermissionError as exc:
        raise CommandError(str(exc)) from None
    print(f"published gold release {rel.number} of {task.name} by {rel.created_by}: {rel.n_items} gold items, "
          f"{rel.n_disputed} disputed left out; {_agreement(rel)}")
    if previous is not None:
        print(f"since release {previous.number}: {gold.diff(args.db, task, previous.number, rel.number).summary()}")
    return 0


def _list(args) -> int:
    from labelgate import gold

    task = get_task(args.db, args.task)
    releases = gold.list_releases(args.db, task)
    progress = gold.draft_progress(args.db, task)
    if args.json:
        print(json.dumps({"task": task.name, "releases": [r.to_dict() for r in releases],
                          "unreleased_answers": progress.answers_since,
                          "unreleased_adjudications": progress.adjudications_since,
                          "draft": progress.describe()}, indent=2, default=str))
        return 0
    if not releases:
        draft = gold.load_gold(args.db, task)
        print(f"task {task.name} has no gold release yet; the draft has {draft.n_items} gold items and "
              f"{draft.n_disputed} in dispute (publish one with `labelgate gold release`)")
        return 0
    print(f"{'release':>7}  {'published':<16}  {'by':<12}  {'gold':>5}  {'disputed':>8}  {'expert alpha':<22}  note")
    for r in releases:
        a = r.expert_alpha
        alpha = "not measurable" if a is None else f"{a.estimate:.3f} [{a.ci_low:.3f}, {a.ci_high:.3f}]"
        print(f"{r.number:>7}  {r.created_at:%Y-%m-%d %H:%M}  {r.created_by:<12}  {r.n_items:>5}  "
              f"{r.n_disputed:>8}  {alpha:<22}  {r.note or ''}")
    print(progress.describe())
    return 0


def _diff(args) -> int:
    from labelgate import gold

    task = get_task(args.db, args.task)
    if args.criterion:
        try:
            task = task.criterion(args.criterion)
        except KeyError as exc:
            raise CommandError(f"--criterion: {exc.args[0]}") from None
    d = gold.diff(args.db, task, args.old, args.new)
    if args.json:
        print(json.dumps(d.to_dict() | {"summary": d.summary()}, indent=2, default=str))
        return 0
    print(f"{task.name} gold, {d.old} -> {d.new}: {d.summary()}")
    for r in d.added.itertuples(index=False):
        print(f"  + {r.item_id}: {r.value}")
    for r in d.relabeled.itertuples(index=False):
        print(f"  ~ {r.item_id}: {r.old} -> {r.new}")
    for r in d.removed.itertuples(index=False):
        print(f"  - {r.item_id}: was {r.old}")
    return 0
