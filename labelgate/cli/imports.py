"""labelgate import items|labels FILE --task T"""

from __future__ import annotations

from pathlib import Path

from labelgate.cli.common import CommandError
from labelgate.importer import INVALID_POLICIES, read_table, stage_items, validate_labels
from labelgate.store import items as item_store
from labelgate.store.imports import import_labels, import_staged_items
from labelgate.store.tasks import get_task


def register(subparsers) -> None:
    p = subparsers.add_parser("import", help="import items or labels from CSV, JSONL or Parquet (all or nothing)")
    sub = p.add_subparsers(dest="import_command", metavar="WHAT", required=True)
    it = sub.add_parser("items", help="items: an id column plus text and metadata columns")
    it.add_argument("file", type=Path)
    it.add_argument("--task", required=True)
    it.add_argument("--id-column", default="item_id")
    it.add_argument("--text-columns", help="columns shown to experts and models (default: the free-text columns)")
    it.set_defaults(func=_items)
    lb = sub.add_parser("labels", help="labels in long form: item_id, rater, [criterion,] value[, rationale,"
                        " confidence, batch, shown_order], or wide form: item_id, rater, one column per criterion")
    lb.add_argument("file", type=Path)
    lb.add_argument("--task", required=True)
    lb.add_argument("--source", required=True, choices=("human", "llm"))
    lb.add_argument("--family", help="model family of LLM raters not seen before (default: from the name)")
    lb.add_argument("--batch", help="batch name for rows without a batch column (default: 'default')")
    lb.add_argument("--invalid", choices=INVALID_POLICIES,
                    help="LLM values outside the task's labels or range: store them as invalid outputs (default),"
                         " refuse the file, or clip numbers to the range")
    lb.set_defaults(func=_labels)


def _report(result, what: str, file_name: str) -> None:
    print(result.describe(what, file_name))


def _items(args) -> int:
    task = get_task(args.db, args.task)
    text_columns = [c.strip() for c in (args.text_columns or "").split(",") if c.strip()] or None
    # read in blocks and checked, staged on disk, then stored in one transaction (all or nothing)
    with stage_items(args.file, task, id_column=args.id_column, text_columns=text_columns) as staged:
        _report(import_staged_items(args.db, task, staged, created_by="cli"), "items", staged.parsed.file_name)
    return 0


def _labels(args) -> int:
    task = get_task(args.db, args.task)
    parsed = read_table(args.file)
    if args.invalid and args.source == "human":
        raise CommandError("--invalid is for LLM labels: a person's label must always fit the task")
    known = set(item_store.get_items(args.db, task.task_id)["item_id"])
    labels = validate_labels(parsed, task, source=args.source, known_items=known, batch=args.batch,
                             invalid=args.invalid or "store")
    result = import_labels(args.db, task, parsed, labels, source=args.source, family=args.family, created_by="cli")
    _report(result, f"{args.source} labels", parsed.file_name)
    return 0
