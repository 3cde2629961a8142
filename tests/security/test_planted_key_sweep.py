"""One sweep for planted API keys: an OpenAI and an Anthropic key, planted in the environment the
labelers name, are used for real (the openai and anthropic SDKs against tests/llm_server.py, which
echoes the key back in error bodies and in a model answer) by CLI runs and, in Chromium, by an
engineer's test connection, preview and run on the Labelers page; the engineer and a lead then open
Calibrate, Data (with its download) and the other pages. Neither key appears anywhere: the DuckDB file's
bytes and every row of every table and view (after a CHECKPOINT), any .wal left, the server's and
the commands' output and log files, the CLI exports (CSV, JSONL, Parquet), the Data page's download,
every websocket frame either way, and the HTML of every page visited."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import duckdb
import pytest
from playwright.sync_api import expect

from tests.e2e.harness import ROOT, Server, launch_chromium, log_in, wait_idle
from tests.labelgate.llm_helpers import answer_by_number
from tests.llm_server import FakeLLMServer, Fault

pytestmark = pytest.mark.e2e
OPENAI_KEY = "sk-proj-PLANTEDsweep0openai7f3a9c0e1d2b"
ANTHROPIC_KEY = "sk-ant-PLANTEDsweep1claude4a6f8e2d0c9b"
KEYS = {"OPENAI_API_KEY": OPENAI_KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY}
FRAGMENT = "PLANTEDsweep"  # a part of both keys: a partly scrubbed key fails too
N_ITEMS = 12


def leaky_server() -> FakeLLMServer:
    """Answers by the review number; echoes the caller's key in a 500 body (items 001, 004) and
    in the model's answer (item 002, then not a label): three items fail in every run."""
    def faults(ctx):
        return Fault("echo_auth", persistent=True) if "number 001" in ctx.prompt or "number 004" in ctx.prompt \
            else None

    def answer(ctx):
        if "number 002" in ctx.prompt:
            return f"positive {ctx.headers.get('authorization') or ctx.headers.get('x-api-key')}"
        return answer_by_number(ctx)

    return FakeLLMServer(answer=answer, faults=faults).start()


class Cli:
    """labelgate commands in their own processes, every output kept."""

    def __init__(self, db):
        self.db, self.outputs = db, []

    def __call__(self, *args, stdin=None, ok=True) -> str:
        env = {**os.environ, "PYTHONPATH": str(ROOT), **KEYS}
        out = subprocess.run([sys.executable, "-m", "labelgate.cli", "--db", str(self.db), *args],
                             capture_output=True, text=True, timeout=600, cwd=ROOT, env=env, input=stdin)
        self.outputs.append(f"$ {' '.join(args)}\n{out.stdout}\n{out.stderr}")
        assert not ok or out.returncode == 0, self.outputs[-1]
        return out.stdout + out.stderr


def choose(pg, label: str, option: str) -> None:
    pg.get_by_label(label, exact=True).filter(visible=True).first.click()
    pg.get_by_role("option", name=option, exact=True).click()
    wait_idle(pg)


def fill(pg, label: str, text: str) -> None:
    box = pg.get_by_label(label, exact=True).filter(visible=True).first
    box.fill(text)
    box.press("Enter")
    wait_idle(pg)


def every_row(path) -> str:
    """Every row of every table and view, as text, after a CHECKPOINT (nothing left in the .wal)."""
    con = duckdb.connect(str(path))
    try:
        con.execute("CHECKPOINT")
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
            " UNION SELECT view_name FROM duckdb_views() WHERE database_name = current_database() AND NOT internal"
        ).fetchall()]
        return "\n".join(n + ": " + repr(con.execute(f'SELECT * FROM "{n}"').fetchall()) for n in sorted(names))
    finally:
        con.close()


