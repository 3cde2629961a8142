"""labelgate users add|list|disable|role|tags"""

from __future__ import annotations

import getpass

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
    role = sub.add_parser("role", help="give a user another role (audited)")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    role.set_defaults(func=_role)
    tags = sub.add_parser("tags", help="show or set a user's expertise tags (routing by expertise)")
    tags.add_argument("name")
    tags.add_argument("--set", dest="tags", metavar="TAGS", default=None,
                      help="comma-separated tags, e.g. legal,code ('' clears them)")
    tags.set_defaults(func=_tags)


def _operator() -> str:
    """Who the audit log names for a change made from the command line."""
    return f"cli:{getpass.getuser()}"


def _add(args) -> int:
    password = read_password(args.password_stdin, confirm=True)
    user = user_store.add_user(args.db, args.name, args.role, password, created_by=_operator())
    print(f"created {user.role} {user.name}")
    return 0


def _list(args) -> int:
    tags = user_store.user_tags(args.db)
    for u in user_store.list_users(args.db):
        print(f"{u.name:<20} {u.role:<9} {'active' if u.active else 'disabled':<9} {', '.join(tags.get(u.name, []))}"
              .rstrip())
    return 0


def _disable(args) -> int:
    user_store.set_user_active(args.db, args.name, False, changed_by=_operator())
    print(f"disabled {args.name}")
    return 0


def _role(args) -> int:
    changed = user_store.set_user_role(args.db, args.name, args.role, changed_by=_operator())
    print(f"{args.name} is {'now' if changed else 'already'} {args.role}")
    return 0



def _tags(args) -> int:
    if args.tags is not None:
        changed = user_store.set_user_tags(args.db, args.name, args.tags, changed_by=_operator())
        if not changed:
            print(f"{args.name}'s expertise tags are already: {', '.join(user_store.parse_tags(args.tags)) or 'none'}")
            return 0
    elif args.name not in {u.name for u in user_store.list_users(args.db)}:
        raise LookupError(f"no user named {args.name!r}")
    print(f"{args.name}: expertise tags: {', '.join(user_store.user_tags(args.db).get(args.name, [])) or 'none'}")
    return 0
