"""A secret in a labeler's base URL is refused (CLI and Labelers page), never stored or printed."""

from __future__ import annotations

import duckdb
import pytest

from labelgate.cli import main
from labelgate.labelers import LabelerConfig
from labelgate.store.labelers import get_labeler
from tests.labelgate.llm_helpers import make_categorical

SECRET = "sk-planted0123456789abcdef"
BAD_URLS = [
    f"http://user:{SECRET}@127.0.0.1:8000/v1",
    f"https://{SECRET}@proxy.example/v1",
    f"https://proxy.example/v1?api_key={SECRET}",
    f"https://proxy.example/{SECRET}/v1",
    f"https://proxy.example/v1#{SECRET}",
]


def everything_stored(path) -> str:
    """Every value of every table, as one text."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        return "\n".join(repr(con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)
    finally:
        con.close()


@pytest.mark.parametrize("url", BAD_URLS)
def test_the_labeler_refuses_a_base_url_with_a_secret_without_repeating_it(url):
    with pytest.raises(ValueError) as refused:
        LabelerConfig(name="proxy", provider="openai-compatible", model="qwen2.5-7b", base_url=url)
    assert SECRET not in str(refused.value)
    assert "LABELGATE_<NAME>_KEY" in str(refused.value)


@pytest.mark.parametrize("url", ["ftp://host/v1", "127.0.0.1:8000/v1", "http:///v1"])
def test_a_base_url_must_be_http_with_a_host(url):
    with pytest.raises(ValueError, match="must start with http:// or https:// and name a host"):
        LabelerConfig(name="proxy", provider="openai-compatible", model="m", base_url=url)


def test_the_cli_refuses_it_and_stores_nothing(tmp_path, capsys):
    db, task = make_categorical(tmp_path, 4)
    for url in BAD_URLS:
        code = main(["--db", str(db.path), "labelers", "add", "proxy", "--task", task.name,
                     "--provider", "openai-compatible", "--model", "qwen2.5-7b", "--base-url", url])
        captured = capsys.readouterr()
        assert code == 2, captured
        assert "base URL must not" in captured.err
        assert SECRET not in captured.out + captured.err
    db.close()
    assert SECRET not in everything_stored(db.path)
    assert "proxy" not in everything_stored(db.path)


def test_a_row_stored_before_the_refusal_is_never_used_or_listed_with_its_secret(tmp_path, capsys):
    db, task = make_categorical(tmp_path, 4)
    with db.transaction() as con:  # as an earlier release stored it
        con.execute("INSERT INTO labeler_versions (task_id, version, created_by, name, provider, model, family,"
                    " base_url, prompt_template, temperature, max_tokens, n_samples, both_orders)"
                    " VALUES (?, 'v-old', 'cli', 'proxy', 'openai-compatible', 'qwen2.5-7b', 'qwen', ?, '', 0, 16,"
                    " 1, false)", [task.task_id, f"http://user:{SECRET}@127.0.0.1:8000/v1?key={SECRET}"])
    assert get_labeler(db, task.task_id, "proxy").base_url == "http://127.0.0.1:8000/v1"
    assert main(["--db", str(db.path), "labelers", "list", "--task", task.name]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8000/v1" in out and SECRET not in out


def test_the_labelers_page_refuses_it(app_for, demo_db):
    at = app_for("engineer", page="pages/labelers.py")
    at.selectbox(key="labelers_provider").set_value("openai-compatible")
    at.text_input(key="labelers_name").set_value("proxy")
    at.text_input(key="labelers_base_url").set_value(BAD_URLS[0])
    next(b for b in at.button if b.label == "Save labeler").click().run()
    errors = [e.value for e in at.error]
    assert any("base URL must not carry a user name or password" in e for e in errors), errors
    assert all(SECRET not in e for e in errors)
    demo_db.close()
    assert SECRET not in everything_stored(demo_db.path)


def test_migration_0013_strips_secret_base_urls_of_the_previous_release_and_leaves_no_copy_in_the_file(
        tmp_path, capsys):
    """A database of the previous release holding base URLs with a secret (stored before the refusal):
    the first open keeps host and path, notes each row changed, lists none with a secret, and the
    secret's bytes are gone from the file (DuckDB would keep the old value in unused space after an
    UPDATE and a CHECKPOINT; the migration rewrites the file when it changed a row)."""
    import shutil

    from labelgate.store import Database
    from tests.reliability.test_upgrade import PREVIOUS

    path = tmp_path / "old.duckdb"
    shutil.copy(PREVIOUS, path)
    urls = {"userinfo": f"http://user:{SECRET}@127.0.0.1:8000/v1",
            "query": f"https://proxy.example/v1?api_key={SECRET}&region=eu",
            "pathkey": f"https://proxy.example/{SECRET}/v1",
            "clean": "http://127.0.0.1:8002/v1"}
    con = duckdb.connect(str(path))  # as the previous release stored them (its schema, no refusal)
    (task_id,) = con.execute("SELECT task_id FROM tasks WHERE name = 'mt-bench'").fetchone()
    for name, url in urls.items():
        con.execute("INSERT INTO labeler_versions (task_id, name, version, provider, model, family, base_url)"
                    " VALUES (?, ?, ?, 'openai-compatible', 'qwen2.5-7b', 'qwen', ?)",
                    [task_id, name, f"v-{name}", url])
    con.execute("CHECKPOINT")
    con.close()
    assert SECRET.encode() in path.read_bytes()  # the old file holds the secret as plain bytes

    assert main(["--db", str(path), "labelers", "list", "--task", "mt-bench"]) == 0  # the first open migrates
    out = capsys.readouterr().out
    Database(path).close()
    assert SECRET not in out and "https://proxy.example/v1" in out

    con = duckdb.connect(str(path), read_only=True)
    try:
        stored = dict(con.execute("SELECT name, base_url FROM labeler_versions WHERE name IN ?",
                                  [list(urls)]).fetchall())
        notes = con.execute("SELECT migration, table_name, row_key, note FROM migration_notes ORDER BY row_key"
                            ).fetchall()
    finally:
        con.close()
    assert stored == {"userinfo": "http://127.0.0.1:8000/v1", "query": "https://proxy.example/v1",
                      "pathkey": "https://proxy.example/[removed]/v1", "clean": "http://127.0.0.1:8002/v1"}
    assert [(m, t, k) for m, t, k, _ in notes] == [
        ("0013_base_url_secrets", "labeler_versions", f"{task_id}/{n}/v-{n}") for n in ("pathkey", "query", "userinfo")]
    assert [n for *_, n in notes] == [
        "base URL: removed a key-shaped part of the path; the key belongs in a LABELGATE_<NAME>_KEY variable",
        "base URL: removed the query string or fragment; the key belongs in a LABELGATE_<NAME>_KEY variable",
        "base URL: removed the user name and password; the key belongs in a LABELGATE_<NAME>_KEY variable"]
    assert SECRET not in everything_stored(path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["old.duckdb", "old.duckdb.lock"] or files == ["old.duckdb"], files  # no .wal, no leftover copy
    assert SECRET.encode() not in path.read_bytes()
