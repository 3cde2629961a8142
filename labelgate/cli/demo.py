"""labelgate demo"""

from __future__ import annotations

from labelgate.demo import CAP_TASK, DEMO_USERS, HANNA_TASK, TASK_NAME, load_demo


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="load the built-in demo project (LLMBar MT-Bench with four LLM judges, "
                                             "UK Acts for the student preview, HANNA stories with six criteria)")
    p.set_defaults(func=_demo)


def _demo(args) -> int:
    if not load_demo(args.db):
        print(f"the demo task {TASK_NAME!r} is already in {args.db.path}")
        return 0
    print(f"loaded the demo task {TASK_NAME!r} into {args.db.path}, with {CAP_TASK!r} (the student preview) and "
          f"{HANNA_TASK!r} (six criteria per story)")
    print("demo accounts (change these for real use):")
    for name, role, password in DEMO_USERS:
        print(f"  {name:<9} {role:<9} password: {password}")
    return 0
