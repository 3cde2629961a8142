"""labelgate users add|list|disable"""

from __future__ import annotations

from labelgate.auth import ROLES
from labelgate.cli.common import read_password
from labelgate.store import users as user_store


def register(subparsers) -> None:
    p = subparsers.add_parser("users", help="manage user accounts")
    sub = p.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="create a user (password from a prompt, or --password-stdin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=_add)
    ls = sub.add_parser("list", help="list users and roles")
    ls.set_defaults(func=_list)
    dis = sub.add_parser("disable", help="stop a user from logging in (their labels stay)")
    dis.add_argument("name")
    dis.set_defaults(func=_disable)


def _add(args) -> int:
    password = read_password(args.password_stdin, confirm=True)
    user = user_store.add_user(args.db, args.name, args.role, password, created_by="cli")
    print(f"created {user.role} {user.name}")
    return 0


def _list(args) -> int:
    for u in user_store.list_users(args.db):
        print(f"{u.name:<20} {u.role:<9} {'active' if u.active else 'disabled'}")
    return 0


def _disable(args) -> int:
    user_store.set_user_active(args.db, args.name, False)
    print(f"disabled {args.name}")
    return 0

