"""A generated ordinal task with known, injected labeler biases (tests and benchmarks).

- Items: a `story` whose length is short (60-200 characters) or long (900-1500), metadata
  `length` (short/long), `domain`, `system` (10 groups) and `source_family` (the model that
  wrote the story).
- Gold: two experts (`exp-a`, `exp-b`) label the first `n_gold` items on a 1-5 scale (true
  score 1-4); they agree except on every 12th item, where `exp-b` says one point more (disputed).
  Their labels are imported (a file of human labels), or with `experts_in_app` answered in the app.
- `Lengthy` (family gpt): the true score (one point off on 10% of items), plus one point on long
  items; no confidence.
- `Overconfident` (family llama): right 65% of the time, else one point off, always stating
  confidence 0.9-1.0.
- `Steady-k` (k = 3.. up to `n_labelers`): right 80% of the time, honest confidence.
Every labeler labels all `n_items` items in batch `prod`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from labelgate.importer import read_table, validate_items, validate_labels
from labelgate.store import Database
from labelgate.store.imports import import_items, import_labels
from labelgate.store.tasks import create_task, get_task
from labelgate.tasks import Task, make_spec

TASK = "story-quality"
WORDS = "the a quiet river ran past old stone houses while children laughed and dogs slept in sun".split()


def _text(rng, n_chars: int) -> str:
    words = []
    while sum(len(w) + 1 for w in words) < n_chars:
        words.append(WORDS[rng.integers(len(WORDS))])
    return " ".join(words)


def make_biased_task(db: Database, *, n_items: int = 300, n_gold: int = 240, n_labelers: int = 2,
                     seed: int = 0, name: str = TASK, experts_in_app: bool = False) -> dict:
    """Create the task in `db`; returns {"task": Task, "truth": Series item_id -> true score, ...}."""
    rng = np.random.default_rng(seed)
    task = create_task(db, name, "ordinal", make_spec("ordinal", scale=(1, 5)), experts_per_item=2,
                       text_columns=["story"], created_by="test")
    ids = [f"s{i:04d}" for i in range(n_items)]
    long = rng.random(n_items) < 0.5
    truth = rng.integers(1, 5, n_items)  # 1..4
    items = pd.DataFrame({
        "item_id": ids,
        "story": [_text(rng, int(rng.integers(900, 1500) if lg else rng.integers(60, 200))) for lg in long],
        "length": np.where(long, "long", "short"),
        "domain": rng.choice(["news", "fiction", "science"], n_items),
        "system": [f"sys-{k}" for k in rng.integers(0, 10, n_items)],
        "source_family": rng.choice(["gpt", "llama", "claude"], n_items),
    })
    _import(db, task, items, "items.csv", what="items")
    task = get_task(db, name)
    g = np.arange(n_gold)
    disputed = g[g % 12 == 5]
    b = truth[:n_gold].copy()
    b[disputed] += 1
    experts = pd.concat([
        pd.DataFrame({"item_id": [ids[i] for i in g], "rater": "exp-a", "value": truth[:n_gold]}),
        pd.DataFrame({"item_id": [ids[i] for i in g], "rater": "exp-b", "value": b}),
    ])
    if experts_in_app:
        from labelgate.store.labels import append_human_label

        for r in experts.itertuples():
            append_human_label(db, task_id=task.task_id, item_id=r.item_id, rater=r.rater, status="label",
                               value=str(r.value), value_num=float(r.value))
    else:
        _import(db, task, experts, "experts.csv", what="human")
    off = np.where(rng.random(n_items) < 0.5, -1, 1)
    noisy = rng.random(n_items) < 0.1
    lengthy = np.clip(truth + long.astype(int) + np.where(noisy, off, 0), 1, 5)
    right = rng.random(n_items) < 0.65
    over = np.where(right, truth, np.clip(truth + off, 1, 5))
    llm = {"Lengthy": ("gpt", lengthy, None),
           "Overconfident": ("llama", over, rng.uniform(0.9, 1.0, n_items))}
    for k in range(3, n_labelers + 1):
        ok = rng.random(n_items) < 0.8
        llm[f"Steady-{k}"] = ("claude", np.where(ok, truth, np.clip(truth + off, 1, 5)),
                              np.where(ok, rng.uniform(0.7, 0.95, n_items), rng.uniform(0.5, 0.8, n_items)))
    for rater, (family, values, conf) in list(llm.items())[:max(n_labelers, 2)]:
        frame = pd.DataFrame({"item_id": ids, "rater": rater, "value": values, "batch": "prod"})
        if conf is not None:
            frame["confidence"] = np.round(conf, 3)
        _import(db, task, frame, f"{rater}.csv", what="llm", family=family)
    return {"task": task, "truth": pd.Series(truth, index=ids), "long": pd.Series(long, index=ids),
            "gold_ids": [ids[i] for i in g], "disputed": [ids[i] for i in disputed],
            "source_family": pd.Series(items["source_family"].to_numpy(), index=ids),
            "lengthy": pd.Series(lengthy, index=ids)}


def _import(db: Database, task: Task, frame: pd.DataFrame, file_name: str, *, what: str,
            family: str | None = None) -> None:
    parsed = read_table(file_name, data=frame.to_csv(index=False).encode())
    if what == "items":
        rows, text_columns = validate_items(parsed, task, text_columns=["story"])
        import_items(db, task, parsed, rows, text_columns, created_by="test")
        return
    from labelgate.store.items import get_items

    known = set(get_items(db, task.task_id)["item_id"])
    source = "human" if what == "human" else "llm"
    labels = validate_labels(parsed, task, source=source, known_items=known)
    import_labels(db, task, parsed, labels, source=source, family=family, created_by="test")
