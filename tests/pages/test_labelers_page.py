"""The Labelers page as an engineer uses it, against the fake model server on 127.0.0.1."""

from __future__ import annotations

import sys

import pytest

from labelgate.llm.service import get_handle
from labelgate.store.tasks import get_task
from tests.llm_server import FakeLLMServer


def click(at, label: str):
    at.button[[b.label for b in at.button].index(label)].click().run()
    assert not at.exception, at.exception
    return at


def dump_run_tasks() -> None:
    """Print where every task of the runs' event loops waits (a hung run's threads all sit in select)."""
    import asyncio
    import gc

    for loop in [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]:
        if loop.is_running():
            for t in list(asyncio.all_tasks(loop)):
                t.print_stack(file=sys.stderr)


def define_local_judge(at, url: str) -> None:
    at.text_input(key="labelers_name").input("local-judge")
    at.selectbox(key="labelers_provider").select("openai-compatible")
    at.text_input(key="labelers_model").input("llama-3-8b-instruct")
    at.text_input(key="labelers_base_url").input(url)
    click(at, "Save labeler")


def test_engineer_defines_previews_and_runs_a_labeler(app_for, demo_db):
    with FakeLLMServer() as server:
        at = app_for("engineer", page="pages/labelers.py")
        assert at.title[0].value == "Labelers"
        define_local_judge(at, server.openai_url)
        assert any("Created labeler local-judge, version" in s.value for s in at.success)
        # the three preview prompts are rendered from the demo items, both orders each
        assert sum("Output 1:" in t.value for t in at.text) == 6

        at.selectbox(key="labelers_run_labeler").select("local-judge")
        at.selectbox(key="labelers_run_items").select("calibration")
        at.number_input(key="labelers_timeout").set_value(5)  # a lost request costs seconds, not minutes
        click(at, "Start run")
        assert not at.error, [e.value for e in at.error]
        run_id = at.session_state["labelers_run_id"]
        if get_handle(run_id).wait(timeout=300) is None:  # say where it hangs, then fail
            import faulthandler

            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
            dump_run_tasks()
            raise AssertionError(f"run {run_id} did not finish in 300 s: {get_handle(run_id).progress()}")
        at.run()
        assert server.request_count == 400  # 200 calibration items x both orders
    progress = [p.proto.text for p in at.get("progress")]
    assert any(f"run {run_id} done: 200 labeled, 0 failed of 200 items" in t for t in progress)
    task = get_task(demo_db, "mt-bench")
    with demo_db.connect() as con:
        n, family = con.execute(
            "SELECT count(*), any_value(v.family) FROM llm_labels l JOIN labeler_versions v"
            " ON v.task_id = l.task_id AND v.name = l.labeler AND v.version = l.version"
            " WHERE l.task_id = ? AND l.labeler = 'local-judge' AND l.batch = 'calibration'",
            [task.task_id]).fetchall()[0]
    assert (n, family) == (400, "llama")


def test_a_bad_prompt_placeholder_is_refused_with_its_name(app_for, demo_db):
    at = app_for("engineer", page="pages/labelers.py")
    at.text_input(key="labelers_name").input("typo-judge")
    at.text_area(key="labelers_prompt").input("Judge {instruction} please")
    click(at, "Save labeler")
    assert "unknown placeholder {instruction}" in at.error[0].value
    with demo_db.connect() as con:
        assert con.execute("SELECT count(*) FROM labeler_versions WHERE name = 'typo-judge'").fetchall()[0][0] == 0


def test_changing_the_prompt_makes_a_new_version_and_keeps_the_old(app_for, demo_db):
    at = app_for("engineer", page="pages/labelers.py")
    at.selectbox(key="labelers_pick").select("GPT-4").run()
    assert at.text_input(key="labelers_model").value == "gpt-4"
    at.text_area(key="labelers_prompt").input(at.text_area(key="labelers_prompt").value + "\nBe strict.")
    click(at, "Save labeler")
    assert any("Saved GPT-4 as a new version" in s.value for s in at.success)
    with demo_db.connect() as con:
        versions = con.execute("SELECT version FROM labeler_versions WHERE name = 'GPT-4' ORDER BY created_at"
                               ).fetchall()
    assert len(versions) == 2 and versions[0] != versions[1]


