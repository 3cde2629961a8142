"""The run engine against a fake OpenAI / Anthropic server, through the real SDKs.

Every test asserts what the database holds afterwards (llm_calls, llm_run_items, llm_labels,
llm_runs) and what the server saw (it counts requests).
"""

from __future__ import annotations

import time

import pytest

from labelgate.llm import (
    MissingApiKeyError,
    RunOptions,
    get_run,
    list_runs,
    plan_resume,
    plan_retry,
    plan_run,
    run_failures,
    run_sync,
    start_run,
)
from labelgate.store.items import record_set_draw
from labelgate.store.llm import create_item_batch
from labelgate.store.tasks import create_task
from labelgate.tasks import make_spec
from tests.labelgate.llm_helpers import (
    PLANTED_KEY,
    add_items,
    answer_by_number,
    count,
    expected_label,
    frame,
    labeler,
    make_categorical,
)
from tests.llm_server import FakeLLMServer, Fault, fault_mix

# a 1 s client timeout: a normal answer never reaches it on a loaded machine; "hang" faults sleep longer
FAST = RunOptions(concurrency=8, timeout=1.0, max_retries=3, backoff_base=0.01, backoff_max=0.05,
                  flush_seconds=0.2)


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED_KEY)
    return PLANTED_KEY


@pytest.fixture
def server():
    s = FakeLLMServer(answer=answer_by_number).start()
    yield s
    s.stop()


def _labels(db):
    return frame(db, "SELECT item_id, batch, sample_index, shown_order, value, confidence FROM llm_labels"
                     " ORDER BY item_id")


def test_thirty_percent_faults_every_item_labeled_or_failed_and_a_rerun_sends_nothing_for_done_items(
        tmp_path, key, server):
    server.faults = fault_mix(0.3, seed=7, hang_seconds=5.0)
    db, task = make_categorical(tmp_path, 60)
    labeler(db, task, server)
    plan = plan_run(db, task, "judge", "calibration")
    seen = []
    result = run_sync(db, plan, FAST, progress=seen.append)

    assert result.status == "done" and result.total == 60
    assert result.done + result.failed == 60 and result.failed > 0
    assert sum(server.faults_served.values()) >= 15        # the faults really happened
    outcomes = frame(db, "SELECT item_id, outcome, error FROM llm_run_items WHERE run_id = ?", [result.run_id])
    assert sorted(outcomes["item_id"]) == sorted(plan_item.item_id for plan_item in plan.units)
    failed = outcomes[outcomes["outcome"] == "failed"]
    assert len(failed) == result.failed and failed["error"].str.len().min() > 5      # each with its reason
    labels = _labels(db)
    assert len(labels) == result.done and labels["item_id"].is_unique
    assert set(labels["item_id"]).isdisjoint(failed["item_id"])
    assert all(v == expected_label(f"review number {i[1:]}") for i, v in zip(labels["item_id"], labels["value"],
                                                                           strict=True))
    run = get_run(db, result.run_id)
    assert (run["status"], run["n_labeled"], run["n_failed"], run["n_requests"]) == (
        "done", result.done, result.failed, server.request_count)
    assert seen[-1].finished == 60 and seen[-1].status == "done"

    # Re-run: nothing labeled is asked again; only failed-without-an-answer calls are re-sent.
    done_prompts = {f"review number {i[1:]}" for i in labels["item_id"]}
    server.reset_counts()
    second = run_sync(db, plan_run(db, task, "judge", "calibration"), FAST)
    asked = {r["prompt"][r["prompt"].index("review number"):][:17] for r in server.requests}
    assert asked.isdisjoint(done_prompts)
    assert second.cached_calls >= result.done
    assert count(db, "SELECT count(*) FROM llm_labels") == len(_labels(db).drop_duplicates("item_id"))
    # and without faults, a third run asks nothing at all once everything answered
    server.faults = None
    server.reset_counts()
    run_sync(db, plan_run(db, task, "judge", "calibration"), FAST)
    third = run_sync(db, plan_run(db, task, "judge", "calibration"), FAST)
    assert third.requests == 0
    dup = count(db, "SELECT count(*) FROM (SELECT item_id, batch, sample_index, count(*) n FROM llm_labels"
                    " GROUP BY ALL HAVING n > 1)")
    assert dup == 0


def _poll(condition, what: str, deadline_s: float = 60.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what} after {deadline_s:.0f} s"
        time.sleep(0.02)


