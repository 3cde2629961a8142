"""The Label page's keys in Chromium: the comment box and Escape, undo, "?", a long item
scrolled down; and two experts who overlap on the first items, as the Review page then shows."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import duckdb
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in, wait_idle
from tests.e2e.harness import ARTIFACTS, Server, new_page, wait_keys

pytestmark = pytest.mark.e2e

ITEM_ID = "() => { const el = [...document.querySelectorAll('p')].find(p => p.innerText.startsWith('Item id: '));" \
          " return el ? el.innerText.slice(9) : null; }"


def shown_item(pg) -> str:
    return pg.evaluate(ITEM_ID)


def first_item(pg) -> str:
    """The item the Label page shows once its first run has drawn it and its key helper is mounted."""
    pg.wait_for_function(f"() => ({ITEM_ID})() !== null")
    wait_keys(pg)
    wait_idle(pg)
    return shown_item(pg)


def wait_for_item_other_than(pg, previous: str) -> str:
    pg.wait_for_function(f"prev => ({ITEM_ID})() !== prev && ({ITEM_ID})() !== null", arg=previous)
    wait_idle(pg)
    return shown_item(pg)


def main_scroll(pg) -> float:
    return pg.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollTop")


def rows_of(db_path, rater: str) -> list[tuple]:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute("SELECT item_id, revision, status, value, comment FROM human_label_rows"
                           " WHERE rater = ? ORDER BY label_id", [rater]).fetchall()
    finally:
        con.close()


def test_comment_escape_undo_keys_and_a_long_item_starting_at_the_top(server, page):
    log_in(page, server.url, "expert", "expert-demo")
    first = first_item(page)
    # typing F and 1 in the comment box types them: no answer is stored, the item stays
    comment = page.get_by_label("Comment (optional)")
    comment.click()
    page.keyboard.type("F1 unclear")
    wait_idle(page)
    expect(comment).to_have_value("F1 unclear")
    assert shown_item(page) == first
    # Escape leaves the box; then F flags the item, with the comment as typed
    page.keyboard.press("Escape")
    page.wait_for_function("document.activeElement.tagName === 'BODY'")
    wait_idle(page)  # leaving the box hands its text to Streamlit: a rerun
    page.keyboard.press("f")
    second = wait_for_item_other_than(page, first)

    # "?" lists every key
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    for text in ("Output 1 better", "skip this item", "flag it as ambiguous", "undo your last answer",
                 "leave a text field"):
        dialog.get_by_text(text).wait_for()
    page.screenshot(path=str(server.db_path.parent / "keys.png"))
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    wait_idle(page)

    # an item longer than the window, scrolled to its end: the answer buttons stay in view, and the
    # next item starts at the top (a low window makes any demo item long)
    page.set_viewport_size({"width": 1400, "height": 560})
    page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollTo({top: 5000})")
    page.wait_for_function("document.querySelector('[data-testid=\"stMain\"]').scrollTop > 200")
    button = page.get_by_role("button", name=re.compile("^Output 1 better"))
    box = button.bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] <= 560  # within the window
    page.screenshot(path=str(server.db_path.parent / "scrolled.png"))
    page.keyboard.press("1")
    third = wait_for_item_other_than(page, second)
    page.wait_for_function("document.querySelector('[data-testid=\"stMain\"]').scrollTop === 0")

    # undo: the answer to `second` is withdrawn, the item comes back, and the new answer counts
    page.keyboard.press("u")
    assert wait_for_item_other_than(page, third) == second
    page.get_by_text(f"Your answer to item {second} is undone: answer it again.").wait_for()
    page.keyboard.press("2")
    assert wait_for_item_other_than(page, second) == third

    server.stop()
    rows = rows_of(server.db_path, "expert")
    assert [(i, rev, status, comment) for i, rev, status, _v, comment in rows] == [
        (first, 1, "flag", "F1 unclear"), (second, 1, "label", None), (second, 2, "undo", None),
        (second, 3, "label", None)]
    assert rows[1][3] != rows[3][3]  # "1" then "2" as shown: the latest is the other output


def test_two_experts_overlap_on_the_first_items_and_the_review_page_shows_their_agreement(server, browser):
    served = {}
    for name in ("expert", "expert2"):
        pg = new_page(browser)
        log_in(pg, server.url, name, "expert-demo")
        seen = [first_item(pg)]
        for _ in range(3):
            pg.keyboard.press("1")
            seen.append(wait_for_item_other_than(pg, seen[-1]))
        served[name] = seen[:3]
        pg.context.close()
    assert served["expert"] == served["expert2"]  # the same first items, in the same order

    pg = new_page(browser)
    log_in(pg, server.url, "engineer", "engineer-demo")
    pg.goto(server.url + "/review")
    wait_idle(pg)
    pg.get_by_role("tab", name="Human reliability").click()
    wait_idle(pg)
    pg.get_by_text("Pairwise agreement between experts").wait_for()
    pg.locator('[data-testid="stDataFrame"]').first.wait_for()
    pg.screenshot(path=str(server.db_path.parent / "review.png"))
    pg.context.close()
    server.stop()
    # the table the page shows: expert and expert2 measured against each other on their 3 shared items
    from labelgate.gold import load_gold
    from labelgate.review import expert_reliability
    from labelgate.store import Database
    from labelgate.store.labels import human_labels
    from labelgate.store.tasks import get_task

    db = Database(server.db_path)
    task = get_task(db, "mt-bench")
    kappa = expert_reliability(task, human_labels(db, task.task_id), load_gold(db, task), n_resamples=50)["kappa"]
    pair = kappa[(kappa["expert a"] == "expert") & (kappa["expert b"] == "expert2")]
    assert pair["items"].tolist() == [3]


HINT = ".labelgate-key-hint:not([hidden])"


def test_a_key_pressed_while_the_next_item_loads_never_answers_the_item_left(server, page):
    """An answer key pressed before the next item is drawn (a double press, or the next item's key
    pressed at once) is dropped with a hint: never an answer to the item left, nor to one not yet seen."""
    log_in(page, server.url, "expert", "expert-demo")
    # the keys' component is mounted once its script has run (it loads after the page's run ends);
    # a key pressed before that is Streamlit's own shortcut, which this test is not about
    first = first_item(page)
    page.keyboard.press("1")
    page.keyboard.press("2")   # at once: the first item's buttons are still on the page
    # the hint is drawn by the key's own handler, before the page has changed
    assert page.locator(HINT).all_inner_texts() == [
        "Key 2 was not recorded: the next item was still loading. Answer it once it is shown."]
    second = wait_for_item_other_than(page, first)
    page.screenshot(path=str(ARTIFACTS / "label-key-hint.png"))
    page.keyboard.press("2")
    page.keyboard.press("2")   # a double press: the second is dropped too
    assert page.locator(HINT).count() == 1
    third = wait_for_item_other_than(page, second)
    # once the item is shown, its key answers it
    page.keyboard.press("1")
    fourth = wait_for_item_other_than(page, third)
    expect(page.locator('[data-testid="stAlert"]')).to_have_count(0)
    server.stop()
    rows = rows_of(server.db_path, "expert")
    assert [(i, rev, status) for i, rev, status, _v, _c in rows] == [
        (first, 1, "label"), (second, 1, "label"), (third, 1, "label")]
    assert fourth not in {first, second, third}


def test_after_picking_a_task_its_keys_answer_the_item_shown(tmp_path, demo_template, browser):
    """Streamlit keeps the caret in the task picker after a pick; the first key must still answer the item."""
    db_path = tmp_path / "two-tasks.duckdb"
    shutil.copy(demo_template, db_path)
    items = tmp_path / "items.csv"
    items.write_text("item_id,text\nq1,Is this a question?\nq2,Another one\n")
    cli = [sys.executable, "-m", "labelgate.cli", "--db", str(db_path)]
    for args in (["task", "create", "yes-no", "--kind", "categorical", "--labels", "yes,no"],
                 ["import", "items", str(items), "--task", "yes-no"],
                 ["calibration", "draw", "--task", "yes-no", "--size", "2"]):
        subprocess.run(cli + args, check=True, capture_output=True, timeout=120)
    server = Server(db_path)
    try:
        pg = new_page(browser, 1400, 900)
        log_in(pg, server.url, "expert", "expert-demo")
        wait_keys(pg)
        pg.get_by_label("Task").click()   # picked with the keyboard, as a keyboard-first expert does
        pg.keyboard.type("yes-no")
        pg.keyboard.press("Enter")
        pg.get_by_text("Is this a question?").or_(pg.get_by_text("Another one")).first.wait_for()
        wait_idle(pg)
        # the key helper hands the caret back from the picker once the task's item is drawn
        pg.wait_for_function("() => !document.activeElement.closest('.st-key-label_task')")
        first = shown_item(pg)
        pg.keyboard.press("1")
        wait_for_item_other_than(pg, first)
        pg.context.close()
    finally:
        server.stop()
    rows = rows_of(db_path, "expert")
    assert [(i, status, value) for i, _rev, status, value, _c in rows] == [(first, "label", "yes")]
