"""Helpers shared by the command modules."""

from __future__ import annotations

import getpass
import sys

from labelgate.login import log_in
from labelgate.store import Database
from labelgate.store.tasks import get_task
from labelgate.store.users import User
from labelgate.tasks import Task


class CommandError(Exception):
    """A user-facing failure: printed as one line on stderr, exit code 2."""


def read_password(from_stdin: bool, *, confirm: bool = False, prompt: str = "Password: ") -> str:
    """A password from standard input (first line) or an interactive prompt that does not echo."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise CommandError("no terminal to ask for the password: pass it with --password-stdin")
        password = getpass.getpass(prompt)
        if confirm and getpass.getpass("Repeat password: ") != password:
            raise CommandError("the passwords do not match")
    if not password:
        raise CommandError("empty password")
    return password


def login(db: Database, name: str, from_stdin: bool) -> User:
    result = log_in(db, name, read_password(from_stdin, prompt=f"Password for {name}: "), client="cli")
    if result.user is None:
        raise CommandError(f"{name!r}: {result.message[0].lower()}{result.message[1:]}")
    return result.user


def add_gold_release(p) -> None:
    """The --gold-release option of the commands that measure against gold."""
    p.add_argument("--gold-release", type=int, metavar="N", default=None,
                   help="measure against gold release N (default: the latest release, else the draft)")


def task_arg(db: Database, name: str) -> Task:
    return get_task(db, name)
