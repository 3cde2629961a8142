"""An expert answers the six criteria of HANNA demo stories in Chromium with the keyboard only,
including a required "why" on one criterion and a criterion shown only for a surprising ending;
reloads, resumes, and the database holds exactly those answers."""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from labelgate.demo import HANNA_DIR, HANNA_TASK
from labelgate.store import Database
from labelgate.store.tasks import revise_task
from labelgate.tasks import parse_criteria
from tests.e2e.conftest import Server, log_in, wait_idle
from tests.e2e.harness import ARTIFACTS, wait_keys

pytestmark = pytest.mark.e2e

SIX = ["relevance", "coherence", "empathy", "surprise", "engagement", "complexity"]
IDLE_JS = "document.querySelector('[data-testid=\"stApp\"][data-test-script-state=\"notRunning\"]') !== null"
ITEM_JS = "(() => { const el = [...document.querySelectorAll('p')].find(p => p.innerText.startsWith('Item id: '));" \
          " return el ? el.innerText.slice(9) : null; })()"
FOCUS_JS = "(() => { const m = document.querySelector('.st-key-label_focus_mark');" \
           " const el = m && m.closest('[class*=\"st-key-label_crit_\"]');" \
           " return el ? el.innerText.split(/[\\n·]/)[0].trim() : null; })()"
CHOSEN_JS = """(() => { const out = {};
  document.querySelectorAll('[class*="st-key-label_crit_"]').forEach(box => {
    const name = box.innerText.split(/[\\n·]/)[0].trim();
    const b = box.querySelector('[data-testid="stBaseButton-primary"]');
    if (b) out[name] = b.innerText.trim().split(/\\s/)[0]; });
  return out; })()"""


@pytest.fixture
def hanna_server(tmp_path, hanna_template):
    """The HANNA task with a required "why" on coherence, and a criterion `twist` (earned / cheap)
    after surprise, asked only when the ending surprised (surprise 4 or 5)."""
    db_path = tmp_path / "e2e.duckdb"
    shutil.copy(hanna_template, db_path)
    entries = json.loads((HANNA_DIR / "criteria.json").read_text())
    entries[1]["rationale"] = "required"
    entries.insert(4, {"name": "twist", "kind": "categorical", "labels": ["earned", "cheap"],
                       "show_if": {"criterion": "surprise", "in": [4, 5]}, "rubric": "Was the surprise earned?"})
    revise_task(Database(db_path), HANNA_TASK, criteria=parse_criteria(entries), created_by="test")
    srv = Server(db_path)
    yield srv
    srv.stop()


def focus(pg) -> str | None:
    return pg.evaluate(FOCUS_JS)


def press(pg, key: str, *, focus_on: str | None = None) -> None:
    """Press `key`, then wait until the page is idle with the focus where it should be."""
    pg.keyboard.press(key)
    if focus_on is not None:
        pg.wait_for_function(f"want => ({FOCUS_JS}) === want && {IDLE_JS}", arg=focus_on, polling=20)
    wait_idle(pg)


def wait_chosen(pg, name: str, value: str) -> None:
    pg.wait_for_function(f"([n, v]) => ({CHOSEN_JS})[n] === v && {IDLE_JS}", arg=[name, value], polling=20)


def submit(pg) -> str:
    before = pg.evaluate(ITEM_JS)
    pg.keyboard.press("Enter")
    pg.wait_for_function(f"prev => {{ const now = {ITEM_JS}; return now !== null && now !== prev && {IDLE_JS}; }}",
                         arg=before, polling=20)
    return pg.evaluate(ITEM_JS)


