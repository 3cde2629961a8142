"""Routing by expertise as a team uses it, in Chromium: an admin tags two experts on the Users page, a
lead names the task's domain column on the Data page with "others may label" off; the two experts
label at once, each shown only items of their own domain, and the database holds exactly their
answers; an untagged expert is told on the Label page that the items are held back, and why."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import duckdb
import pandas as pd
import pytest
from playwright.sync_api import expect

from tests.e2e.harness import ARTIFACTS, ROOT, Server, launch_chromium, log_in, new_page, wait_idle
from tests.e2e.test_label_browser import press_and_wait, shown_item

pytestmark = pytest.mark.e2e
# two experts at once, each in a window of its own: a window not in front must not be throttled
UNTHROTTLED = ["--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows",
               "--disable-background-timer-throttling"]
TASK = "routed-qa"
HELD = ("Nothing for you in this task now: 8 items are routed by expertise (legal, medical), and each goes only "
        "to experts tagged with its domain. An admin (Users page) or a lead (Data page) sets your expertise tags.")


def cli(db, *args, stdin: str | None = None) -> str:
    out = subprocess.run([sys.executable, "-m", "labelgate.cli", "--db", str(db), *args], capture_output=True,
                         text=True, timeout=300, cwd=ROOT, input=stdin)
    assert out.returncode == 0, out.stderr
    return out.stdout


def snap(pg, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    wait_idle(pg)
    pg.screenshot(path=str(ARTIFACTS / f"routing_{name}.png"), full_page=True)


def visible(pg, label: str):
    return pg.get_by_label(label, exact=True).filter(visible=True).first


def choose(pg, box, option: str) -> None:
    """Pick `option` in the select box `box` (a click alone may leave the list closed; ArrowDown opens it)."""
    box.click()
    if not pg.get_by_role("listbox").is_visible():
        box.press("ArrowDown")
    pg.get_by_role("option", name=option, exact=True).click()
    wait_idle(pg)


def open_label(pg, url: str, name: str) -> None:
    pg.bring_to_front()
    log_in(pg, url, name, "expert-demo" if name != "expert3" else "expert3-pass")
    pg.goto(url + "/label")
    wait_idle(pg)
    choose(pg, visible(pg, "Task"), TASK)
    pg.get_by_role("heading", name="Label", exact=True).click()  # the keys go to the page, not the picker


def test_two_experts_see_only_their_domain_and_an_untagged_one_is_told_why(tmp_path, demo_template):
    from playwright.sync_api import sync_playwright

    db = tmp_path / "routing.duckdb"
    shutil.copy(demo_template, db)
    ids = [f"r{i:02d}" for i in range(8)]
    domains = {i: ("legal" if k % 2 == 0 else "medical") for k, i in enumerate(ids)}
    pd.DataFrame({"item_id": ids, "text": [f"Is clause {i} enforceable, or is the dose safe?" for i in ids],
                  "domain": [domains[i] for i in ids]}).to_csv(tmp_path / "items.csv", index=False)
    cli(db, "task", "create", TASK, "--kind", "categorical", "--labels", "yes,no")
    cli(db, "import", "items", str(tmp_path / "items.csv"), "--task", TASK)
    cli(db, "calibration", "draw", "--task", TASK, "--size", "8", "--experts-per-item", "1", "--overlap-share", "0")
    cli(db, "users", "add", "expert3", "--role", "expert", "--password-stdin", stdin="expert3-pass\n")

    server = Server(db)
    answered: dict[str, list[str]] = {"expert": [], "expert2": []}
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p, UNTHROTTLED)
            admin, lead, expert, expert2, expert3 = pages = [new_page(browser) for _ in range(5)]
            try:
                # 1. the admin tags the two experts on the Users page
                log_in(admin, server.url, "admin", "admin-demo")
                admin.goto(server.url + "/admin")
                wait_idle(admin)
                box = admin.locator('[data-testid="stVerticalBlock"]').filter(
                    has=admin.get_by_role("heading", name="Expertise tags")).last
                for name, tags in (("expert", "Legal "), ("expert2", "medical")):
                    choose(admin, box.get_by_label("User", exact=True), name)
                    box.get_by_role("textbox", name="Expertise tags", exact=True).fill(tags)
                    box.get_by_role("textbox", name="Expertise tags", exact=True).press("Tab")
                    wait_idle(admin)
                    box.get_by_role("button", name="Save tags").click()
                    wait_idle(admin)
                    admin.get_by_text(f"{name}'s expertise tags are now: {tags.strip().lower()}.").wait_for()
                snap(admin, "users_tags")
                # a lead names the domain column on the Data page, others not allowed
                lead.bring_to_front()
                log_in(lead, server.url, "lead", "lead-demo")
                lead.goto(server.url + "/data")
                wait_idle(lead)
                lead.get_by_role("tab", name="Calibration and anchor sets").click()
                wait_idle(lead)
                choose(lead, visible(lead, "Task"), TASK)
                choose(lead, visible(lead, "Domain column"), "domain")
                others = lead.get_by_role("checkbox", name="Others may label when no matching expert is free")
                expect(others).to_be_checked()  # the default
                lead.get_by_text("Others may label when no matching expert is free").click()
                wait_idle(lead)
                expect(others).not_to_be_checked()
                lead.get_by_role("button", name="Save routing").click()
                wait_idle(lead)
                lead.get_by_text(f"{TASK}: items go first to experts tagged with their domain").wait_for()
                snap(lead, "data_routing")

                # 2. two experts label at once: each is served only their own domain
                for pg, name in ((expert, "expert"), (expert2, "expert2")):
                    open_label(pg, server.url, name)
                    pg.current = shown_item(pg)
                for _ in range(3):
                    for pg, name in ((expert, "expert"), (expert2, "expert2")):
                        pg.bring_to_front()
                        answered[name].append(pg.current)
                        pg.current = press_and_wait(pg, "1", pg.current)  # "yes" is key 1
                for pg, name in ((expert, "expert"), (expert2, "expert2")):
                    snap(pg, f"label_{name}")
                    answered[name].append(pg.current)  # shown now, not answered: still their own domain
                assert [domains[i] for i in answered["expert"]] == ["legal"] * 4
                assert [domains[i] for i in answered["expert2"]] == ["medical"] * 4

                # 3. an untagged expert is told that the items are held back, and why
                open_label(expert3, server.url, "expert3")
                msg = expert3.get_by_text("Nothing for you in this task now:")
                msg.wait_for()
                assert msg.inner_text().replace("\u2060", "") == HELD
                expect(msg).to_be_visible()
                expect(expert3.get_by_text(re.compile(r"^Item id: "))).to_have_count(0)
                msg.scroll_into_view_if_needed()
                box = msg.bounding_box()
                assert box["y"] + box["height"] <= 1000, "the message is below the fold"
                snap(expert3, "label_held_back")
            except Exception:
                for name, pg in zip(("admin", "lead", "expert", "expert2", "expert3"), pages, strict=True):
                    pg.screenshot(path=str(ARTIFACTS / f"routing_failed_{name}.png"), full_page=True)
                raise
            finally:
                for pg in pages:
                    pg.context.close()
                browser.close()
    finally:
        server.stop()

    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT h.rater, h.item_id, h.status, h.value FROM human_labels h JOIN tasks t USING (task_id)"
            " WHERE t.name = ? ORDER BY h.rater, h.item_id", [TASK]).fetchall()
    expected = sorted((r, i, "label", "yes") for r in answered for i in answered[r][:3])
    assert rows == expected
