"""The loop as a team lives it, in Chromium: two experts label at once while a lead publishes a gold
release and approves GPT-4; the approval stays fresh while they go on; a second release makes it
stale and the Gate page says what changed.

`labelgate gate check` runs as a separate process while the server runs, and agrees with the page.
"""

from __future__ import annotations

import re

import duckdb
import pytest

from tests.e2e.conftest import log_in, wait_idle
from tests.e2e.harness import ARTIFACTS, launch_chromium, new_page
from tests.e2e.test_gate_browser import choose, gate_check
from tests.e2e.test_label_browser import press_and_wait, shown_item

pytestmark = pytest.mark.e2e

# three people at once: each in a window of its own, and a window that is not in front must not be
# throttled (Playwright's waits need its animation frames)
UNTHROTTLED = ["--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows",
               "--disable-background-timer-throttling"]


@pytest.fixture(scope="module")
def team_browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p, UNTHROTTLED)
        yield b
        b.close()


def snap(pg, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    wait_idle(pg)
    pg.screenshot(path=str(ARTIFACTS / f"team_loop_{name}.png"), full_page=True)


def label_some(experts: list, n: int) -> None:
    """Each expert answers `n` items, taking turns (both sessions are open at once)."""
    for _ in range(n):
        for pg in experts:
            pg.bring_to_front()
            pg.current = press_and_wait(pg, "1", pg.current)


def publish(pg, url: str, note: str) -> None:
    pg.bring_to_front()
    pg.goto(url + "/review")
    wait_idle(pg)
    pg.get_by_role("tab", name="Gold releases").click()
    wait_idle(pg)
    pg.get_by_label("Note (optional)").fill(note)
    pg.get_by_label("Note (optional)").press("Tab")
    wait_idle(pg)
    pg.get_by_role("button", name=re.compile(r"^Publish release \d+$")).click()
    wait_idle(pg)
    pg.get_by_text(re.compile(r"^Published gold release \d+ of mt-bench")).wait_for()


def open_gate(pg, url: str) -> None:
    pg.bring_to_front()
    pg.goto(url + "/gate")
    wait_idle(pg)
    choose(pg, "Labeler", "GPT-4")


def test_two_experts_label_while_a_release_keeps_the_approval_fresh_until_the_next(server, team_browser):
    page, *experts = pages = [new_page(team_browser) for _ in range(3)]
    try:
        for pg, (name, password) in zip(experts, [("expert", "expert-demo"), ("expert2", "expert-demo")],
                                        strict=True):
            pg.bring_to_front()
            log_in(pg, server.url, name, password)
            pg.current = shown_item(pg)

        # the imported MT-Bench majority is a complete gold: the lead publishes it as release 1 at once
        lead = page
        lead.bring_to_front()
        log_in(lead, server.url, "lead", "lead-demo")
        publish(lead, server.url, "MT-Bench majority")
        snap(lead, "review_release_1")
        label_some(experts, 2)

        open_gate(lead, server.url)
        lead.get_by_role("button", name="Evaluate").click()
        wait_idle(lead)
        lead.get_by_text("Verdict: PASS").wait_for()
        lead.get_by_label("Comment (required)").fill("release 1: kappa lower bound above 0.4")
        lead.get_by_role("button", name="Approve").click()
        wait_idle(lead)
        lead.get_by_text("Approved GPT-4 version").wait_for()

        # the experts go on labeling: the approval stays fresh, on the page and for gate check
        label_some(experts, 2)
        open_gate(lead, server.url)
        lead.get_by_text("Approved —", exact=False).first.wait_for()
        lead.get_by_text("8 expert answers since release 1, not yet released.", exact=False).wait_for()
        lead.get_by_text("on gold release 1", exact=False).first.wait_for()
        snap(lead, "gate_fresh")
        check = gate_check(server.db_path)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "OK: GPT-4 approved by lead" in check.stdout
        assert "8 expert answers since release 1, not yet released." in check.stdout
        label_some(experts, 1)

        # a second release makes it stale, and the page names what changed
        publish(lead, server.url, "first expert answers")
        snap(lead, "review_release_2")
        open_gate(lead, server.url)
        lead.get_by_text("Approval stale").wait_for()
        snap(lead, "gate_stale")
        reason = lead.get_by_text(re.compile(r"gold release 2 was published after the approved release 1 "
                                             r"\(\+0 items, \d+ relabeled, \d+ removed\)")).inner_text()
        relabeled, removed = (int(n) for n in re.search(r"(\d+) relabeled, (\d+) removed", reason).groups())
        lead.get_by_text("GPT-4 on both releases").wait_for()
        table = lead.get_by_test_id("stDataFrame").filter(has_text="release 1 (approved)")
        table.wait_for()
        snap(lead, "gate_stale")
        check = gate_check(server.db_path)
        assert check.returncode == 1 and "gold release 2 was published after the approved release 1" in check.stdout
    except Exception:
        for name, pg in zip(("lead", "expert", "expert2"), (page, *experts), strict=True):
            pg.screenshot(path=str(ARTIFACTS / f"team_loop_failed_{name}.png"), full_page=True)
        raise
    finally:
        for pg in pages:
            pg.context.close()

    server.stop()
    with duckdb.connect(str(server.db_path), read_only=True) as con:
        releases = con.execute("SELECT release_no, created_by, note, n_items, n_disputed FROM gold_releases"
                               " ORDER BY release_no").fetchall()
        approvals = con.execute("SELECT gold_release, actor FROM gate_events WHERE kind = 'approve'").fetchall()
        answers = con.execute("SELECT rater, count(*) FROM human_labels WHERE rater LIKE 'expert%'"
                              " GROUP BY rater ORDER BY rater").fetchall()
        # what the page said changed is what the two frozen releases in the database hold
        changed = con.execute(
            "SELECT count(*) FROM gold_release_items a JOIN gold_release_items b ON a.item_id = b.item_id"
            " AND a.release_no = 1 AND b.release_no = 2 AND a.status = 'gold' AND b.status = 'gold'"
            " WHERE a.value <> b.value").fetchall()[0][0]
        in_release_2 = con.execute("SELECT count(*) FROM gold_release_items WHERE release_no = 2"
                                   " AND status = 'disputed'").fetchall()[0][0]
    assert releases == [(1, "lead", "MT-Bench majority", 200, 0),
                        (2, "lead", "first expert answers", 200 - removed, removed)]
    assert approvals == [(1, "lead")]
    assert answers == [("expert", 5), ("expert2", 5)]
    assert removed == in_release_2 and relabeled == changed