def test_a_planted_key_appears_nowhere(tmp_path, demo_template):
    from playwright.sync_api import sync_playwright

    db = tmp_path / "sweep.duckdb"
    shutil.copy(demo_template, db)
    cli = Cli(db)
    (tmp_path / "items.csv").write_text("item_id,text\n" + "".join(f"r{k:03d},review number {k:03d}\n"
                                                                  for k in range(N_ITEMS)))
    (tmp_path / "gold.csv").write_text("item_id,rater,value\n" + "".join(
        f"r{k:03d},gold,{['positive', 'negative', 'neutral'][(k + (k == 5)) % 3]}\n" for k in range(N_ITEMS)))
    llm = leaky_server()
    frames: list[bytes] = []
    pages: dict[str, str] = {}
    downloads: list[bytes] = []
    try:
        cli("task", "create", "sweep", "--kind", "categorical", "--labels", "positive,negative,neutral",
            "--experts-per-item", "1")
        cli("import", "items", str(tmp_path / "items.csv"), "--task", "sweep")
        cli("import", "labels", str(tmp_path / "gold.csv"), "--task", "sweep", "--source", "human")
        cli("calibration", "draw", "--task", "sweep", "--size", str(N_ITEMS), "--experts-per-item", "1")
        cli("labelers", "add", "judge-cli", "--task", "sweep", "--provider", "openai", "--model", "gpt-4o-mini",
            "--base-url", llm.openai_url, "--api-key-env", "OPENAI_API_KEY")
        cli("labelers", "add", "claude-cli", "--task", "sweep", "--provider", "anthropic", "--model",
            "claude-haiku-4-5", "--base-url", llm.anthropic_url, "--api-key-env", "ANTHROPIC_API_KEY")
        for name in ("judge-cli", "claude-cli"):
            said = cli("run", "--task", "sweep", "--labeler", name, "--items", "calibration", "--retries", "0",
                       "--timeout", "5", ok=False)
            assert "3 item(s) failed" in said, said  # two error bodies and one answer echo the key
        cli("labelers", "list", "--task", "sweep")
        cli("report", "--task", "sweep")
        for ext in ("csv", "jsonl", "parquet"):
            cli("export", "--task", "sweep", "--labeler", "judge-cli", "--out", str(tmp_path / f"export.{ext}"),
                "--force", "--reason", "key sweep", "--user", "lead", "--password-stdin", stdin="lead-demo\n")

        server = Server(db, env=KEYS)
        try:
            with sync_playwright() as p:
                browser = launch_chromium(p)

                def context(user, password):
                    c = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
                    pg = c.new_page()
                    pg.set_default_timeout(180_000)  # 2 shared cores: generous, never a timing assertion

                    def on_ws(ws):
                        for event in ("framereceived", "framesent"):
                            ws.on(event, lambda f: frames.append(f if isinstance(f, bytes) else f.encode()))

                    pg.on("websocket", on_ws)
                    log_in(pg, server.url, user, password)
                    return c, pg

                c, pg = context("engineer", "engineer-demo")
                pg.goto(server.url + "/labelers")
                wait_idle(pg)
                choose(pg, "Task", "sweep")
                fill(pg, "Name", "judge-web")
                choose(pg, "Provider", "openai")
                fill(pg, "Model", "gpt-4o")
                fill(pg, "Base URL", llm.openai_url)
                fill(pg, "API key variable", "OPENAI_API_KEY")
                pg.get_by_role("button", name="Test connection").click()  # one call; it may hit an echoing item
                pg.get_by_text(re.compile(r"^(Connected: gpt-4o answered|The call failed)")).first.wait_for()
                pg.get_by_role("button", name="Save labeler").click()
                pg.get_by_text("Created labeler judge-web").wait_for()
                wait_idle(pg)
                pg.get_by_role("button", name="Send these three to the model").click()
                wait_idle(pg)
                pg.get_by_role("tab", name="Run", exact=True).click()
                wait_idle(pg)
                choose(pg, "Labeler", "judge-web")
                pg.get_by_role("button", name="Start run").click()
                finished = r"run \d+ (?!running)\w+: \d+ labeled, 3 failed of {} items"
                pg.get_by_text(re.compile(finished.format(N_ITEMS))).first.wait_for(timeout=600_000)
                wait_idle(pg)
                pg.get_by_role("button", name="Retry failed items").click()  # the echoing items once more
                pg.get_by_text(re.compile(finished.format(3))).first.wait_for(timeout=600_000)
                wait_idle(pg)
                pages["labelers"] = pg.content()
                for name in ("calibrate", "compare", "review", "monitor", "gate", "data"):
                    pg.goto(f"{server.url}/{name}")
                    wait_idle(pg)
                    box = pg.get_by_label("Task", exact=True).filter(visible=True)
                    if box.count() and box.first.input_value() != "sweep":
                        choose(pg, "Task", "sweep")
                    for k in range(pg.get_by_role("tab").count()):
                        pg.get_by_role("tab").nth(k).click()
                        wait_idle(pg)
                    pages[name] = pg.content()
                c.close()

                c, pg = context("lead", "lead-demo")  # the Data page's download (a forced export)
                pg.goto(server.url + "/data")
                wait_idle(pg)
                pg.get_by_role("tab", name="Export").click()
                wait_idle(pg)
                choose(pg, "Task", "sweep")
                choose(pg, "Labeler", "judge-cli")
                # judge-cli has no approval: only a forced export (choose waited for the labeler's run to
                # finish, so the box clicked is the one drawn for judge-cli)
                forced = pg.get_by_role("checkbox", name=re.compile("Export without a fresh approval"))
                pg.get_by_text("Export without a fresh approval", exact=False).click()
                expect(forced).to_be_checked()
                reason = pg.get_by_label("Reason (required)")
                reason.wait_for()
                reason.fill("key sweep in the browser")
                reason.press("Enter")
                wait_idle(pg)
                pg.get_by_role("button", name="Export", exact=True).click()
                wait_idle(pg)
                with pg.expect_download() as download:
                    pg.get_by_test_id("stDownloadButton").get_by_role("button").click()
                downloads.append(download.value.path().read_bytes())
                pages["lead/data"] = pg.content()
                c.close()
                browser.close()
        finally:
            server.stop()
    finally:
        llm.stop()

    # the keys were really used and really echoed: the leak paths were exercised
    sent = {r["authorization"] or "" for r in llm.requests}
    assert f"Bearer {OPENAI_KEY}" in sent and any(ANTHROPIC_KEY in a for a in sent), sent
    assert sum(r["authorization"] == f"Bearer {OPENAI_KEY}" for r in llm.requests) > 2 * N_ITEMS  # CLI and app
    assert frames and downloads and downloads[0]

    rows = every_row(db)
    assert "[REDACTED]" in rows  # what the server echoed was kept, scrubbed
    files = sorted(p for p in tmp_path.iterdir() if p.is_file())
    assert [p.name for p in files if p.suffix == ".wal"] == []
    logs = [p for p in files if p.suffix == ".log"]
    assert logs  # the server's own output
    where = {
        "database rows": rows.encode(),
        **{f"file {p.name}": p.read_bytes() for p in files},  # the database, exports, logs, any .wal
        "command output": "\n".join(cli.outputs).encode(),
        "websocket frames": b"\n".join(frames),
        **{f"page {name}": html.encode() for name, html in pages.items()},
        "Data page download": downloads[0],
    }
    for what, content in where.items():
        for secret in (OPENAI_KEY, ANTHROPIC_KEY, FRAGMENT):
            assert secret.encode() not in content, (what, secret)
    print(f"key sweep: {len(where)} places, {len(frames)} websocket frames, {len(llm.requests)} model calls")
