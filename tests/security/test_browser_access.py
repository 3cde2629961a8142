"""In Chromium: who sees which page by URL (also right after a restart), the session cookie, the
closed metrics endpoint and downloads that only their maker can fetch."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, wait_idle
from tests.e2e.harness import ARTIFACTS, log_in, new_page

pytestmark = pytest.mark.e2e

PAGE_NAMES = ["admin", "calibrate", "label", "gate", "data", "labelers", "no-such-page"]


def status_of(url: str) -> int:
    try:
        return urllib.request.urlopen(url, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code


def shows_only_the_login(pg) -> None:
    pg.get_by_role("button", name="Log in").wait_for()
    assert pg.locator('[data-testid="stSidebarNav"]').count() == 0
    assert pg.locator('[data-testid="stSidebar"]').count() == 0
    assert [h.strip() for h in pg.locator("h1").all_inner_texts()] == ["labelgate"]


def log_in_at(pg, url: str, name: str, password: str) -> None:
    """Log in on the login a deep link shows: the page named in the URL opens once signed in
    (and the heavy Calibrate start page, slow on a loaded machine, is not computed)."""
    log_in(pg, url, name, password)


def test_an_anonymous_visitor_sees_only_the_login_at_every_url_and_metrics_is_closed(server, page):
    for name in PAGE_NAMES:  # the first visit of this server is already a deep link
        page.goto(f"{server.url}/{name}")
        wait_idle(page)
        shows_only_the_login(page)
        if name != "no-such-page":  # a known page's name is not even "not found": it is the login
            expect(page.get_by_text("Page not found")).not_to_be_visible()
    assert status_of(server.url + "/_stcore/metrics") == 404
    assert status_of(server.url + "/_stcore/health") == 200


def test_page_urls_work_after_a_restart_and_the_token_is_out_of_reach_of_page_scripts(server, page, browser):
    log_in_at(page, server.url + "/gate", "lead", "lead-demo")
    page.get_by_role("heading", name="Gate").wait_for()  # the deep link, once signed in
    # log_in returned once the browser's POST for the cookie had finished
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "labelgate_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "labelgate_session" not in page.evaluate("document.cookie")
    assert cookie["value"] not in page.content()

    page.goto(server.url + "/calibrate")  # the role's start page, by its name
    wait_idle(page)
    page.get_by_role("heading", name="Calibrate").wait_for()
    expect(page.get_by_text("Page not found")).not_to_be_visible()

    server.stop()
    restarted = Server(server.db_path, port=server.port)
    try:
        for name, heading in (("gate", "Gate"), ("monitor", "Monitor"), ("calibrate", "Calibrate")):
            page.goto(f"{restarted.url}/{name}")
            wait_idle(page)
            page.get_by_role("heading", name=heading).wait_for()
            expect(page.get_by_text("You are signed out")).not_to_be_visible()
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Users" not in nav and "Label\n" not in nav + "\n"
        page.goto(f"{restarted.url}/admin")  # not a lead's page, even by URL
        wait_idle(page)
        page.get_by_text("This page is not available to the lead role.").wait_for()
        expect(page.get_by_role("heading", name="Users")).to_have_count(0)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "security_lead_admin_after_restart.png"))

        stranger = new_page(browser, 1200, 800)
        stranger.goto(f"{restarted.url}/gate")
        wait_idle(stranger)
        shows_only_the_login(stranger)
        stranger.context.close()
    finally:
        restarted.stop()


def test_a_download_is_served_only_to_the_user_who_made_it(server, page, browser):
    log_in_at(page, server.url + "/data", "lead", "lead-demo")
    page.get_by_role("tab", name="Export").click()
    wait_idle(page)
    page.get_by_label("Labeler", exact=True).click()
    page.get_by_role("option", name="GPT-4", exact=True).click()
    wait_idle(page)
    # the demo's GPT-4 has no approval: only a forced export (the box drawn for GPT-4, its run finished)
    page.get_by_text("Export without a fresh approval", exact=False).click()
    wait_idle(page)
    page.get_by_label("Reason (required)").fill("download access check")
    page.get_by_label("Reason (required)").press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Export", exact=True).click()
    wait_idle(page)
    with page.expect_download() as download:
        page.get_by_test_id("stDownloadButton").get_by_role("button").click()
    url = download.value.url
    content = download.value.path().read_bytes()
    assert "/media/" in url and content

    assert page.context.request.get(url).body() == content  # its maker, again
    anonymous = browser.new_context()
    assert anonymous.request.get(url).status == 404
    anonymous.close()
    other = new_page(browser, 1200, 800)
    log_in_at(other, server.url + "/review", "engineer", "engineer-demo")
    assert other.context.request.get(url).status == 404  # signed in, but not the one it was made for
    other.context.close()
    assert status_of(url) == 404