def test_an_expert_answers_six_criteria_with_keys_reloads_and_resumes(hanna_server, page):
    pg = page
    log_in(pg, hanna_server.url, "expert", "expert-demo")
    pg.get_by_text("Item 1 of 200").wait_for()
    wait_keys(pg)  # "?" and the keys below are the key helper's, mounted after the page's run
    expected: dict[str, dict] = {}
    try:
        # story 1: relevance 3, coherence 4 with its required why, then 2 (low surprise: no twist)
        item = pg.evaluate(ITEM_JS)
        assert focus(pg) == "relevance"
        pg.keyboard.press("?")  # the keys of a task with several criteria
        dialog = pg.get_by_role("dialog")
        for text in ("answer the framed criterion", "next / previous criterion", "submit the item"):
            dialog.get_by_text(text, exact=False).wait_for()
        pg.keyboard.press("Escape")
        dialog.wait_for(state="hidden")
        wait_idle(pg)
        press(pg, "3", focus_on="coherence")
        press(pg, "4", focus_on="coherence")  # the why is still to write: the keys stay here
        why = pg.get_by_label("Why (required)")
        why.wait_for()
        pg.wait_for_function("document.activeElement && document.activeElement.tagName === 'INPUT'")
        pg.keyboard.type("4 5 Tab Enter: keys type here")  # digits in the field answer nothing
        wait_idle(pg)
        assert pg.evaluate(CHOSEN_JS)["coherence"] == "4" and focus(pg) == "coherence"
        press(pg, "Escape", focus_on="empathy")  # leaves the field; the why is taken
        press(pg, "2", focus_on="surprise")
        twist = pg.get_by_text("Was the surprise earned?")
        assert twist.count() == 0
        press(pg, "5", focus_on="twist")        # a surprising ending: twist appears, next
        twist.wait_for()
        press(pg, "2", focus_on="engagement")   # twist: cheap
        press(pg, "Shift+Tab", focus_on="twist")
        press(pg, "Shift+Tab", focus_on="surprise")
        press(pg, "1", focus_on="engagement")   # surprise 1: twist and its answer are gone
        twist.wait_for(state="detached")
        press(pg, "Enter")                      # two criteria still missing: the hint says which
        pg.get_by_text("Still to answer: engagement, complexity.").first.wait_for()
        assert pg.evaluate(ITEM_JS) == item
        press(pg, "4", focus_on="complexity")
        press(pg, "5")
        wait_chosen(pg, "complexity", "5")
        # a click answers too (in the browser, like a key): engagement 2, then back to 4
        engagement = pg.locator(".st-key-label_crit_5")
        engagement.get_by_role("button", name="2", exact=True).click()
        wait_chosen(pg, "engagement", "2")
        engagement.get_by_role("button", name="4", exact=True).click()
        wait_chosen(pg, "engagement", "4")
        pg.screenshot(path=str(ARTIFACTS / "label_criteria_story_1.png"))
        expected[item] = {"relevance": ("3", None), "coherence": ("4", "4 5 Tab Enter: keys type here"),
                          "empathy": ("2", None), "surprise": ("1", None), "engagement": ("4", None),
                          "complexity": ("5", None)}
        item = submit(pg)

        # stories 2 and 3: six keys each, the why typed and left with Enter
        for keys, text in (("251423", "jumps between scenes"), ("412355", "clear cause and effect")):
            assert focus(pg) == "relevance"
            press(pg, keys[0], focus_on="coherence")
            press(pg, keys[1], focus_on="coherence")
            pg.wait_for_function("document.activeElement && document.activeElement.tagName === 'INPUT'")
            pg.keyboard.type(text)
            press(pg, "Enter", focus_on="empathy")
            for k, nxt in zip(keys[2:], ["surprise", "engagement", "complexity", None], strict=True):
                if k in "45" and nxt == "engagement":
                    press(pg, k, focus_on="twist")
                    press(pg, "1", focus_on="engagement")  # twist: earned
                else:
                    press(pg, k, focus_on=nxt)
            wait_chosen(pg, "complexity", keys[5])
            answers = {name: (k, text if name == "coherence" else None) for name, k in zip(SIX, keys, strict=True)}
            if keys[3] in "45":
                answers["twist"] = ("earned", None)
            expected[item] = answers
            item = submit(pg)

        # half of story 4, then a reload: the stored stories stay done and the draft starts again
        press(pg, "1", focus_on="coherence")
        pg.get_by_text("Item 4 of 200").wait_for()
        pg.reload()
        wait_idle(pg)
        pg.get_by_text("Item 4 of 200").wait_for()
        assert pg.evaluate(ITEM_JS) == item and focus(pg) == "relevance"
        assert item not in expected
    except Exception:
        pg.screenshot(path=str(ARTIFACTS / "label_criteria_failed.png"), full_page=True)
        raise

    hanna_server.stop()
    con = duckdb.connect(str(hanna_server.db_path), read_only=True)
    rows = con.execute("SELECT item_id, criterion, status, value, rationale FROM human_label_rows"
                       " WHERE rater = 'expert' ORDER BY label_id").fetchall()
    con.close()
    got: dict[str, dict] = {}
    for item_id, criterion, status, value, rationale in rows:
        assert status == "label"
        got.setdefault(item_id, {})[criterion] = (value, rationale)
    assert got == expected
    assert [r[0] for r in rows] == [i for i in expected for _ in expected[i]]  # each story's rows together