def test_retry_after_is_honoured_and_the_sdk_does_not_retry_on_its_own(tmp_path, key, server):
    server.faults = lambda ctx: Fault("429", retry_after=0.3) if ctx.attempt == 1 else None
    db, task = make_categorical(tmp_path, 1)
    labeler(db, task, server)
    result = run_sync(db, plan_run(db, task, "judge", "calibration"), FAST)
    assert server.request_count == 2 and result.requests == 2 and result.done == 1
    assert frame(db, "SELECT attempts, status FROM llm_calls").to_dict("records") == [{"attempts": 2, "status": "ok"}]


def test_a_long_retry_after_holds_the_run_until_it_is_cancelled(tmp_path, key, server):
    """FAST's own backoff is at most 0.05 s: a retry within the settle time below means the
    server's Retry-After of an hour was ignored."""
    server.faults = lambda ctx: Fault("429", retry_after=3600) if ctx.attempt == 1 else None
    db, task = make_categorical(tmp_path, 1)
    labeler(db, task, server)
    handle = start_run(db, plan_run(db, task, "judge", "calibration"), FAST)
    _poll(lambda: server.request_count >= 1, "the first request")
    time.sleep(1.0)  # settle: 20 times FAST's longest backoff
    assert server.request_count == 1
    handle.cancel()
    assert handle.wait(30).status == "cancelled"
    assert server.request_count == 1 and count(db, "SELECT count(*) FROM llm_calls WHERE status = 'ok'") == 0


def test_timeouts_and_5xx_are_retried_then_recorded_with_the_reason(tmp_path, key, server):
    server.faults = lambda ctx: (Fault("hang", seconds=30, persistent=True) if "001" in ctx.prompt
                                 else Fault("500", persistent=True) if "002" in ctx.prompt else None)
    db, task = make_categorical(tmp_path, 3)
    labeler(db, task, server)
    opts = RunOptions(concurrency=4, timeout=1.0, max_retries=1, backoff_base=0.01, flush_seconds=0.2)
    result = run_sync(db, plan_run(db, task, "judge", "calibration"), opts)
    assert (result.done, result.failed) == (1, 2)
    errors = dict(frame(db, "SELECT item_id, error FROM llm_calls WHERE status = 'error'").values)
    assert errors["r001"].startswith("timeout") and "gave up after 2 attempts" in errors["r001"]
    assert "HTTP 500" in errors["r002"]
    assert server.request_count == 1 + 2 + 2


def test_invalid_answers_are_kept_and_retry_failed_asks_them_again(tmp_path, key, server):
    bad = {"003": Fault("off_label", persistent=True), "004": Fault("refusal", persistent=True),
           "005": Fault("bad_json", persistent=True)}
    server.faults = lambda ctx: next((f for k, f in bad.items() if f"number {k}" in ctx.prompt), None)
    server.answer = lambda ctx: "positive" if "005" not in ctx.prompt else "maybe"
    db, task = make_categorical(tmp_path, 6)
    labeler(db, task, server)
    first = run_sync(db, plan_run(db, task, "judge", "calibration"), FAST)
    assert (first.done, first.failed) == (3, 3)
    fails = run_failures(db, first.run_id).set_index("item_id")
    assert "'definitely-not-an-option' is not valid" in fails.loc["r003", "error"]
    assert fails.loc["r004", "error"].startswith("refusal")
    assert "no label found" in fails.loc["r005", "error"]
    assert not fails["resolved"].any()
    # A plain re-run does not pay again for answered-but-invalid calls ...
    server.reset_counts()
    assert run_sync(db, plan_run(db, task, "judge", "calibration"), FAST).requests == 0
    # ... "retry failed" does, and labels what now comes back valid.
    server.faults = None
    server.answer = lambda ctx: "neutral"
    retry = run_sync(db, plan_retry(db, first.run_id), FAST)
    assert (retry.total, retry.done, server.request_count) == (3, 3, 3)
    assert run_failures(db, first.run_id)["resolved"].all()
    assert list(_labels(db)["value"]) == ["positive"] * 3 + ["neutral"] * 3
    assert get_run(db, retry.run_id)["parent_run_id"] == first.run_id


