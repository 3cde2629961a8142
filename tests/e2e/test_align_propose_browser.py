"""An engineer asks for rewrites of a labeler's instructions from its train errors in Chromium: the base labeler
runs on train against the local test server, the proposer answers, the rewrite lands in the variants box and the
proposal is listed; then the database holds it, built from train items only."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
from playwright.sync_api import expect

from labelgate.align import make_split
from labelgate.labelers import LabelerConfig
from labelgate.store import Database
from labelgate.store.labelers import save_labeler
from labelgate.store.tasks import get_task
from tests.e2e.harness import ARTIFACTS, ROOT, Server, log_in, new_page, wait_idle
from tests.llm_server import FakeLLMServer, default_answer

pytestmark = pytest.mark.e2e
SHOTS = ROOT / "docs" / "screenshots" if os.environ.get("LABELGATE_DOC_SCREENSHOTS") else ARTIFACTS
ASKED = "rewritten versions of the instructions"
REWRITE = "Judge carefully which output answers the user better.\n\n{item}\n\n{options}"


def answer(ctx):
    if ASKED in ctx.prompt:
        return {"proposals": [{"instructions": REWRITE, "rationale": "asks the judge to compare with care"}]}
    return default_answer(ctx)


def test_engineer_proposes_rewrites_from_the_train_errors(tmp_path, demo_template, browser):
    path = tmp_path / "propose.duckdb"
    shutil.copy(demo_template, path)
    db = Database(path)
    task = get_task(db, "mt-bench")
    split = make_split(db, task, created_by="engineer")
    with FakeLLMServer(answer=answer) as llm:
        save_labeler(db, task.task_id, LabelerConfig(name="local judge", provider="openai-compatible",
                                                     model="local-model", base_url=llm.openai_url),
                     created_by="engineer")
        srv = Server(path)
        page = new_page(browser)
        try:
            log_in(page, srv.url, "engineer", "engineer-demo")
            page.get_by_role("link", name="Compare").click()
            wait_idle(page)
            page.get_by_text("Propose rewrites of a labeler's instructions from its train errors").click()
            wait_idle(page)
            base = page.get_by_label("Base labeler")
            base.click()
            page.keyboard.type("local judge")       # the list filtered to one option, chosen with Enter
            page.keyboard.press("Enter")
            wait_idle(page)
            expect(base).to_have_value("local judge")
            page.get_by_label("Proposer model").fill("local-proposer")
            page.get_by_label("Proposer model").press("Enter")
            wait_idle(page)
            page.get_by_role("button", name="Propose rewrites").click()
            wait_idle(page)
            done = page.locator('[data-testid="stAlert"]').filter(has_text="Proposal 1: local judge got")
            expect(done).to_contain_text("(no dev or test item)")
            box = page.get_by_label("Variants (YAML or JSON)")
            expect(box).to_have_value(re.compile(r"name: local judge rewrite \w+[\s\S]*Judge carefully which"))
            table = page.locator('[data-testid="stTable"]').filter(has_text="Train errors shown")
            expect(table).to_contain_text("local-proposer")
            done.scroll_into_view_if_needed()
            wait_idle(page)
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "align_propose.png"), full_page=False)
        finally:
            page.context.close()
            srv.stop()
        asked = [r for r in llm.requests if ASKED in r["prompt"]]
    assert len(asked) == 1
    with db.connect() as con:
        by, ids, variants = con.execute("SELECT created_by, error_item_ids, variants FROM align_proposals").fetchone()
    assert by == "engineer" and set(json.loads(ids)) <= set(split.ids("train"))
    assert json.loads(variants)[0]["instructions"] == REWRITE
