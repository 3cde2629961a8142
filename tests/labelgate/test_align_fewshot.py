"""Few-shot examples come from the train split only: checked on the prompts the runner really sent."""

from __future__ import annotations

import re

import pytest

from labelgate.align import few_shot_labeler, make_split, pick_examples
from labelgate.gold import resolve_gold
from labelgate.llm import RunOptions, plan_run, run_sync
from labelgate.store.gold import append_adjudication
from labelgate.store.labelers import save_labeler
from labelgate.store.llm import create_item_batch
from tests.labelgate.llm_helpers import PLANTED_KEY, answer_by_number, expected_label, frame, labeler, make_categorical
from tests.llm_server import FakeLLMServer

FAST = RunOptions(concurrency=8, timeout=1.0, max_retries=3, backoff_base=0.01, backoff_max=0.05, flush_seconds=0.2)
NUMBER = re.compile(r"review number (\d{3})")


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    s = FakeLLMServer(answer=answer_by_number).start()
    yield s
    s.stop()


def _gold_task(tmp_path, n=60):
    db, task = make_categorical(tmp_path, n)
    for i in range(n):
        append_adjudication(db, task.task_id, f"r{i:03d}", expected_label(f"review number {i:03d}"), None,
                            decided_by="lead", reason="test gold")
    assert resolve_gold(db, task).n_items == n
    return db, task


def test_examples_are_stratified_train_items_and_no_dev_or_test_item_reaches_a_prompt(tmp_path, server):
    db, task = _gold_task(tmp_path)
    split = make_split(db, task)
    train, dev, test = (set(split.ids(p)) for p in ("train", "dev", "test"))
    assert (len(train), len(dev), len(test)) == (12, 24, 24)
    examples = pick_examples(db, task, 6, seed=1)
    assert set(examples["item_id"]) <= train and examples["item_id"].is_unique
    assert sorted(examples["value"].value_counts().tolist()) == [2, 2, 2]        # stratified by gold label
    assert list(pick_examples(db, task, 6, seed=1)["item_id"]) == list(examples["item_id"])   # seeded
    with pytest.raises(ValueError, match="k must be between 0 and the 12 train items"):
        pick_examples(db, task, 13)

    base = labeler(db, task, server, prompt_template="Review:\n{item}\n\nAnswer with one of: {labels}.")
    shot, ids = few_shot_labeler(db, task, base, 6, seed=1)
    assert ids == list(examples["item_id"]) and shot.name == "judge 6-shot"
    assert shot.version != base.version                  # the examples are part of the labeler's version
    save_labeler(db, task.task_id, shot, created_by="test")
    create_item_batch(db, task.task_id, "lab", sorted(dev | test), created_by="test")
    result = run_sync(db, plan_run(db, task, shot.name, "batch:lab", relabel_anchors=False), FAST)
    assert result.status == "done" and result.done == 48

    prompts = [r["prompt"] for r in server.requests]
    assert len(prompts) == 48
    labeled = set()
    for prompt in prompts:
        head, _, tail = prompt.partition("Review:\n")
        assert "Examples labeled by experts" in head      # the system prompt, then the examples
        shown = {f"r{n}" for n in NUMBER.findall(head)}
        assert shown == set(ids)                          # exactly the chosen train examples, every time
        (own,) = NUMBER.findall(tail)
        labeled.add(f"r{own}")
        for i, v in zip(examples["item_id"], examples["value"], strict=True):
            assert f"review number {i[1:]}\n\nLabel: {v}" in head       # each with its gold label
    assert labeled == dev | test                          # every dev and test item only as the item to label
    stored = frame(db, "SELECT DISTINCT item_id FROM llm_labels WHERE labeler = ?", [shot.name])
    assert set(stored["item_id"]).isdisjoint(train)
