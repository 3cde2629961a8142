"""The `labelgate` command line: one subcommand module per area.

Contract for a command module: it exposes `register(subparsers)`, which adds its parser(s) and
sets `func=handler`; `handler(args) -> int` is the exit code, and `args.db` is the `Database`
(made here from --db / $LABELGATE_DB). Raise `CommandError` (or ValueError / LookupError) for a
user-facing failure: it is printed as one line on stderr and the exit code is 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from labelgate.cli.common import CommandError
from labelgate.store import Database, DatabaseBusyError, DatabaseFileError, default_db_path
from labelgate.store.db import COMMAND_TURN

COMMAND_MODULES = ["users", "task", "imports", "calibration", "calibrate", "demo", "report", "labelers", "run",
                   "gate", "export", "anchors", "backup", "student", "gold", "review", "align"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labelgate",
        description="Calibrate LLM labelers against human gold, gate them, and watch them for drift.",
    )
    parser.add_argument("--db", default=None,
                        help=f"DuckDB file (default: $LABELGATE_DB or {default_db_path()})")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"labelgate.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # its units of work share turns on the file (labelgate.store.db.COMMAND_TURN); closed when it ends
    args.db = Database(args.db or None, linger=COMMAND_TURN, min_turn=COMMAND_TURN)
    try:
        return int(args.func(args) or 0)
    except (CommandError, DatabaseBusyError, DatabaseFileError, LookupError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, LookupError) and exc.args else str(exc)
        print(f"labelgate: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("labelgate: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`labelgate ... | head`): stop quietly, as other Unix tools do, and keep
        # Python's flush at exit from printing a traceback for the same closed pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    finally:
        args.db.close()


if __name__ == "__main__":
    sys.exit(main())
