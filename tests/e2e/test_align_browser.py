"""An engineer compares alignment-lab variants side by side on the dev split in Chromium: three variants
run by `align run` against the prompt-sensitive test server, the table, the paired differences and the
cost-versus-agreement plot with its Pareto front."""

from __future__ import annotations

import os
import shutil

import pytest

from labelgate.align import make_split
from labelgate.align.variants import Variant, run_variants
from labelgate.gold import resolve_gold
from labelgate.llm import RunOptions
from labelgate.store import Database
from labelgate.store.items import get_items
from labelgate.store.tasks import get_task
from tests.e2e.harness import ARTIFACTS, ROOT, Server, log_in, wait_idle
from tests.labelgate.llm_helpers import PLANTED_KEY
from tests.llm_server import FakeLLMServer, PromptSensitiveJudge

pytestmark = pytest.mark.e2e
SHOTS = ROOT / "docs" / "screenshots" if os.environ.get("LABELGATE_DOC_SCREENSHOTS") else ARTIFACTS
PHRASE = "Judge which output answers the user better."
FAST = RunOptions(concurrency=8, timeout=5.0, max_retries=2, backoff_base=0.01, backoff_max=0.05, flush_seconds=0.2)


@pytest.fixture
def lab_server(tmp_path, demo_template, monkeypatch):
    path = tmp_path / "align.duckdb"
    shutil.copy(demo_template, path)
    db = Database(path)
    task = get_task(db, "mt-bench")
    gold = resolve_gold(db, task)
    make_split(db, task, created_by="engineer")
    items = get_items(db, task.task_id, list(gold.labels["item_id"])).set_index("item_id")["fields"]
    known = [(items[i]["output_1"], items[i]["output_2"], v) for i, v in zip(gold.labels["item_id"],
                                                                               gold.labels["value"], strict=True)]

    def gold_of(text: str) -> str | None:
        return next((v for a, b, v in known if a in text and b in text), None)

    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    with FakeLLMServer(answer=PromptSensitiveJudge(gold_of, phrase=PHRASE)) as llm:
        common = dict(provider="openai", base_url=llm.openai_url, api_key_env="OPENAI_API_KEY")
        out = run_variants(db, task, [
            Variant(1, "mini zero-shot", model="gpt-4o-mini", **common),
            Variant(2, "mini 4-shot", model="gpt-4o-mini", prompt=PHRASE + "\n\n{item}\n\n{options}", few_shot=4,
                    seed=1, **common),
            Variant(3, "4o 8-shot", model="gpt-4o", prompt=PHRASE + "\n\n{item}\n\n{options}", few_shot=8, seed=2,
                    **common)], options=FAST, created_by="engineer")
    assert [v["labeled"] for v in out["variants"]] == [80, 80, 80]
    srv = Server(path)
    yield srv
    srv.stop()


def test_engineer_compares_variants_side_by_side_on_dev(lab_server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        log_in(page, lab_server.url, "engineer", "engineer-demo")
        page.get_by_role("link", name="Compare").click()
        wait_idle(page)
        heading = page.get_by_text("Side by side on the dev split")
        heading.wait_for()
        page.get_by_text("Paired differences against mini zero-shot").wait_for()
        main = page.locator('[data-testid="stTable"]').filter(has_text="Invalid outputs")
        text = main.inner_text()
        for name in ("mini zero-shot", "mini 4-shot", "4o 8-shot", "Tokens per item", "Cost per item",
                     "Latency per item", "Pareto front"):
            assert name in text
        assert "_" not in text.replace("mini zero-shot", "")      # no raw column names
        page.get_by_text("Cost against Accuracy on the dev split").wait_for()
        heading.scroll_into_view_if_needed()
        wait_idle(page)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "align_side_by_side.png"))
        plot = page.locator('[data-testid="stPlotlyChart"]').last
        plot.scroll_into_view_if_needed()
        wait_idle(page)
        plot.screenshot(path=str(SHOTS / "align_pareto.png"))
    finally:
        context.close()
