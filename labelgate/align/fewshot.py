"""Few-shot examples for a labeler, drawn from the train split only.

`few_shot_labeler` picks k train items stratified by gold label (seeded), renders them with their
gold labels at the head of the labeler's prompt template and returns the new labeler config: the
examples are in its template, so they are part of its version, and it runs through the existing
runner and cache unchanged. Dev and test items are never candidates.
"""

from __future__ import annotations

import pandas as pd

from labelgate.align.splits import split_for
from labelgate.gold import resolve_gold
from labelgate.labelers import LabelerConfig
from labelgate.llm.prompts import default_template, examples_block
from labelgate.store import Database
from labelgate.store.items import get_items
from labelgate.tasks import Task
from qc.sampling import stratified_sample


def pick_examples(db: Database, task: Task, k: int, *, seed: int = 0, gold_release: int | None = None) -> pd.DataFrame:
    """k train items (item_id, value: the gold label), stratified by gold label, in draw order."""
    gold = resolve_gold(db, task, gold_release)
    split = split_for(db, task, gold)
    train = split.ids("train")
    if not 0 <= k <= len(train):
        raise ValueError(f"k must be between 0 and the {len(train)} train items of {split.gold_name}, got {k}")
    labels = gold.labels.set_index("item_id")["value"]
    pool = pd.DataFrame({"item_id": train}).assign(value=lambda d: d["item_id"].map(labels)).dropna()
    pool = pool.reset_index(drop=True)
    idx = stratified_sample(pool["value"].to_numpy(), k, seed=seed)
    return pool.iloc[idx].reset_index(drop=True)


def few_shot_labeler(db: Database, task: Task, config: LabelerConfig, k: int, *, seed: int = 0,
                     name: str | None = None, gold_release: int | None = None) -> tuple[LabelerConfig, list[str]]:
    """`config` with k train examples rendered at the head of its template, and the example ids."""
    examples = pick_examples(db, task, k, seed=seed, gold_release=gold_release)
    if examples.empty:
        return config, []
    fields = get_items(db, task.task_id, list(examples["item_id"])).set_index("item_id")["fields"]
    block = examples_block(task, [(fields[i], v) for i, v in zip(examples["item_id"], examples["value"],
                                                                    strict=True)])
    template = block + "\n\n" + (config.prompt_template or default_template(task))
    return (config.with_changes(name=name or f"{config.name} {k}-shot", prompt_template=template),
            list(examples["item_id"]))
