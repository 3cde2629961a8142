"""SIGKILL of `streamlit run` at random moments while an expert labels in Chromium.

Every answer the expert saw acknowledged (the next item appeared) is in the database after the
kills, exactly once, and after each restart the expert resumes (signed in by the session cookie)
on an item they have not answered. The default run kills the server 4 times; `-m slow` 20 times.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal

import duckdb
import pytest

from labelgate.labeling import RETEST_SHARE, picked_for_retest
from tests.e2e.harness import ARTIFACTS, Server, launch_chromium, log_in, new_page, wait_idle

pytestmark = pytest.mark.e2e

NEXT_ITEM = ("prev => { const el = [...document.querySelectorAll('p')].find(p => p.innerText.startsWith('Item id: '));"
             " return el && el.innerText !== 'Item id: ' + prev; }")


def shown_item(pg) -> str:
    return pg.get_by_text(re.compile(r"^Item id: ")).inner_text().removeprefix("Item id: ").strip()


def kill(server: Server) -> None:
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait()


def label_through_kills(tmp_path, demo_template, n_kills: int, seed: int) -> None:
    from playwright.sync_api import sync_playwright

    rng = random.Random(seed)
    db_path = tmp_path / "crash.duckdb"
    shutil.copy(demo_template, db_path)
    acknowledged: list[str] = []
    repeats: list[str] = []   # shown again after an answer: only a blind retest may be (README, Labeling)
    server = Server(db_path)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = new_page(browser)
            log_in(page, server.url, "expert", "expert-demo")
            for _ in range(n_kills):
                current = shown_item(page)
                if current in acknowledged:   # resumed on an item not answered yet, or a due retest
                    repeats.append(current)
                for _ in range(rng.randint(0, 3)):   # some answers, each acknowledged by the next item
                    page.keyboard.press(rng.choice("12"))
                    page.wait_for_function(NEXT_ITEM, arg=current)
                    acknowledged.append(current)
                    current = shown_item(page)
                    wait_idle(page)   # a key pressed while the next item still renders may hit the old one
                page.keyboard.press(rng.choice("12s"))    # an answer in flight ...
                page.wait_for_timeout(rng.uniform(0, 250))   # sleep-ok: killed before, during or after it is stored
                kill(server)
                server = Server(db_path)
                page.goto(server.url)   # the cookie (per host, not port) signs the expert in again
                wait_idle(page)
                page.get_by_text(re.compile(r"^Item id: ")).wait_for()
                assert page.locator('[data-testid="stException"]').count() == 0
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"crash-{seed}.png"))
            raise
        finally:
            browser.close()
            server.stop()
    con = duckdb.connect(str(db_path), read_only=True)
    rows = con.execute("SELECT item_id, count(*) FROM human_labels WHERE rater = 'expert' AND round = 1"
                       " GROUP BY item_id").fetchall()
    con.close()
    stored = dict(rows)
    lost = [item for item in acknowledged if item not in stored]
    print(f"\ncrash: {n_kills} SIGKILLs, {len(acknowledged)} acknowledged answers, {len(lost)} lost, "
          f"{len(stored) - len(set(acknowledged))} in-flight answers stored")
    assert lost == []
    assert all(n == 1 for n in stored.values())
    assert [item for item in repeats if not picked_for_retest("expert", item, RETEST_SHARE)] == []


def test_kills_lose_no_acknowledged_answer(tmp_path, demo_template):
    label_through_kills(tmp_path, demo_template, n_kills=4, seed=1)


@pytest.mark.slow
def test_twenty_kills_lose_no_acknowledged_answer(tmp_path, demo_template):
    label_through_kills(tmp_path, demo_template, n_kills=20, seed=2)
