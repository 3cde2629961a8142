"""A lead evaluates and approves the demo's GPT-4 in Chromium; a prompt change makes the approval stale.

`labelgate gate check` runs as a separate process while the app server is running, and agrees
with the page at each step.
"""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pytest
from playwright.sync_api import expect

from labelgate.demo import PROMPT
from tests.e2e.conftest import log_in, wait_idle

pytestmark = pytest.mark.e2e


def gate_check(db_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labelgate.cli", "--db", str(db_path), "gate", "check",
                           "--task", "mt-bench", "--labeler", "GPT-4"], capture_output=True, text=True, timeout=120)


def choose(pg, label: str, option: str) -> None:
    pg.get_by_label(label).click()
    pg.get_by_role("option", name=option, exact=True).click()
    pg.get_by_text(f"{option}: openai", exact=False).wait_for()  # the page has rerun for the new labeler
    wait_idle(pg)


def test_lead_approves_gpt4_then_a_prompt_change_makes_it_stale(server, page, tmp_path):
    check = gate_check(server.db_path)
    assert check.returncode == 1 and "no lead has approved this labeler yet" in check.stdout

    log_in(page, server.url, "lead", "lead-demo")
    page.goto(server.url + "/gate")
    wait_idle(page)
    choose(page, "Labeler", "GPT-4")
    page.get_by_text("Not approved").wait_for()

    page.get_by_role("button", name="Evaluate").click()
    wait_idle(page)
    page.get_by_text("Verdict: PASS").wait_for()

    page.get_by_label("Comment (required)").fill("kappa lower bound 0.52 > 0.4; single-rater gold accepted")
    page.get_by_role("button", name="Approve").click()
    wait_idle(page)
    page.get_by_text("Approved GPT-4 version").wait_for()
    page.get_by_text("Approved —", exact=False).first.wait_for()

    check = gate_check(server.db_path)  # while the server is running
    assert check.returncode == 0, check.stdout + check.stderr
    assert "OK: GPT-4 approved by lead" in check.stdout

    # the approved labeler's training mix, exported from the Data page
    page.get_by_role("link", name="Data").click()
    wait_idle(page)
    page.get_by_role("tab", name="Export").click()
    wait_idle(page)
    page.get_by_label("Labeler", exact=True).click()
    page.get_by_role("option", name="GPT-4", exact=True).click()
    wait_idle(page)
    page.get_by_text("holds a fresh approval", exact=False).wait_for()
    page.get_by_role("button", name="Export").click()
    wait_idle(page)
    with page.expect_download() as download:
        page.get_by_test_id("stDownloadButton").get_by_role("button").click()
    rows = [json.loads(line) for line in download.value.path().read_text().splitlines() if line.strip()]
    assert len(rows) == 200 and {r["source"] for r in rows} == {"human"}  # the demo's GPT-4 labels only gold items
    page.get_by_role("link", name="Gate").click()
    wait_idle(page)

    # an engineer edits the prompt from the command line, with the app still running
    prompt = tmp_path / "prompt.txt"
    prompt.write_text(PROMPT + "\nThink step by step before answering.\n")
    edit = subprocess.run([sys.executable, "-m", "labelgate.cli", "--db", str(server.db_path), "labelers", "add",
                           "GPT-4", "--task", "mt-bench", "--provider", "openai", "--model", "gpt-4", "--family", "gpt",
                           "--prompt-file", str(prompt), "--both-orders"], capture_output=True, text=True, timeout=120)
    assert edit.returncode == 0, edit.stderr

    page.reload()  # a new session: the cookie log_in waited for signs the lead in again
    wait_idle(page)
    page.get_by_role("heading", name="Gate").wait_for()
    choose(page, "Labeler", "GPT-4")
    page.get_by_text("Approval stale").wait_for()
    expect(page.get_by_text("the labeler changed (model, prompt or settings)", exact=False)).to_be_visible()

    check = gate_check(server.db_path)
    assert check.returncode == 1 and "stale" in check.stdout and "the labeler changed" in check.stdout

    server.stop()
    with duckdb.connect(str(server.db_path), read_only=True) as con:
        kinds = [r[0] for r in con.execute("SELECT kind FROM gate_events WHERE labeler = 'GPT-4'"
                                           " ORDER BY event_id").fetchall()]
        approver = con.execute("SELECT actor, comment FROM gate_events WHERE kind = 'approve'").fetchall()
    assert kinds == ["evaluation", "approve", "export"]
    assert approver == [("lead", "kappa lower bound 0.52 > 0.4; single-rater gold accepted")]
