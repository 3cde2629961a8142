"""Tasks and their revisions."""

from __future__ import annotations

import json

from labelgate.store.db import Database, fetch_one
from labelgate.tasks import Task

_CURRENT = """
    SELECT t.task_id, t.name, t.kind, r.spec, r.rubric, r.text_columns, r.experts_per_item, r.revision
    FROM tasks t
    JOIN task_revisions r USING (task_id)
    WHERE r.revision = (SELECT max(revision) FROM task_revisions WHERE task_id = t.task_id)
"""


class UnknownTaskError(LookupError):
    pass


def _task(row) -> Task:
    task_id, name, kind, spec, rubric, text_columns, experts, revision = row
    return Task(
        task_id, name, kind, json.loads(spec), rubric, tuple(json.loads(text_columns)), experts, revision
    )


def create_task(
    db: Database,
    name: str,
    kind: str,
    spec: dict,
    *,
    rubric: str = "",
    text_columns: list[str] | None = None,
    experts_per_item: int = 2,
    created_by: str | None = None,
) -> Task:
    name = name.strip()
    if not name:
        raise ValueError("a task needs a name")
    if experts_per_item < 1:
        raise ValueError(f"experts per item must be at least 1; got {experts_per_item}")
    with db.transaction() as con:
        if fetch_one(con, "SELECT 1 FROM tasks WHERE name = ?", [name]):
            raise ValueError(f"a task named {name!r} already exists")
        (task_id,) = fetch_one(
            con,
            "INSERT INTO tasks (name, kind, created_by) VALUES (?, ?, ?) RETURNING task_id",
            [name, kind, created_by],
        )
        con.execute(
            "INSERT INTO task_revisions (task_id, revision, spec, rubric, text_columns, experts_per_item, created_by)"
            " VALUES (?, 1, ?, ?, ?, ?, ?)",
            [task_id, json.dumps(spec), rubric, json.dumps(text_columns or []), experts_per_item, created_by],
        )
    return get_task(db, name)


def revise_task(db: Database, name: str, *, created_by: str | None = None, **changes) -> Task:
    """Append a revision with `changes` (spec, rubric, text_columns, experts_per_item)."""
    task = get_task(db, name)
    with db.transaction() as con:
        append_revision(con, task, created_by=created_by, **changes)
    return get_task(db, name)


def append_revision(con, task: Task, *, created_by: str | None = None, **changes) -> bool:
    """Inside the caller's transaction: append a revision of `task` with `changes`, numbered
    after the latest one stored (not the one `task` was read at). False when nothing changes."""
    allowed = {"spec", "rubric", "text_columns", "experts_per_item"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))} of a task")
    old = {"spec": task.spec, "rubric": task.rubric, "text_columns": list(task.text_columns),
           "experts_per_item": task.experts_per_item}
    new = {**old, **{k: (list(v) if k == "text_columns" else v) for k, v in changes.items()}}
    if new == old:
        return False
    con.execute(
        "INSERT INTO task_revisions (task_id, revision, spec, rubric, text_columns, experts_per_item, created_by)"
        " SELECT ?, max(revision) + 1, ?, ?, ?, ?, ? FROM task_revisions WHERE task_id = ?",
        [task.task_id, json.dumps(new["spec"]), new["rubric"], json.dumps(new["text_columns"]),
         new["experts_per_item"], created_by, task.task_id])
    return True


def get_task(db: Database, name: str) -> Task:
    with db.connect() as con:
        row = fetch_one(con, _CURRENT + " AND t.name = ?", [name])
        if row is None:
            known = [r[0] for r in con.execute("SELECT name FROM tasks ORDER BY name").fetchall()]
            raise UnknownTaskError(
                f"no task named {name!r}"
                + (f"; known tasks: {', '.join(known)}" if known else "; there are no tasks yet")
            )
    return _task(row)


def list_tasks(db: Database) -> list[Task]:
    with db.connect() as con:
        return [_task(r) for r in con.execute(_CURRENT + " ORDER BY t.name").fetchall()]
