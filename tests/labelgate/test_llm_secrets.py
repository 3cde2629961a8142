"""API keys: scrubbing, only the variable's name stored, keys sent only where a labeler names them. The
sweep of a planted key through the CLI, the app, the database, logs, exports and websocket frames is
tests/security/test_planted_key_sweep.py."""

from __future__ import annotations

import pytest

from labelgate.llm import RunOptions, plan_run, run_sync, scrub
from tests.labelgate.llm_helpers import answer_by_number, frame, labeler, make_categorical
from tests.llm_server import FakeLLMServer

OPTS = RunOptions(concurrency=4, timeout=10, max_retries=1, backoff_base=0.01, flush_seconds=0.2)


def _everything_stored(db) -> str:
    """Every text value of every table, as one string."""
    out = []
    with db.connect() as con:
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
            for col in cols:
                out += [str(v) for (v,) in con.execute(f'SELECT DISTINCT "{col}"::VARCHAR FROM {table}').fetchall()]
    return "\n".join(out)


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