def test_anthropic_through_its_sdk_with_structured_output(tmp_path, key, server):
    db, task = make_categorical(tmp_path, 5)
    labeler(db, task, server, provider="anthropic", model="claude-haiku-4-5")
    result = run_sync(db, plan_run(db, task, "judge", "calibration"), FAST)
    assert result.done == 5
    body = server.requests[0]["body"]
    assert body["output_config"]["format"]["schema"]["properties"]["label"]["enum"] == [
        "positive", "negative", "neutral"]
    assert "temperature" not in body   # rejected by the 2026-10-21 API; see providers.py
    calls = frame(db, "SELECT confidence, confidence_source, tokens_in, tokens_out, cost_usd FROM llm_calls")
    assert (calls["confidence_source"] == "verbalized").all() and (calls["confidence"] == 0.8).all()
    assert (calls["tokens_in"] > 0).all() and (calls["cost_usd"] > 0).all()


def test_openai_logprobs_give_the_confidence_and_samples_give_agreement(tmp_path, key, server):
    server.label_prob = 0.6
    db, task = make_categorical(tmp_path, 4)
    labeler(db, task, server)
    run_sync(db, plan_run(db, task, "judge", "calibration"), FAST)
    calls = frame(db, "SELECT confidence, confidence_source, conf_verbalized FROM llm_calls")
    assert (calls["confidence_source"] == "logprob").all()
    assert calls["confidence"].tolist() == pytest.approx([0.6] * 4)
    assert (calls["conf_verbalized"] == 0.8).all()
    assert server.requests[0]["body"]["response_format"]["json_schema"]["strict"] is True

    # Three samples, the third disagreeing: agreement 2/3 for the majority, 1/3 for the odd one.
    labeler(db, task, server, name="sampler", n_samples=3, temperature=1.0)
    server.answer = lambda ctx: "negative" if server.attempts[ctx.prompt] == 3 else "positive"
    server.reset_counts()
    # samples share a prompt, so the server's per-prompt attempt counter numbers them 1, 2, 3
    run_sync(db, plan_run(db, task, "sampler", "calibration"), RunOptions(concurrency=1, flush_seconds=0.2))
    got = frame(db, "SELECT item_id, sample_index, value, confidence FROM llm_labels WHERE labeler = 'sampler'"
                    " ORDER BY item_id, sample_index")
    assert len(got) == 12
    for _, g in got.groupby("item_id"):
        assert sorted(zip(g["value"], g["confidence"].round(3), strict=True)) == [
            ("negative", 0.333), ("positive", 0.667), ("positive", 0.667)]


def test_a_server_without_structured_outputs_falls_back_to_parsing_text(tmp_path, key, server):
    server.reject_structured = True
    db, task = make_categorical(tmp_path, 5)
    labeler(db, task, server, provider="openai-compatible", model="llama-3.1-8b")
    result = run_sync(db, plan_run(db, task, "judge", "calibration"), RunOptions(concurrency=1, flush_seconds=0.2))
    assert result.done == 5 and result.failed == 0
    assert server.request_count == 5 + 1                     # one rejected, then plain requests
    assert "response_format" not in server.requests[-1]["body"]
    assert all(v == expected_label(f"review number {i[1:]}") for i, v in _labels(db)[["item_id", "value"]].values)
    assert count(db, "SELECT sum(cost_usd) FROM llm_calls") == 0     # local models cost nothing


def test_pairwise_both_orders_are_asked_and_mapped_back(tmp_path, key, server):
    from labelgate.store.db import Database

    db = Database(tmp_path / "p.duckdb")
    task = create_task(db, "helpful", "pairwise", make_spec("pairwise", labels=["1", "2", "tie"]),
                       text_columns=["input", "output_1", "output_2"])
    items = {f"p{i}": {"input": f"question {i}", "output_1": "GOOD" if i % 2 else "bad",
                       "output_2": "bad" if i % 2 else "GOOD"} for i in range(6)}
    add_items(db, task.task_id, items)
    record_set_draw(db, task.task_id, "calibration", list(items), seed=0, stratify_by=None, created_by="t")

    def answer(ctx):   # the judge picks whichever output is shown first with GOOD in it
        return "1" if ctx.prompt.index("GOOD") < ctx.prompt.index("bad") else "2"

    server.answer = answer
    labeler(db, task, server, both_orders=True)
    result = run_sync(db, plan_run(db, task, "judge", "calibration"), FAST)
    assert result.done == 6 and server.request_count == 12
    got = _labels(db)
    assert len(got) == 12 and set(got["shown_order"]) == {"12", "21"}
    for item_id, g in got.groupby("item_id"):
        truth = "1" if int(item_id[1:]) % 2 else "2"
        assert set(g["value"]) == {truth}                 # both orders agree once mapped back
    raw = frame(db, "SELECT shown_order, raw_label, value FROM llm_calls WHERE item_id = 'p1'")
    assert dict(zip(raw["shown_order"], raw["raw_label"], strict=True)) == {"12": "1", "21": "2"}