def test_switching_task_resets_the_form_and_the_preview_sends_only_a_saved_version(app_for, demo_db):
    from labelgate.store.tasks import create_task
    from labelgate.tasks import make_spec

    create_task(demo_db, "sentiment", "categorical", make_spec("categorical", labels=["pos", "neg"]))
    at = app_for("engineer", page="pages/labelers.py")
    at.selectbox(key="labelers_pick").select("GPT-4").run()
    send = next(b for b in at.button if b.label == "Send these three to the model")
    assert not send.disabled  # the saved GPT-4, unchanged
    at.text_area(key="labelers_prompt").input("Edited but not saved {item}").run()
    send = next(b for b in at.button if b.label == "Send these three to the model")
    assert send.disabled  # the draft is not what the model would get
    at.selectbox(key="labelers_task").select("sentiment").run()
    assert at.text_input(key="labelers_name").value == "new-labeler"
    from labelgate.llm.prompts import default_template
    from labelgate.store.tasks import get_task as task_named

    # the new task's default prompt, not mt-bench's GPT-4 prompt
    assert at.text_area(key="labelers_prompt").value == default_template(task_named(demo_db, "sentiment"))


def test_test_connection_makes_one_call_with_the_rubric_and_options_but_no_keys(app_for, demo_db):
    from tests.llm_server import Fault

    with FakeLLMServer() as server:
        at = app_for("engineer", page="pages/labelers.py")
        define_local_judge(at, server.openai_url)
        before = server.request_count
        click(at, "Test connection")
        assert server.request_count == before + 1
        ok = [s.value for s in at.success if s.value.startswith("Connected:")]
        assert ok and ok[0].startswith("Connected: llama-3-8b-instruct answered “")
        prompt = server.requests[-1]["prompt"]
        assert "does what the instruction asks" in prompt  # the rubric
        assert "1 = the first output is better" in prompt and "Answer with one of: 1, 2" in prompt
        assert "Keys:" not in prompt and "flag as ambiguous" not in prompt  # never the people's keys

        server.faults = lambda ctx: Fault("503", persistent=True)
        click(at, "Test connection")
        assert server.request_count == before + 2  # one call, no retries
        assert any(e.value.startswith("The call failed (retryable, HTTP 503)") for e in at.error), \
            [e.value for e in at.error]


def test_the_run_tab_shows_the_estimated_cost_before_the_run(app_for, demo_db):
    import re

    at = app_for("engineer", page="pages/labelers.py")
    at.text_input(key="labelers_name").input("priced")
    at.text_input(key="labelers_model").input("gpt-4o-mini")
    click(at, "Save labeler")
    at.selectbox(key="labelers_run_labeler").select("priced")
    at.selectbox(key="labelers_run_items").select("calibration").run()
    shown = [i.value for i in at.info if i.value.startswith("**Estimated cost of this run:**")]
    assert shown, [i.value for i in at.info]
    m = re.search(r"([\d,]+) calls, about ([\d,]+) input tokens: estimated \$([\d.,]+) \(at most \$([\d.,]+)",
                  shown[0])
    calls, tokens, likely, ceiling = (float(g.replace(",", "")) for g in m.groups())
    assert calls == 400  # 200 calibration items, both orders
    # gpt-4o-mini lists at $0.15 in and $0.60 out per million tokens; an answer is about 25 tokens
    assert likely == pytest.approx((tokens * 0.15 + calls * 25 * 0.60) / 1e6, abs=0.006)
    assert ceiling == pytest.approx((tokens * 0.15 + calls * 256 * 0.60) / 1e6, abs=0.006)  # at max tokens
    assert 400 * 300 < tokens < 400 * 3000  # the demo's prompts: a few hundred to a few thousand tokens each

    at.selectbox(key="labelers_run_labeler").select("GPT-4").run()  # "gpt-4" has no list price in the table
    assert any("no list price is known for this model" in i.value for i in at.info)


def test_a_saved_labeler_shows_at_once_on_the_pages_that_list_labelers(app_for, demo_db):
    # Monitor and Gate read the task's labelers from a cache shared by the pages: saving one must clear
    # it, or the new labeler is missing from their pickers for up to 30 s.
    for page in ("pages/monitor.py", "pages/gate.py"):
        at = app_for("lead", page=page)
        assert "local-judge" not in at.selectbox(key="monitor_labeler" if "monitor" in page else "gate_labeler").options
    at = app_for("engineer", page="pages/labelers.py")
    define_local_judge(at, "http://127.0.0.1:9/v1")
    assert any("Created labeler local-judge" in s.value for s in at.success)
    assert "local-judge" in app_for("lead", page="pages/monitor.py").selectbox(key="monitor_labeler").options
    assert "local-judge" in app_for("lead", page="pages/gate.py").selectbox(key="gate_labeler").options
