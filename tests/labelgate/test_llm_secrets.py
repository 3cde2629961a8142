"""An API key planted in the environment appears nowhere: database, logs, progress, exports, CLI."""

from __future__ import annotations

import logging

import pytest

from labelgate.cli import main
from labelgate.llm import RunOptions, list_runs, plan_run, run_calls, run_failures, run_sync, scrub
from tests.labelgate.llm_helpers import PLANTED_KEY, answer_by_number, frame, labeler, make_categorical
from tests.llm_server import FakeLLMServer, Fault

OPTS = RunOptions(concurrency=4, timeout=0.5, max_retries=1, backoff_base=0.01, flush_seconds=0.2)


def leaky_server() -> FakeLLMServer:
    """Echoes the Authorization header into 500 bodies and into the model's label."""
    def faults(ctx):
        if "number 001" in ctx.prompt or "number 004" in ctx.prompt:
            return Fault("echo_auth", persistent=True)
        return None

    def answer(ctx):
        if "number 002" in ctx.prompt:
            return f"positive {ctx.headers.get('authorization')}"
        return answer_by_number(ctx)

    return FakeLLMServer(answer=answer, faults=faults).start()


def _everything_stored(db) -> str:
    """Every text value of every table, as one string."""
    out = []
    with db.connect() as con:
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
            for col in cols:
                out += [str(v) for (v,) in con.execute(f'SELECT DISTINCT "{col}"::VARCHAR FROM {table}').fetchall()]
    return "\n".join(out)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_planted_key_is_nowhere(tmp_path, monkeypatch, caplog, capsys, provider):
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED_KEY)
    caplog.set_level(logging.DEBUG)
    server = leaky_server()
    try:
        db, task = make_categorical(tmp_path, 6)
        labeler(db, task, server, provider=provider, model="gpt-4o" if provider == "openai" else "claude-haiku-4-5")
        progress = []
        result = run_sync(db, plan_run(db, task, "judge", "calibration"), OPTS, progress=progress.append)
        # the leak paths were exercised: the server really echoed the key, and we kept the (scrubbed) reasons
        assert any(r["authorization"] == f"Bearer {PLANTED_KEY}" for r in server.requests)
        assert result.failed == 3
        code = main(["--db", str(db.path), "run", "--task", task.name, "--labeler", "judge", "--items",
                     "calibration", "--retries", "0", "--timeout", "0.5"])
        assert code == 1
    finally:
        server.stop()
    stored = _everything_stored(db)
    assert "[REDACTED]" in stored
    exported = "\n".join([run_failures(db, result.run_id).to_csv(), run_calls(db, result.run_id).to_csv(),
                          list_runs(db, task.task_id).to_csv(), *(p.as_text() for p in progress),
                          *(repr(p) for p in progress)])
    out = capsys.readouterr()
    assert "3 item(s) failed" in out.out and "HTTP 500" in out.out
    for where, text in [("database values", stored), ("exports and progress", exported), ("stdout", out.out),
                        ("stderr", out.err), ("log records", caplog.text)]:
        assert PLANTED_KEY not in text, where
        assert "PLANTED" not in text, where
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("*.duckdb*"))
    assert b"PLANTED" not in raw


def test_scrub_removes_known_values_and_key_shapes(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "zzzz-custom-secret-value")
    text = "auth Bearer abcdefghijk; x-api-key: qwertyuiop1; sk-proj-0123456789; zzzz-custom-secret-value; task-12345"
    got = scrub(text)
    for secret in ("abcdefghijk", "qwertyuiop1", "0123456789", "zzzz-custom-secret-value"):
        assert secret not in got
    assert "task-12345" in got


def test_the_database_never_holds_the_key_variable_value_only_its_name(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELGATE_JUDGE_KEY", "sk-very-secret-999")
    server = FakeLLMServer(answer=answer_by_number).start()
    try:
        db, task = make_categorical(tmp_path, 2)
        labeler(db, task, server, api_key_env="LABELGATE_JUDGE_KEY")
        assert run_sync(db, plan_run(db, task, "judge", "calibration"), OPTS).done == 2
    finally:
        server.stop()
    assert frame(db, "SELECT api_key_env FROM labeler_versions").iloc[0, 0] == "LABELGATE_JUDGE_KEY"
    assert "sk-very-secret-999" not in _everything_stored(db)


def test_keys_go_only_where_they_belong(monkeypatch):
    """A labeler cannot name an arbitrary server secret, and a provider's own key is never sent
    to another URL unless its labeler names it on purpose."""
    import pytest

    from labelgate.labelers import LabelerConfig
    from labelgate.llm.secrets import MissingApiKeyError, resolve_api_key

    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    with pytest.raises(ValueError, match="API key variable 'AWS_SECRET_ACCESS_KEY' is not allowed"):
        LabelerConfig(name="x", provider="openai", model="gpt-4o", api_key_env="AWS_SECRET_ACCESS_KEY")
    local = LabelerConfig(name="x", provider="openai-compatible", model="llama", base_url="http://127.0.0.1:9/v1")
    assert resolve_api_key(local, secrets={}) is None
    elsewhere = LabelerConfig(name="x", provider="openai", model="gpt-4o", base_url="http://example.invalid/v1")
    with pytest.raises(MissingApiKeyError, match="not to the openai API"):
        resolve_api_key(elsewhere, secrets={})
    own_api = LabelerConfig(name="x", provider="openai", model="gpt-4o")
    assert resolve_api_key(own_api, secrets={}) == "sk-real-openai-key"
    chosen = LabelerConfig(name="x", provider="openai-compatible", model="llama", base_url="http://127.0.0.1:9/v1",
                           api_key_env="LABELGATE_LOCAL_KEY")
    monkeypatch.setenv("LABELGATE_LOCAL_KEY", "local-key-1")
    assert resolve_api_key(chosen, secrets={}) == "local-key-1"