def test_batch_runs_relabel_the_anchor_set_once_per_batch(tmp_path, key, server):
    db, task = make_categorical(tmp_path, 10, anchors=3)
    labeler(db, task, server)
    create_item_batch(db, task.task_id, "week1", ["r000", "r001", "r002", "r003"])
    create_item_batch(db, task.task_id, "week2", ["r004", "r005"])
    with pytest.raises(ValueError, match="already exists"):
        create_item_batch(db, task.task_id, "week1", ["r009"])
    with pytest.raises(ValueError, match="does not have: zzz"):
        create_item_batch(db, task.task_id, "week3", ["zzz"])

    run_sync(db, plan_run(db, task, "judge", "batch:week1"), FAST)
    assert server.request_count == 4 + 3
    run_sync(db, plan_run(db, task, "judge", "batch:week1"), FAST)
    assert server.request_count == 7                          # same batch again: all cached
    run_sync(db, plan_run(db, task, "judge", "batch:week2"), FAST)
    assert server.request_count == 7 + 2 + 3                  # anchors asked again for the new batch
    batches = frame(db, "SELECT batch, count(*) n FROM llm_labels GROUP BY batch ORDER BY batch")
    assert dict(batches.values) == {"week1": 4, "anchor:week1": 3, "week2": 2, "anchor:week2": 3}
    with pytest.raises(LookupError, match="known batches: week1, week2"):
        plan_run(db, task, "judge", "batch:nope")


def test_cancel_then_resume_pays_for_nothing_twice(tmp_path, key, server):
    server.latency = 0.05
    db, task = make_categorical(tmp_path, 60)
    labeler(db, task, server)
    plan = plan_run(db, task, "judge", "calibration")
    handle = start_run(db, plan, RunOptions(concurrency=2, flush_seconds=0.1))
    while handle.progress().finished < 6:
        time.sleep(0.01)
    handle.cancel()
    first = handle.wait(10)
    assert first.status == "cancelled" and 6 <= first.finished < 60
    assert get_run(db, handle.run_id)["status"] == "cancelled"
    answered = count(db, "SELECT count(*) FROM llm_calls WHERE status = 'ok'")
    assert 0 <= server.request_count - answered <= 2     # at most the 2 in-flight requests were cut
    resumed = run_sync(db, plan_resume(db, handle.run_id), RunOptions(concurrency=8, flush_seconds=0.1))
    assert resumed.status == "done" and resumed.done == 60
    prompts = [r["prompt"] for r in server.requests]
    ok_prompts = frame(db, "SELECT count(DISTINCT content_hash) FROM llm_calls WHERE status = 'ok'").iloc[0, 0]
    assert ok_prompts == 60 and len(_labels(db)) == 60
    assert len(prompts) - len(set(prompts)) <= 2                 # at most the cut in-flight calls re-sent
    runs = list_runs(db, task.task_id)
    assert list(runs["status"]) == ["done", "cancelled"] and runs["parent_run_id"].iloc[0] == handle.run_id


def test_concurrency_and_request_rate_are_bounded(tmp_path, key, server):
    server.latency = 0.1  # long enough that the three workers' requests overlap at the server
    db, task = make_categorical(tmp_path, 24)
    labeler(db, task, server)
    run_sync(db, plan_run(db, task, "judge", "calibration"), RunOptions(concurrency=3, flush_seconds=0.2))
    assert server.max_in_flight == 3
    # 6 requests a minute with a 30 s burst: 3 go at once, the 4th is due 10 s later, whatever the
    # concurrency (the bucket's timing itself is tested on a virtual clock in test_llm_ratelimit)
    server.latency = 0
    labeler(db, task, server, name="limited", max_tokens=100)
    server.reset_counts()
    handle = start_run(db, plan_run(db, task, "limited", "calibration"),
                       RunOptions(concurrency=24, rpm=6, burst_seconds=30, flush_seconds=0.2))
    _poll(lambda: server.request_count >= 3, "the burst of 3 requests")
    time.sleep(1.0)  # settle: without the limit, the other 21 would be sent by now
    assert server.request_count == 3
    handle.cancel()
    assert handle.wait(30).status == "cancelled" and server.request_count == 3


