"""Tasks and their revisions."""

from __future__ import annotations

import json

from labelgate.store.db import Database, fetch_one
from labelgate.tasks import Criterion, Task, TaskSpecError, check_criteria, default_criterion

_CURRENT = """
    SELECT t.task_id, t.name, t.kind, r.spec, r.rubric, r.text_columns, r.experts_per_item, r.revision,
           r.overlap_share, r.criteria, r.domain_column, coalesce(r.others_may_label, true)
    FROM tasks t
    JOIN task_revisions r USING (task_id)
    WHERE r.revision = (SELECT max(revision) FROM task_revisions WHERE task_id = t.task_id)
"""


class UnknownTaskError(LookupError):
    pass


def _task(row) -> Task:
    task_id, name, kind, spec, rubric, text_columns, experts, revision, overlap_share, criteria, domain, others = row
    spec = json.loads(spec)
    crits = tuple(Criterion.from_dict(d) for d in json.loads(criteria)) if criteria else ()
    return Task(
        task_id, name, kind, spec, rubric, tuple(json.loads(text_columns)), experts, revision,
        overlap_share, crits or (default_criterion(kind, spec),), domain_column=domain, others_may_label=others,
    )


def _criteria_json(criteria) -> str:
    return json.dumps([c.to_dict() for c in criteria])


def create_task(
    db: Database,
    name: str,
    kind: str | None = None,
    spec: dict | None = None,
    *,
    criteria: list[Criterion] | tuple[Criterion, ...] | None = None,
    rubric: str = "",
    text_columns: list[str] | None = None,
    experts_per_item: int = 2,
    overlap_share: float = 0.2,
    created_by: str | None = None,
) -> Task:
    """A new task: either one question (`kind` and `spec`: one criterion named 'label') or `criteria`
    (labelgate.tasks.parse_criteria / make_criterion), whose first gives the task's kind and spec."""
    name = name.strip()
    if not name:
        raise ValueError("a task needs a name")
    if criteria:
        criteria = check_criteria(criteria)
        if kind is not None and kind != criteria[0].kind or spec is not None and spec != criteria[0].spec:
            raise TaskSpecError("give either kind and spec (one question) or criteria, not both")
        kind, spec = criteria[0].kind, criteria[0].spec
    elif kind is None or spec is None:
        raise TaskSpecError("a task needs a kind and its options, or a list of criteria")
    else:
        criteria = (default_criterion(kind, spec),)
    check_sharing(experts_per_item, overlap_share)
    with db.transaction() as con:
        if fetch_one(con, "SELECT 1 FROM tasks WHERE name = ?", [name]):
            raise ValueError(f"a task named {name!r} already exists")
        (task_id,) = fetch_one(
            con,
            "INSERT INTO tasks (name, kind, created_by) VALUES (?, ?, ?) RETURNING task_id",
            [name, kind, created_by],
        )
        con.execute(
            "INSERT INTO task_revisions (task_id, revision, spec, rubric, text_columns, experts_per_item,"
            " overlap_share, created_by, criteria) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)",
            [task_id, json.dumps(spec), rubric, json.dumps(text_columns or []), experts_per_item, overlap_share,
             created_by, _criteria_json(criteria)],
        )
    return get_task(db, name)


def check_sharing(experts_per_item: int, overlap_share: float) -> None:
    """How a task shares its calibration set out among experts: refuse values that cannot work."""
    if experts_per_item < 1:
        raise ValueError(f"experts per item must be at least 1; got {experts_per_item}")
    if not 0 <= overlap_share <= 1:
        raise ValueError(f"the share every expert labels must lie between 0 and 1; got {overlap_share}")


def revise_task(db: Database, name: str, *, created_by: str | None = None, **changes) -> Task:
    """Append a revision with `changes` (spec, criteria, rubric, text_columns, experts_per_item, overlap_share,
    domain_column, others_may_label)."""
    task = get_task(db, name)
    with db.transaction() as con:
        append_revision(con, task, created_by=created_by, **changes)
    return get_task(db, name)


def append_revision(con, task: Task, *, created_by: str | None = None, **changes) -> bool:
    """Inside the caller's transaction: append a revision of `task` with `changes`, numbered
    after the latest one stored (not the one `task` was read at). False when nothing changes."""
    allowed = {"spec", "criteria", "rubric", "text_columns", "experts_per_item", "overlap_share", "domain_column",
               "others_may_label"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))} of a task")
    if task.view is not None:
        raise ValueError(f"task {task.name}: revise the task, not its view of criterion {task.view!r}")
    if "spec" in changes and "criteria" in changes:
        raise ValueError("change either spec (a one-question task) or criteria, not both")
    criteria = task.criteria
    if "criteria" in changes:
        criteria = check_criteria(changes.pop("criteria"))
        if criteria[0].kind != task.kind:
            raise TaskSpecError(f"criterion 1 ({criteria[0].name!r}): kind: the first criterion keeps the task's "
                                f"kind {task.kind}; got {criteria[0].kind}")
    elif "spec" in changes:
        if task.is_multi:
            raise ValueError(f"task {task.name} has several criteria: change them with criteria=...")
        first = task.criteria[0]
        criteria = (Criterion(first.name, first.kind, changes["spec"], first.rubric, first.required, first.rationale,
                              first.show_if, first.rate),)
    old = {"spec": task.spec, "rubric": task.rubric, "text_columns": list(task.text_columns),
           "experts_per_item": task.experts_per_item, "overlap_share": task.overlap_share,
           "criteria": [c.to_dict() for c in task.criteria], "domain_column": task.domain_column,
           "others_may_label": task.others_may_label}
    new = {**old, **{k: (list(v) if k == "text_columns" else v) for k, v in changes.items()},
           "spec": criteria[0].spec, "criteria": [c.to_dict() for c in criteria]}
    if new == old:
        return False
    check_sharing(new["experts_per_item"], new["overlap_share"])
    con.execute(
        "INSERT INTO task_revisions (task_id, revision, spec, rubric, text_columns, experts_per_item, overlap_share,"
        " created_by, criteria, domain_column, others_may_label)"
        " SELECT ?, max(revision) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM task_revisions WHERE task_id = ?",
        [task.task_id, json.dumps(new["spec"]), new["rubric"], json.dumps(new["text_columns"]),
         new["experts_per_item"], new["overlap_share"], created_by, json.dumps(new["criteria"]),
         new["domain_column"], bool(new["others_may_label"]), task.task_id])
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


def set_task_routing(db: Database, name: str, *, domain_column: str | None, others_may_label: bool = True,
                     created_by: str | None = None) -> Task:
    """Route the task's items by expertise: `domain_column` names one of its items' metadata columns
    (None or "": no routing), `others_may_label` whether experts without an item's domain tag may label
    it when no matching expert is free. Refused (nothing changed) when the column is not a metadata
    column of the task's items. Appends a task revision when something changes."""
    task = get_task(db, name)
    column = (domain_column or "").strip() or None
    if column is not None:
        with db.connect() as con:
            keys = {r[0] for r in con.execute(
                "SELECT DISTINCT unnest(json_keys(meta)) FROM items WHERE task_id = ?", [task.task_id]).fetchall()}
        if column not in keys:
            raise ValueError(
                f"domain column: {column!r} is not a metadata column of task {task.name}'s items; "
                + (f"its columns: {', '.join(sorted(keys))}" if keys else "it has no items with metadata yet"))
    if not isinstance(others_may_label, bool):
        raise ValueError(f"others may label: expected true or false; got {others_may_label!r}")
    return revise_task(db, name, created_by=created_by, domain_column=column, others_may_label=others_may_label)
