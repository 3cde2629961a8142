"""labelgate task create|list|show"""

from __future__ import annotations

from pathlib import Path

from labelgate.cli.common import CommandError
from labelgate.store.tasks import create_task, get_task, list_tasks
from labelgate.tasks import KINDS, make_spec


def register(subparsers) -> None:
    p = subparsers.add_parser("task", help="create and inspect labeling tasks")
    sub = p.add_subparsers(dest="task_command", metavar="ACTION", required=True)
    c = sub.add_parser("create", help="create a task")
    c.add_argument("name")
    c.add_argument("--kind", required=True, choices=KINDS)
    c.add_argument("--labels", help="categorical: a,b,c; pairwise: 1,2 or 1,2,tie")
    c.add_argument("--scale", help="ordinal: LOW-HIGH, e.g. 1-5")
    c.add_argument("--anchors", help="ordinal: text per point, '1=poor;3=fair;5=excellent'")
    c.add_argument("--range", dest="value_range", help="continuous: LOW,HIGH")
    c.add_argument("--rubric", type=Path, help="markdown file shown to experts beside each item")
    c.add_argument("--text-columns", help="item columns shown to experts and models, comma-separated")
    c.add_argument("--experts-per-item", type=int, default=2)
    c.set_defaults(func=_create)
    ls = sub.add_parser("list", help="list tasks")
    ls.set_defaults(func=_list)
    sh = sub.add_parser("show", help="show a task's options and rubric")
    sh.add_argument("name")
    sh.set_defaults(func=_show)


def parse_scale(text: str) -> tuple[str, str]:
    parts = text.replace("..", "-").split("-")
    if len(parts) != 2:
        raise CommandError(f"--scale takes LOW-HIGH, e.g. 1-5; got {text!r}")
    return parts[0].strip(), parts[1].strip()


def parse_anchors(text: str | None) -> dict:
    anchors = {}
    for part in filter(None, (p.strip() for p in (text or "").split(";"))):
        point, sep, label = part.partition("=")
        if not sep:
            raise CommandError(f"--anchors takes 'POINT=text;POINT=text'; got {part!r}")
        anchors[point.strip()] = label.strip()
    return anchors


def _create(args) -> int:
    labels = [x for x in (args.labels or "").split(",") if x.strip()] or None
    scale = parse_scale(args.scale) if args.scale else None
    value_range = None
    if args.value_range:
        parts = args.value_range.split(",")
        if len(parts) != 2:
            raise CommandError(f"--range takes LOW,HIGH; got {args.value_range!r}")
        try:
            value_range = tuple(float(x) for x in parts)
        except ValueError:
            raise CommandError(f"--range takes two numbers LOW,HIGH; got {args.value_range!r}") from None
    spec = make_spec(args.kind, labels=labels, scale=scale, anchors=parse_anchors(args.anchors),
                     value_range=value_range)
    rubric = ""
    if args.rubric:
        try:
            rubric = args.rubric.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read the rubric {args.rubric}: {exc}") from None
    text_columns = [c.strip() for c in (args.text_columns or "").split(",") if c.strip()]
    task = create_task(args.db, args.name, args.kind, spec, rubric=rubric, text_columns=text_columns,
                       experts_per_item=args.experts_per_item, created_by="cli")
    print(f"created {task.kind} task {task.name}: {task.describe_values()}")
    return 0


def _list(args) -> int:
    for t in list_tasks(args.db):
        print(f"{t.name:<24} {t.kind:<12} {t.describe_values()}")
    return 0


def _show(args) -> int:
    t = get_task(args.db, args.name)
    print(f"{t.name} ({t.kind}, revision {t.revision}): {t.describe_values()}")
    print(f"text columns: {', '.join(t.text_columns) or '(set by the first item import)'}")
    print(f"experts per item: {t.experts_per_item}")
    if t.rubric:
        print("\n" + t.rubric)
    return 0
