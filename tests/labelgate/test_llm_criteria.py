"""LLM labelers on a task of several criteria (issue 11), through the real openai and anthropic SDKs
against tests/llm_server.py: one call per item answers every criterion in one JSON object (or one
call per criterion when the labeler says so); each criterion is parsed, validated, cached and
counted on its own, so one invalid criterion does not void the others."""

from __future__ import annotations

import json
import re

import pytest

from labelgate.llm import RunOptions, plan_retry, plan_run, run_sync
from labelgate.store.gold import judge_output_counts
from labelgate.store.items import record_set_draw
from labelgate.store.tasks import create_task
from labelgate.tasks import parse_criteria
from tests.labelgate.llm_helpers import PLANTED_KEY, add_items, count, frame, labeler
from tests.llm_server import FakeLLMServer

FAST = RunOptions(concurrency=4, timeout=5.0, max_retries=2, backoff_base=0.01, backoff_max=0.05,
                  flush_seconds=0.2)
CRITERIA = [
    {"name": "accurate", "kind": "categorical", "labels": ["yes", "no"], "rubric": "Every claim is true."},
    {"name": "fluency", "kind": "ordinal", "scale": "1-5", "rationale": "optional"},
    {"name": "first wrong step", "kind": "ordinal", "scale": "1-9",
     "show_if": {"criterion": "accurate", "equals": "no"}},
]


def number(prompt: str) -> int:
    return int(re.search(r"answer number (\d+)", prompt).group(1))


def joint_answer(ctx) -> dict:
    """Item k: accurate yes for even k (first wrong step null), no for odd k (step k); fluency k % 5 + 1,
    except item 3, whose fluency is 9 (not on the 1-5 scale)."""
    k = number(ctx.prompt)
    out = {"accurate": {"label": "yes" if k % 2 == 0 else "no", "confidence": 0.9},
           "fluency": {"label": str(9 if k == 3 else k % 5 + 1), "confidence": 0.7, "rationale": f"reads {k}"},
           "first wrong step": None if k % 2 == 0 else {"label": str(k), "confidence": 0.6}}
    return out


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED_KEY)


@pytest.fixture
def server():
    s = FakeLLMServer(answer=joint_answer).start()
    yield s
    s.stop()


def make_task(tmp_path, n=6):
    from labelgate.store.db import Database

    db = Database(tmp_path / "lg.duckdb", lock_timeout=10)
    task = create_task(db, "tutor", criteria=parse_criteria(CRITERIA), rubric="Judge the answer.",
                       text_columns=["text"])
    items = {f"a{i}": {"text": f"answer number {i}"} for i in range(n)}
    add_items(db, task.task_id, items)
    record_set_draw(db, task.task_id, "calibration", list(items), seed=1, stratify_by=None, created_by="test")
    return db, task