def test_a_rejected_key_stops_the_run(tmp_path, key, server):
    server.faults = lambda ctx: Fault("401", persistent=True)
    db, task = make_categorical(tmp_path, 30)
    labeler(db, task, server)
    result = run_sync(db, plan_run(db, task, "judge", "calibration"), RunOptions(concurrency=2, flush_seconds=0.2))
    assert result.status == "failed" and "HTTP 401" in result.message
    assert server.request_count <= 2                       # no point asking 30 times
    run = get_run(db, result.run_id)
    assert run["status"] == "failed" and "401" in run["message"]


def test_a_missing_key_is_named_and_nothing_is_recorded(tmp_path, server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    db, task = make_categorical(tmp_path, 3)
    labeler(db, task, server)
    with pytest.raises(MissingApiKeyError, match="set the environment variable OPENAI_API_KEY"):
        start_run(db, plan_run(db, task, "judge", "calibration"))
    labeler(db, task, server, name="own", api_key_env="LABELGATE_OWN_KEY")
    with pytest.raises(MissingApiKeyError, match="LABELGATE_OWN_KEY"):
        run_sync(db, plan_run(db, task, "own", "calibration"))
    assert count(db, "SELECT count(*) FROM llm_runs") == 0
    monkeypatch.setenv("LABELGATE_OWN_KEY", "sk-own-key-456")
    assert run_sync(db, plan_run(db, task, "own", "calibration"), FAST).done == 3
    assert server.requests[-1]["authorization"] == "Bearer sk-own-key-456"


def test_run_sync_works_where_an_event_loop_is_already_running(tmp_path, key, server):
    """As in a notebook, or beside Playwright's sync API in the same test process."""
    import asyncio

    db, task = make_categorical(tmp_path, 5)
    labeler(db, task, server)

    async def caller():
        return run_sync(db, plan_run(db, task, "judge", "calibration"), FAST)

    result = asyncio.run(caller())
    assert (result.status, result.done, result.failed) == ("done", 5, 0)
    assert len(_labels(db)) == 5


def test_a_call_that_stalls_past_every_client_timeout_cannot_hold_the_run(tmp_path, key, server):
    """Our own deadline around each attempt: the run ends, the item failed with a timeout reason."""
    import asyncio

    from labelgate.llm.providers import Provider
    from labelgate.llm.runner import execute_run, run_in_new_loop

    class Stalling(Provider):
        async def _send(self, req):
            while True:  # never answers, and shrugs off cancellation like a shielded cleanup
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    continue

    db, task = make_categorical(tmp_path, 2)
    cfg = labeler(db, task, server)
    plan = plan_run(db, task, "judge", "calibration")
    opts = RunOptions(concurrency=2, timeout=0.1, max_retries=1, backoff_base=0.01, backoff_max=0.02,
                      flush_seconds=0.1)
    result = run_in_new_loop(execute_run(db, plan, opts, provider=Stalling(cfg, api_key=None, timeout=0.1)))
    assert (result.status, result.done, result.failed) == ("done", 0, 2)
    errors = frame(db, "SELECT error FROM llm_run_items WHERE outcome = 'failed'")["error"]
    assert len(errors) == 2 and errors.str.contains("timeout").all()


def test_a_cancelled_run_leaves_no_unretrieved_task_exception_in_the_log(tmp_path, key, server, caplog, recwarn):
    """Requests in flight at a cancel end with a connection error when the client closes; nobody
    awaits them any more, and asyncio used to log each as "Task exception was never retrieved"."""
    import gc
    import logging

    server.latency = 0.3
    db, task = make_categorical(tmp_path, 40)
    labeler(db, task, server)
    gc.collect()                                    # what earlier tests left behind is not this run's
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    handle = start_run(db, plan_run(db, task, "judge", "calibration"), RunOptions(concurrency=8, flush_seconds=0.1))
    deadline = time.monotonic() + 30
    while server.in_flight < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.in_flight >= 4                   # cancelled with requests in flight
    handle.cancel()
    assert handle.wait(30).status == "cancelled"
    gc.collect()                                    # asyncio logs an unretrieved exception when the task is freed
    logged = caplog.text + "".join(str(w.message) for w in recwarn)
    assert "CallFailure" not in logged and "never retrieved" not in logged
    assert "was destroyed but it is pending" not in logged
