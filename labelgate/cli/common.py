"""Helpers shared by the command modules."""

from __future__ import annotations

import getpass
import sys

from labelgate.store import Database
from labelgate.store.tasks import get_task
from labelgate.store.users import User, authenticate
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
    user = authenticate(db, name, read_password(from_stdin, prompt=f"Password for {name}: "))
    if user is None:
        raise CommandError(f"wrong user name or password for {name!r}")
    return user


def task_arg(db: Database, name: str) -> Task:
    return get_task(db, name)
