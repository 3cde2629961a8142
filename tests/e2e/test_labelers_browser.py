"""An engineer defines a labeler in the browser and runs it on the demo's calibration set
against the fake model server; its labels then count for calibration."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.e2e.harness import ROOT, log_in, wait_idle
from tests.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e


def choose(page, label: str, option: str) -> None:
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def fill(page, label: str, text: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(text)
    box.press("Enter")
    wait_idle(page)


def test_engineer_creates_and_runs_a_labeler_from_the_browser(server, page):
    with FakeLLMServer(latency=0.01) as llm:
        log_in(page, server.url, "engineer", "engineer-demo")
        page.get_by_role("link", name="Labelers").click()
        wait_idle(page)
        fill(page, "Name", "local-llama")
        choose(page, "Provider", "openai-compatible")
        fill(page, "Model", "llama-3.1-8b-instruct")
        fill(page, "Base URL", llm.openai_url)
        page.get_by_role("button", name="Save labeler").click()
        wait_idle(page)
        page.get_by_text("Created labeler local-llama").wait_for()

        page.get_by_role("tab", name="Run", exact=True).click()
        choose(page, "Labeler", "local-llama")
        page.get_by_role("button", name="Start run").click()
        page.get_by_text("done: 200 labeled, 0 failed of 200 items").wait_for(timeout=120_000)
        if os.environ.get("LABELGATE_DOC_SCREENSHOTS"):  # refresh the README picture on request only
            page.screenshot(path=str(ROOT / "docs" / "screenshots" / "labelers.png"))
        assert llm.request_count == 400
    server.stop()
    out = subprocess.run([sys.executable, "-m", "labelgate.cli", "--db", str(server.db_path), "report",
                          "--task", "mt-bench", "--labeler", "local-llama", "--resamples", "50", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    (lab,) = json.loads(out.stdout)["labelers"]
    assert (lab["name"], lab["family"], lab["n"]) == ("local-llama", "llama", 200)
    assert 0 <= lab["metrics"]["accuracy"]["estimate"] <= 1
