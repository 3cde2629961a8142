"""labelgate task create|list|show|set-domain"""

from __future__ import annotations

import json
from pathlib import Path

from labelgate.cli.common import CommandError
from labelgate.store.tasks import create_task, get_task, list_tasks, set_task_routing
from labelgate.tasks import KINDS, make_spec, parse_criteria


def register(subparsers) -> None:
    p = subparsers.add_parser("task", help="create and inspect labeling tasks")
    sub = p.add_subparsers(dest="task_command", metavar="ACTION", required=True)
    c = sub.add_parser("create", help="create a task")
    c.add_argument("name")
    c.add_argument("--kind", choices=KINDS, help="the one question's kind (or give --criteria)")
    c.add_argument("--criteria", type=Path, metavar="FILE",
                   help="YAML or JSON list of criteria, each with name, kind, labels / scale / anchors / range, "
                        "rubric, required, rationale (off|optional|required), show_if, rate")
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
    dom = sub.add_parser("set-domain", help="route items by expertise: the metadata column holding each item's domain")
    dom.add_argument("name")
    dom.add_argument("column", nargs="?", default=None,
                     help="one of the task's item metadata columns (leave out with --clear)")
    dom.add_argument("--clear", action="store_true", help="stop routing: every expert is served as before")
    only = dom.add_mutually_exclusive_group()
    only.add_argument("--experts-only", action="store_true",
                      help="items of a domain go only to experts tagged with it")
    only.add_argument("--others-allowed", action="store_true",
                      help="others may label when no matching expert is free (the default)")
    dom.set_defaults(func=_set_domain)


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


def read_criteria_file(path: Path):
    """The criteria of a --criteria file (YAML or JSON: a list, or a mapping with a `criteria` list)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read the criteria file {path}: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{path.name}: not valid JSON: {exc}") from None
    else:
        import yaml  # PyYAML; only this command needs it

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CommandError(f"{path.name}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if isinstance(data, dict) and set(data) == {"criteria"}:
        data = data["criteria"]
    try:
        return parse_criteria(data)
    except ValueError as exc:
        raise CommandError(f"{path.name}: {exc}") from None


def _create(args) -> int:
    if args.criteria is not None:
        given = [f"--{n.replace('_', '-')}" for n in ("kind", "labels", "scale", "anchors") if getattr(args, n)]
        given += ["--range"] if args.value_range else []
        if given:
            raise CommandError(f"--criteria gives every criterion its options: leave out {', '.join(given)}")
        criteria = read_criteria_file(args.criteria)
        task = create_task(args.db, args.name, criteria=criteria, rubric=_rubric(args),
                           text_columns=_text_columns(args), experts_per_item=args.experts_per_item,
                           created_by="cli")
        print(f"created task {task.name} with {len(task.criteria)} criteri{'on' if len(task.criteria) == 1 else 'a'}:")
        for c in task.criteria:
            print(f"  {c.name}: {c.kind}, {task.criterion(c.name).describe_values()}")
        return 0
    if args.kind is None:
        raise CommandError("give --kind (one question) or --criteria FILE (several)")
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
    task = create_task(args.db, args.name, args.kind, spec, rubric=_rubric(args), text_columns=_text_columns(args),
                       experts_per_item=args.experts_per_item, created_by="cli")
    print(f"created {task.kind} task {task.name}: {task.describe_values()}")
    return 0


def _rubric(args) -> str:
    if not args.rubric:
        return ""
    try:
        return args.rubric.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read the rubric {args.rubric}: {exc}") from None


def _text_columns(args) -> list[str]:
    return [c.strip() for c in (args.text_columns or "").split(",") if c.strip()]


def _list(args) -> int:
    for t in list_tasks(args.db):
        what = f"{len(t.criteria)} criteria: {', '.join(t.criterion_names)}" if t.is_multi else t.describe_values()
        print(f"{t.name:<24} {t.kind:<12} {what}")
    return 0


def _show(args) -> int:
    t = get_task(args.db, args.name)
    if t.is_multi:
        print(f"{t.name} (revision {t.revision}): {len(t.criteria)} criteria")
        for c in t.criteria:
            extra = [("required" if c.required else "optional"), f"rationale {c.rationale}"]
            if c.show_if:
                values = c.show_if.get("in") or [c.show_if.get("equals")]
                extra.append(f"shown when {c.show_if['criterion']} is {' or '.join(values)}")
            if c.rate:
                extra.append(f"rate of {c.rate!r}")
            print(f"  {c.name}: {c.kind}, {t.criterion(c.name).describe_values()} ({'; '.join(extra)})")
            if c.rubric:
                print(f"    {c.rubric}")
    else:
        print(f"{t.name} ({t.kind}, revision {t.revision}): {t.describe_values()}")
    print(f"text columns: {', '.join(t.text_columns) or '(set by the first item import)'}")
    print(f"experts per item: {t.experts_per_item}")
    print(f"routing by expertise: {_routing_text(t)}")
    if t.rubric:
        print("\n" + t.rubric)
    return 0


def _routing_text(t) -> str:
    if not t.domain_column:
        return "off"
    return (f"domain column {t.domain_column}; "
            + ("others may label when no matching expert is free" if t.others_may_label
               else "only experts tagged with an item's domain label it"))


def _set_domain(args) -> int:
    if args.clear == (args.column is not None):
        raise CommandError("give the domain column, or --clear to stop routing")
    task = get_task(args.db, args.name)
    others = False if args.experts_only else True if args.others_allowed else task.others_may_label
    task = set_task_routing(args.db, args.name, domain_column=None if args.clear else args.column,
                            others_may_label=others, created_by="cli")
    print(f"{task.name}: routing by expertise: {_routing_text(task)}")
    return 0
