"""Shared set-up for the LLM runner tests: a task with items and sets in a fresh database."""

from __future__ import annotations

import json
import re

import pandas as pd

from labelgate.importer import content_hash
from labelgate.labelers import LabelerConfig
from labelgate.store.db import Database
from labelgate.store.items import record_set_draw
from labelgate.store.labelers import save_labeler
from labelgate.store.tasks import create_task
from labelgate.tasks import make_spec

PLANTED_KEY = "sk-test-PLANTED-123"


def add_items(db: Database, task_id: int, items: dict[str, dict]) -> None:
    """Insert items (id -> fields) the way an import would (test fixture only)."""
    rows = pd.DataFrame({
        "item_id": list(items),
        "fields": [json.dumps(f, sort_keys=True) for f in items.values()],
        "content_hash": [content_hash(f) for f in items.values()],
    })
    with db.transaction() as con:
        con.register("rows", rows)
        con.execute("INSERT INTO items (task_id, item_id, fields, meta, content_hash)"
                    " SELECT ?, item_id, fields::JSON, '{}'::JSON, content_hash FROM rows", [task_id])


def make_categorical(tmp_path, n=20, *, anchors=0, name="sentiment"):
    db = Database(tmp_path / "lg.duckdb", lock_timeout=10)
    task = create_task(db, name, "categorical", make_spec("categorical", labels=["positive", "negative", "neutral"]),
                       rubric="Is the review positive, negative or neutral?", text_columns=["text"])
    items = {f"r{i:03d}": {"text": f"review number {i:03d}"} for i in range(n + anchors)}
    add_items(db, task.task_id, items)
    ids = list(items)
    record_set_draw(db, task.task_id, "calibration", ids[:n], seed=1, stratify_by=None, created_by="test")
    if anchors:
        record_set_draw(db, task.task_id, "anchor", ids[n:], seed=1, stratify_by=None, created_by="test")
    return db, task


def expected_label(prompt: str) -> str:
    """The answer the fake server gives in these tests: by the review number modulo 3."""
    m = re.search(r"review number (\d+)", prompt)
    n = int(m.group(1)) if m else 0
    return ["positive", "negative", "neutral"][n % 3]


def answer_by_number(ctx) -> str:
    return expected_label(ctx.prompt)


def labeler(db, task, server, *, provider="openai", model="gpt-4o-mini", name="judge", **kw) -> LabelerConfig:
    url = server.anthropic_url if provider == "anthropic" else server.openai_url
    if provider in ("openai", "anthropic"):  # a custom base URL gets a key only when told which
        kw.setdefault("api_key_env", f"{provider.upper()}_API_KEY")
    cfg = LabelerConfig(name=name, provider=provider, model=model, base_url=url, **kw)
    save_labeler(db, task.task_id, cfg, created_by="test")
    return cfg


def count(db: Database, sql: str, params=()) -> int:
    with db.connect() as con:
        return con.execute(sql, list(params)).fetchone()[0]


def frame(db: Database, sql: str, params=()) -> pd.DataFrame:
    with db.connect() as con:
        return con.execute(sql, list(params)).df()