def labels(db):
    return frame(db, "SELECT item_id, criterion, value, rationale FROM llm_labels ORDER BY item_id, criterion")


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_one_call_per_item_returns_every_criterion_and_one_invalid_criterion_keeps_the_others(
        tmp_path, key, server, provider):
    db, task = make_task(tmp_path)
    labeler(db, task, server, provider=provider, model="gpt-4o-mini" if provider == "openai" else "claude-x")
    result = run_sync(db, plan_run(db, task, "judge", "calibration"), FAST)
    assert result.status == "done" and server.request_count == 6            # one request per item
    # the request asked for one JSON object with a member per criterion (structured outputs)
    body = server.requests[0]["body"]
    schema = body["response_format"]["json_schema"]["schema"] if provider == "openai" else \
        body["output_config"]["format"]["schema"]
    assert list(schema["properties"]) == ["accurate", "fluency", "first wrong step"]
    assert schema["properties"]["accurate"]["properties"]["label"]["enum"] == ["yes", "no"]
    assert {"type": "null"} in schema["properties"]["first wrong step"]["anyOf"]      # asked only when no
    assert "rationale" in schema["properties"]["fluency"]["properties"]
    got = labels(db)
    rows = {(r.item_id, r.criterion): r.value for r in got.itertuples()}
    for k in range(6):
        assert rows[(f"a{k}", "accurate")] == ("yes" if k % 2 == 0 else "no")
        assert rows.get((f"a{k}", "first wrong step")) == (None if k % 2 == 0 else str(k))
        assert rows.get((f"a{k}", "fluency")) == (None if k == 3 else str(k % 5 + 1))
    assert got.set_index(["item_id", "criterion"]).loc[("a1", "fluency"), "rationale"] == "reads 1"
    # the rationale is kept with its call, and Review shows it beside the label and finds it
    from labelgate.review import item_history, rationale_matches

    why = frame(db, "SELECT rationale FROM llm_calls WHERE item_id = 'a1' AND criterion = 'fluency'")
    assert why["rationale"].tolist() == ["reads 1"]
    fluency = task.criterion("fluency")
    shown = item_history(db, fluency, "a1")["labelers"]
    assert shown.set_index("labeler").loc["judge", "rationale"] == "reads 1"
    hits = rationale_matches(db, fluency, "READS 1")
    assert hits[["item_id", "by", "source"]].values.tolist() == [["a1", "judge", "llm"]]
    # item 3's fluency (9) is recorded as that criterion's invalid answer; its other answers are labels
    calls = frame(db, "SELECT item_id, criterion, status, error, tokens_in FROM llm_calls ORDER BY item_id, criterion")
    bad = calls[calls["status"] != "ok"]
    assert bad[["item_id", "criterion", "status"]].values.tolist() == [["a3", "fluency", "invalid"]]
    assert "fluency: label '9' is not valid: expected a whole number from 1 to 5" in bad["error"].iloc[0]
    assert len(calls) == 6 * 2 + 3        # accurate + fluency for all, first wrong step for the odd items
    # a request's tokens are counted once (on one of its rows)
    per_item = calls.groupby("item_id")["tokens_in"].apply(lambda s: int((s > 0).sum()))
    assert (per_item == 1).all()
    counts = {c: judge_output_counts(db, task.task_id, [("judge", result_version(db))], criterion=c).iloc[0]
              for c in task.criterion_names}
    assert (counts["fluency"]["n_labels"], counts["fluency"]["n_invalid"]) == (5, 1)
    assert (counts["accurate"]["n_labels"], counts["accurate"]["n_invalid"]) == (6, 0)
    assert (result.done, result.failed) == (5, 1)
    outcomes = frame(db, "SELECT item_id, criterion, outcome FROM llm_run_items WHERE run_id = ?"
                         " ORDER BY item_id, criterion", [result.run_id])
    assert outcomes[outcomes["outcome"] == "failed"][["item_id", "criterion"]].values.tolist() == [
        ["a3", "fluency"]]

    # a second run asks nothing; a retry of the failed item re-asks it once and stores only what was missing
    server.reset_counts()
    again = run_sync(db, plan_run(db, task, "judge", "calibration"), FAST)
    assert server.request_count == 0 and again.cached_calls == 6
    server.answer = lambda ctx: {**joint_answer(ctx), "fluency": {"label": "2", "confidence": 0.5}}
    server.reset_counts()
    retry = run_sync(db, plan_retry(db, result.run_id), FAST)
    assert server.request_count == 1 and (retry.done, retry.failed) == (1, 0)
    assert labels(db).set_index(["item_id", "criterion"]).loc[("a3", "fluency"), "value"] == "2"
    assert count(db, "SELECT count(*) FROM llm_calls WHERE item_id = 'a3' AND status = 'ok'") == 3   # not 4
    assert count(db, "SELECT count(*) FROM (SELECT item_id, criterion, count(*) n FROM llm_labels GROUP BY ALL"
                     " HAVING n > 1)") == 0


def result_version(db) -> str:
    return frame(db, "SELECT version FROM labeler_versions WHERE name = 'judge'")["version"].iloc[-1]


def test_a_per_criterion_labeler_asks_each_criterion_in_its_own_call(tmp_path, key, server):
    db, task = make_task(tmp_path, n=4)

    def one_answer(ctx):
        schema = ctx.body["response_format"]["json_schema"]["schema"]
        assert set(schema["properties"]) <= {"label", "confidence", "rationale"}   # one criterion's schema
        options = schema["properties"]["label"]["enum"]
        return options[number(ctx.prompt) % len(options)]

    server.answer = one_answer
    labeler(db, task, server, per_criterion=True)
    plan = plan_run(db, task, "judge", "calibration")
    assert plan.n_calls == 4 * 3
    result = run_sync(db, plan, FAST)
    assert result.status == "done" and server.request_count == 12 and result.done == 4
    prompts = [r["prompt"] for r in server.requests]
    assert sum("Every claim is true." in p for p in prompts) == 4    # the accurate criterion's own rubric
    got = labels(db)
    assert got.groupby("criterion").size().to_dict() == {"accurate": 4, "first wrong step": 4, "fluency": 4}
    # each criterion is cached under its own view: a second run sends nothing
    server.reset_counts()
    run_sync(db, plan_run(db, task, "judge", "calibration"), FAST)
    assert server.request_count == 0


def test_a_one_question_labeler_keeps_its_version_and_prompt(tmp_path):
    from labelgate.labelers import LabelerConfig
    from labelgate.llm.prompts import SYSTEM_PROMPT, label_schema, system_prompt
    from labelgate.tasks import Task, make_spec

    cfg = LabelerConfig(name="j", provider="openai", model="gpt-4o")
    assert cfg.version == LabelerConfig(name="j", provider="openai", model="gpt-4o", per_criterion=False).version
    assert cfg.version != LabelerConfig(name="j", provider="openai", model="gpt-4o", per_criterion=True).version
    one = Task(1, "t", "categorical", make_spec("categorical", labels=["a", "b"]))
    assert system_prompt(one) == SYSTEM_PROMPT.format(values="a, b")
    assert list(label_schema(one)["properties"]) == ["label", "confidence"]
    assert json.loads(json.dumps(label_schema(one))) == label_schema(one)
