"""Fixtures for the real-browser tests: a `streamlit run` per test, one Chromium per session."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.harness import ARTIFACTS, CHROMIUM, IDLE, Server, launch_chromium, log_in, new_page, wait_idle

__all__ = ["CHROMIUM", "IDLE", "Server", "log_in", "wait_idle"]


# Module scope, not session: Playwright's sync API runs an event loop in this thread while a
# browser is open, which would leak into unrelated tests that the same xdist worker runs later.
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def server(tmp_path, demo_template):
    db_path = tmp_path / "e2e.duckdb"
    shutil.copy(demo_template, db_path)
    srv = Server(db_path)
    yield srv
    srv.stop()


@pytest.fixture
def page(browser, request):
    pg = new_page(browser)  # a generous deadline for every wait (harness.TIMEOUT_MS): 2 shared cores
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    pg.context.close()
