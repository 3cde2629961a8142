"""Review in Chromium: a rationale search on the HANNA task filters the queue and lists the matching
rationales (human and LLM) beside their labels (issue 11, point 8)."""

from __future__ import annotations

import shutil

import pytest

from labelgate.store import Database
from tests.e2e.conftest import Server, log_in, wait_idle
from tests.e2e.harness import ARTIFACTS
from tests.pages.test_review_soft_rationale import add_rationales


@pytest.fixture
def rationale_server(tmp_path, hanna_template):
    db_path = tmp_path / "e2e.duckdb"
    shutil.copy(hanna_template, db_path)
    ids = add_rationales(Database(db_path), tmp_path)
    srv = Server(db_path)
    yield srv, ids
    srv.stop()


def test_a_rationale_search_filters_the_review_queue(rationale_server, page):
    srv, (d1, d2, _) = rationale_server
    pg = page
    log_in(pg, srv.url, "lead", "lead-demo")
    pg.goto(srv.url + "/review")
    wait_idle(pg)
    box = pg.get_by_label("Search rationales")
    box.wait_for()
    box.fill("rushed ENDING")
    box.press("Enter")
    wait_idle(pg)
    pg.get_by_text("2 rationales on 2 items hold every word of", exact=False).wait_for()
    grid = pg.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    pg.get_by_text("2 of those items are in this queue", exact=False).wait_for()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "review_rationale_search.png"), full_page=True)
