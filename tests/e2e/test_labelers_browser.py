"""An engineer defines a labeler in the browser and runs it on the demo's calibration set
against the fake model server; its labels then count for calibration."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb
import pandas as pd
import pytest

from tests.e2e.harness import ROOT, log_in, wait_idle
from tests.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e
DEMO = ROOT / "data" / "demo"


def _longer(a: str, b: str) -> str:
    """The length-biased judge's pick: the longer output (ties by the text, so both orders agree)."""
    return "1" if (len(a), a) > (len(b), b) else "2"


def pick_the_longer_output(ctx) -> str:
    """The fake model's answer: the default pairwise prompt shows 'Output 1:\n<first>\n\nOutput
    2:\n<second>\n\nWhich output is better?' (no demo text holds these markers)."""
    prompt = ctx.prompt[: ctx.prompt.rindex("\n\nWhich output is better?")]
    first, second = prompt[prompt.rindex("Output 1:\n") + len("Output 1:\n"):].split("\n\nOutput 2:\n")
    return _longer(first, second)


def _expected_labels() -> pd.Series:
    items = pd.read_csv(DEMO / "mtbench_items.csv", dtype=str, keep_default_na=False).set_index("item_id")
    return pd.Series([_longer(a, b) for a, b in zip(items["output_1"], items["output_2"], strict=True)],
                     index=items.index)


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
    with FakeLLMServer(latency=0.01, answer=pick_the_longer_output) as llm:
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
        # a generous deadline: 400 calls take ~10 s here, minutes on a loaded 2-core machine
        page.get_by_text("done: 200 labeled, 0 failed of 200 items").wait_for(timeout=900_000)
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
    # both presentation orders mapped back to the original numbering: the longer output each time
    expected = _expected_labels()
    with duckdb.connect(str(server.db_path), read_only=True) as con:
        rows = con.execute("SELECT item_id, shown_order, value FROM llm_labels WHERE labeler = 'local-llama'"
                           " ORDER BY item_id, shown_order").fetchall()
    assert len(rows) == 400 and {order for _, order, _ in rows} == {"12", "21"}
    assert [(item, value) for item, _, value in rows] == [(item, expected[item]) for item, _, _ in rows]
    # accuracy against the demo's gold (the MT-Bench majority), counted from the demo files
    gold = pd.read_csv(DEMO / "mtbench_gold.csv", dtype=str).set_index("item_id")["value"]
    assert lab["metrics"]["accuracy"]["estimate"] == pytest.approx((expected == gold[expected.index]).mean(), abs=1e-12)
