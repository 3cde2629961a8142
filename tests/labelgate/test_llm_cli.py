"""labelgate labelers add/list, labelgate batches add/list, labelgate run: exit codes and what they store."""

from __future__ import annotations

import pytest

from labelgate.cli import main
from labelgate.store.labelers import current_labelers
from tests.labelgate.llm_helpers import PLANTED_KEY, answer_by_number, count, frame, make_categorical
from tests.llm_server import FakeLLMServer, Fault


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    server = FakeLLMServer(answer=answer_by_number).start()
    db, task = make_categorical(tmp_path, 8, anchors=2)
    yield db, task, server, (lambda *a: main(["--db", str(db.path), *a]))
    server.stop()


def test_labelers_add_validates_the_prompt_and_list_shows_them(setup, tmp_path, capsys):
    db, task, server, cli = setup
    bad = tmp_path / "bad.txt"
    bad.write_text("Label this: {body}")
    assert cli("labelers", "add", "j", "--task", task.name, "--provider", "openai", "--model", "gpt-4o",
               "--prompt-file", str(bad)) == 2
    assert "unknown placeholder {body}" in capsys.readouterr().err
    good = tmp_path / "good.txt"
    good.write_text("Review: {text}\nRubric: {rubric}\nAnswer one of {labels}.")
    assert cli("labelers", "add", "j", "--task", task.name, "--provider", "openai-compatible", "--model",
               "qwen2.5-7b", "--base-url", server.openai_url, "--prompt-file", str(good), "--samples", "2") == 0
    assert "labeler j added" in capsys.readouterr().out
    assert cli("labelers", "add", "j", "--task", task.name, "--provider", "openai-compatible", "--model",
               "qwen2.5-7b", "--base-url", server.openai_url, "--prompt-file", str(good), "--samples", "3") == 0
    assert "new version" in capsys.readouterr().out
    (cfg,) = current_labelers(db, task.task_id)
    assert (cfg.family, cfg.n_samples, cfg.prompt_template) == ("qwen", 3, good.read_text())
    assert cli("labelers", "list", "--task", task.name) == 0
    out = capsys.readouterr().out
    assert "qwen2.5-7b" in out and cfg.version in out
    assert cli("labelers", "add", "x", "--task", task.name, "--provider", "openai-compatible", "--model", "m") == 2
    assert "needs a base URL" in capsys.readouterr().err


def test_run_prints_a_summary_and_exits_by_outcome(setup, tmp_path, capsys):
    db, task, server, cli = setup
    assert cli("labelers", "add", "j", "--task", task.name, "--provider", "openai", "--model", "gpt-4o-mini",
               "--base-url", server.openai_url) == 0
    # the OpenAI key is not sent to another server unless the labeler names it on purpose
    assert cli("run", "--task", task.name, "--labeler", "j", "--items", "calibration") == 2
    assert "name the variable that holds that server's key" in capsys.readouterr().err
    assert server.request_count == 0
    assert cli("labelers", "add", "j", "--task", task.name, "--provider", "openai", "--model", "gpt-4o-mini",
               "--base-url", server.openai_url, "--api-key-env", "OPENAI_API_KEY") == 0
    assert cli("run", "--task", task.name, "--labeler", "j", "--items", "calibration", "--concurrency", "4") == 0
    out = capsys.readouterr()
    assert "8 of 8 items labeled, 0 failed" in out.out and "8 requests" in out.out
    assert "8/8" in out.err                                       # the progress bar
    # a batch run with a persistent failure: exit 1, the reason printed, the way to retry given
    ids = tmp_path / "ids.txt"
    ids.write_text("r000\nr001\nr002\n")
    assert cli("batches", "add", "wk1", "--task", task.name, "--file", str(ids)) == 0
    server.faults = lambda ctx: Fault("off_label", persistent=True) if "number 001" in ctx.prompt else None
    assert cli("labelers", "add", "k", "--task", task.name, "--provider", "openai", "--model", "gpt-4o",
               "--base-url", server.openai_url, "--api-key-env", "OPENAI_API_KEY") == 0  # nothing cached for it
    capsys.readouterr()
    assert cli("run", "--task", task.name, "--labeler", "k", "--items", "batch:wk1", "--no-progress") == 1
    out = capsys.readouterr().out
    assert "1 item(s) failed" in out and "r001 [wk1]" in out and "'definitely-not-an-option' is not valid" in out
    run_id = int(out.split()[1])
    assert f"labelgate run --retry-failed {run_id}" in out
    assert dict(frame(db, "SELECT batch, count(*) FROM llm_labels GROUP BY 1").values) == {
        "calibration": 8, "wk1": 2, "anchor:wk1": 2}
    assert "5 of 5" not in out and "4 of 5 items labeled, 1 failed" in out
    server.faults = None
    assert cli("run", "--retry-failed", str(run_id), "--no-progress") == 0
    assert count(db, "SELECT count(*) FROM llm_labels WHERE batch = 'wk1'") == 3
    assert cli("batches", "list", "--task", task.name) == 0
    assert "wk1\t3 items" in capsys.readouterr().out


def test_run_refuses_clearly(setup, capsys, monkeypatch):
    db, task, server, cli = setup
    assert cli("labelers", "add", "j", "--task", task.name, "--provider", "openai", "--model", "gpt-4o") == 0
    assert cli("run", "--task", task.name, "--labeler", "j") == 2
    assert "run needs --items" in capsys.readouterr().err
    assert cli("run", "--task", task.name, "--labeler", "j", "--items", "everything") == 2
    assert "items must be calibration, anchor or batch:NAME" in capsys.readouterr().err
    monkeypatch.delenv("OPENAI_API_KEY")
    assert cli("run", "--task", task.name, "--labeler", "j", "--items", "calibration") == 2
    assert "set the environment variable OPENAI_API_KEY" in capsys.readouterr().err
    assert count(db, "SELECT count(*) FROM llm_runs") == 0 and server.request_count == 0
