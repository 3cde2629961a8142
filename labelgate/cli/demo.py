"""labelgate demo"""

from __future__ import annotations

from labelgate.demo import DEMO_USERS, TASK_NAME, load_demo


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="load the built-in demo project (LLMBar MT-Bench, four LLM judges)")
    p.set_defaults(func=_demo)


def _demo(args) -> int:
    if not load_demo(args.db):
        print(f"the demo task {TASK_NAME!r} is already in {args.db.path}")
        return 0
    print(f"loaded the demo task {TASK_NAME!r} into {args.db.path}")
    print("demo accounts (change these for real use):")
    for name, role, password in DEMO_USERS:
        print(f"  {name:<9} {role:<9} password: {password}")
    return 0
