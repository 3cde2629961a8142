"""labelgate import items|labels FILE --task T"""

from __future__ import annotations

from pathlib import Path

from labelgate.importer import read_table, validate_items, validate_labels
from labelgate.store import items as item_store
from labelgate.store.imports import import_items, import_labels
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
    lb = sub.add_parser("labels", help="labels in long form: item_id, rater, value[, confidence, batch, shown_order]")
    lb.add_argument("file", type=Path)
    lb.add_argument("--task", required=True)
    lb.add_argument("--source", required=True, choices=("human", "llm"))
    lb.add_argument("--family", help="model family of LLM raters not seen before (default: from the name)")
    lb.add_argument("--batch", help="batch name for rows without a batch column (default: 'default')")
    lb.set_defaults(func=_labels)


def _report(result, what: str, file_name: str) -> None:
    if result.n_added == 0:
        print(f"{file_name}: all {result.n_rows} {what} were already imported; nothing added")
    else:
        skipped = f" ({result.n_skipped} already present)" if result.n_skipped else ""
        print(f"{file_name}: added {result.n_added} {what}{skipped}")


def _items(args) -> int:
    task = get_task(args.db, args.task)
    parsed = read_table(args.file)
    text_columns = [c.strip() for c in (args.text_columns or "").split(",") if c.strip()] or None
    items, text_columns = validate_items(parsed, task, id_column=args.id_column, text_columns=text_columns)
    _report(import_items(args.db, task, parsed, items, text_columns, created_by="cli"), "items", parsed.file_name)
    return 0


def _labels(args) -> int:
    task = get_task(args.db, args.task)
    parsed = read_table(args.file)
    known = set(item_store.get_items(args.db, task.task_id)["item_id"])
    labels = validate_labels(parsed, task, source=args.source, known_items=known, batch=args.batch)
    result = import_labels(args.db, task, parsed, labels, source=args.source, family=args.family, created_by="cli")
    _report(result, f"{args.source} labels", parsed.file_name)
    return 0
