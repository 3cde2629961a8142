"""An expert labels demo items with the keyboard in Chromium, reloads, and resumes."""

from __future__ import annotations

import hashlib
import re

import duckdb
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in, wait_idle

pytestmark = pytest.mark.e2e


def shown_item(pg) -> str:
    text = pg.get_by_text(re.compile(r"^Item id: ")).inner_text()
    return text.removeprefix("Item id: ").strip()


def press_and_wait(pg, key: str, previous: str) -> str:
    pg.keyboard.press(key)
    pg.wait_for_function(
        "prev => { const el = [...document.querySelectorAll('p')].find(p => p.innerText.startsWith('Item id: '));"
        " return el && el.innerText !== 'Item id: ' + prev; }", arg=previous)
    wait_idle(pg)
    return shown_item(pg)


def test_expert_labels_with_keys_reloads_and_resumes(server, page):
    log_in(page, server.url, "expert", "expert-demo")
    page.get_by_text("Item 1 of 200").wait_for()  # the Label page's first run may still be on its way after login
    current = shown_item(page)
    answered = []
    for key in ("1", "2", "2", "s", "1"):
        answered.append((current, key))
        current = press_and_wait(page, key, current)
    page.get_by_text("Item 6 of 200").wait_for()

    page.reload()  # a new Streamlit session: the session cookie signs the expert in again
    wait_idle(page)
    page.get_by_text("Item 6 of 200").wait_for()
    assert shown_item(page) == current
    assert current not in [item for item, _ in answered]

    server.stop()  # the server holds the file lock while it runs
    con = duckdb.connect(str(server.db_path), read_only=True)
    rows = con.execute("SELECT item_id, status, value, shown_order FROM human_labels WHERE rater = 'expert'"
                       " ORDER BY label_id").fetchall()
    con.close()
    assert [r[0] for r in rows] == [item for item, _ in answered]
    assert [r[1] for r in rows] == ["label", "label", "label", "skip", "label"]
    for (_item, key), (_, status, value, order) in zip(answered, rows, strict=True):
        if status == "label":  # the key names the output as shown; the database keeps the original numbering
            expected = key if order == "12" else {"1": "2", "2": "1"}[key]
            assert value == expected


def test_logging_out_ends_the_session_for_reloads_too(server, page):
    log_in(page, server.url, "lead", "lead-demo")
    page.goto(server.url + "/data")  # a new tab or a deep link keeps the session
    wait_idle(page)
    page.get_by_role("heading", name="Data").wait_for()
    (token,) = [c["value"] for c in page.context.cookies() if c["name"] == "labelgate_session"]
    page.get_by_role("button", name="Log out").click()
    wait_idle(page)
    page.get_by_role("button", name="Log in").wait_for()
    page.reload()
    wait_idle(page)
    page.get_by_role("button", name="Log in").wait_for()  # the login is drawn: the Data page is gone
    expect(page.get_by_role("heading", name="Data")).to_have_count(0)

    # revoked in the database (which every page run checks), not only forgotten by this browser:
    # the one session of this login, the cookie's token
    server.stop()
    con = duckdb.connect(str(server.db_path), read_only=True)
    rows = con.execute("SELECT token_sha256, revoked_at IS NOT NULL FROM sessions WHERE user_name = 'lead'").fetchall()
    con.close()
    assert rows == [(hashlib.sha256(token.encode()).hexdigest(), True)]


def test_a_page_outside_the_role_is_not_reachable_by_url(server, page):
    log_in(page, server.url, "expert", "expert-demo")
    page.goto(server.url + "/admin")
    wait_idle(page)
    page.get_by_text("This page is not available to the expert role.").wait_for()
    expect(page.get_by_role("heading", name="Users")).to_have_count(0)
    expect(page.locator('[data-testid="stSidebarNav"]').filter(has_text="Users")).to_have_count(0)
