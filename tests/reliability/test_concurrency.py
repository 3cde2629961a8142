"""Many experts labeling at once on one server, with pipeline commands run beside them.

Each expert session is its own Chromium context (its own cookie, websocket and Streamlit session;
one browser, one server) and answers by clicking; meanwhile `gate check`, `report`, `gate
evaluate` and `import items` (a new file of 300 items each time) run again and again as separate
processes, as a pipeline would. Asserted: every acknowledged answer stored exactly once, no item
labeled past experts-per-item, no error on any expert's page, every command finished (never
"busy"), every imported item stored. Printed (never asserted): each command's wait for its turns on
the file and its whole time, and the experts' click-to-next-item times while a command ran and
while none did (the commands start once a third of the answers are in). 6 sessions by default, 20
with `-m slow`.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
import time
from dataclasses import dataclass

import duckdb
import pytest

from labelgate.store import Database
from labelgate.store.users import add_user
from tests.e2e.harness import (
    ARTIFACTS,
    CHROMIUM_FLAGS,
    IDLE,
    LOW_PRIORITY,
    Server,
    chromium_executable,
    driver_pids,
    renice_tree,
    tree_priorities,
)
from tests.reliability.helpers import cli, timed_cli

pytestmark = pytest.mark.e2e

COMMANDS = [("gate check", ["gate", "check", "--task", "mt-bench", "--labeler", "GPT-4"]),
            ("report", ["report", "--task", "mt-bench", "--labeler", "GPT-4", "--resamples", "100"]),
            ("gate evaluate", ["gate", "evaluate", "--task", "mt-bench", "--labeler", "GPT-4"]),
            ("import items", ["import", "items", "--task", "mt-bench"])]
IMPORT_ROWS = 300
NEXT_ITEM = ("prev => { const el = [...document.querySelectorAll('p')].find(p => p.innerText.startsWith('Item id: '));"
             " return el && el.innerText !== 'Item id: ' + prev; }")
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"], [data-testid="stAlertContentWarning"]'


async def expert(browser, url: str, name: str, n_answers: int, log: list, logins: asyncio.Semaphore,
                 ready: asyncio.Barrier, *, priorities: dict | None = None, think=None) -> list[str]:
    context = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(120_000)
    async with logins:   # a few page loads at a time (2 cores); the labeling itself is all at once
        await page.goto(url)
        await page.wait_for_selector(IDLE)
        await page.get_by_label("User name").fill(name)
        await page.get_by_role("textbox", name="Password").fill("pw-" + name)
        await page.get_by_role("button", name="Log in").click()
        await page.get_by_text(re.compile(r"^Item id: ")).wait_for()
        await page.wait_for_selector(IDLE)
    await ready.wait()
    if priorities is not None:   # every session's page is open: the browser's processes as they label
        priorities.update(tree_priorities(driver_pids()))
    acknowledged = []
    try:
        await answer_items(page, n_answers, log, acknowledged, think=think)
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / f"concurrency-{name}.png"))
        raise
    errors = await page.locator(ERRORS).all_inner_texts()
    await context.close()
    assert errors == [], (name, errors)
    return acknowledged


async def answer_items(page, n_answers: int, log: list, acknowledged: list, *, think=None) -> None:
    """Answer n_answers items by clicks, logging (click time, seconds to the next item); `think`, a function of
    the answer's index, is how long the expert reads the item before answering (benchmarks/concurrency_bench.py
    --think; the test answers with no pause)."""
    for i in range(n_answers):
        if think is not None:
            await asyncio.sleep(think(i))   # sleep-ok: the expert reads the item (the paced benchmark only)
        current = (await page.get_by_text(re.compile(r"^Item id: ")).inner_text()).removeprefix("Item id: ").strip()
        t0 = time.monotonic()
        # a click, not a key: a key goes to the focused page only, and 20 pages cannot all have focus
        await page.get_by_role("button", name=re.compile(f"^Output {'12'[i % 2]} better")).click()
        await page.wait_for_function(NEXT_ITEM, arg=current, polling=20)
        log.append((t0, time.monotonic() - t0))
        acknowledged.append(current)
        await page.wait_for_selector(IDLE)


async def all_experts(url: str, names: list[str], n_answers: int, log: list, priorities: dict) -> list[list[str]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await launch_low_priority(p)
        try:
            logins, ready = asyncio.Semaphore(4), asyncio.Barrier(len(names))
            return await asyncio.gather(*(expert(browser, url, n, n_answers, log, logins, ready,
                                                 priorities=priorities if n == names[0] else None) for n in names))
        finally:
            await browser.close()


async def launch_low_priority(p):
    """The experts' Chromium, and Playwright's driver, at nice 19: in a deployment each expert's browser runs on
    their own computer, not beside the server (tests/e2e/harness.py, LOW_PRIORITY)."""
    browser = await p.chromium.launch(executable_path=chromium_executable(low_priority=True), args=CHROMIUM_FLAGS)
    renice_tree(driver_pids(), LOW_PRIORITY)
    return browser


def items_file(path, prefix: str) -> list:
    """A new file of IMPORT_ROWS pairwise items, their ids starting with `prefix`."""
    with path.open("w", encoding="utf-8") as f:
        f.write("item_id,input,output_1,output_2\n")
        for i in range(IMPORT_ROWS):
            f.write(f"{prefix}-{i:04d},Question {prefix}.{i},First answer {i},Second answer {i}\n")
    return path


def run_commands(db_path, stop: threading.Event, runs: list, log: list, quiet_answers: int) -> None:
    # the experts' first answers with no command beside them: the baseline for their next-item times
    while len(log) < quiet_answers and not stop.is_set():
        time.sleep(0.05)  # sleep-ok: polling the answers log, not the page
    k = 0
    while not stop.is_set() or k < len(COMMANDS):   # each command at least once
        name, args = COMMANDS[k % len(COMMANDS)]
        if name == "import items":
            args = [*args, str(items_file(db_path.parent / f"beside-{k}.csv", f"beside-{k:03d}"))]
        stats = db_path.parent / f"turns-{k}.json"
        t0 = time.monotonic()
        out, timing = timed_cli(db_path, stats, *args, timeout=300)
        runs.append((name, t0, time.monotonic(), out.returncode, out.stderr.strip(), sum(timing["waits"])))
        k += 1


def pct(values: list[float], q: float) -> str:
    """The q-th percentile (nearest rank) in seconds, as printed."""
    v = sorted(values)
    return f"{v[min(len(v) - 1, int(q / 100 * len(v)))]:.2f} s" if v else "-"


@dataclass
class BusyRun:
    names: list[str]
    acknowledged: list[list[str]]     # per expert, the items whose answer they saw acknowledged
    runs: list[tuple]                 # (command, start, end, exit code, stderr, seconds waiting for turns)
    stored: list[tuple]               # (rater, item, answers) of the experts
    over: list[tuple]                 # (item, raters) past experts-per-item
    imported: int                     # items of the imports beside the experts found in the database
    priorities: dict                  # CPU priority of each browser thread, by kind (tree_priorities)


@pytest.fixture(scope="module", params=[6, pytest.param(20, marks=pytest.mark.slow)], ids=lambda n: f"{n}-experts")
def busy(request, tmp_path_factory, demo_template) -> BusyRun:
    n_experts = request.param
    n_answers = 4 if n_experts <= 6 else 6
    db_path = tmp_path_factory.mktemp("busy") / "busy.duckdb"
    shutil.copy(demo_template, db_path)
    names = [f"expert{i:02d}" for i in range(n_experts)]
    db = Database(db_path)
    for name in names:
        add_user(db, name, "expert", "pw-" + name)
    db.close()
    quiet = {}
    for name, args in COMMANDS:   # the same commands with nobody labeling: the baseline
        if name == "import items":
            args = [*args, str(items_file(db_path.parent / "quiet.csv", "quiet"))]
        t0 = time.monotonic()
        assert cli(db_path, *args).returncode in (0, 1)
        quiet[name] = time.monotonic() - t0

    server = Server(db_path)
    stop, runs, log, priorities = threading.Event(), [], [], {}
    commands = threading.Thread(target=run_commands, args=(db_path, stop, runs, log, n_experts * n_answers // 3))
    try:
        commands.start()
        acknowledged = asyncio.run(all_experts(server.url, names, n_answers, log, priorities))
    finally:
        stop.set()
        commands.join()
        server.stop()

    busy = [(a, b) for _, a, b, *_ in runs]
    beside = [s for t, s in log if any(a <= t <= b for a, b in busy)]
    alone = [s for t, s in log if not any(a <= t <= b for a, b in busy)]
    print(f"\nconcurrency: {n_experts} expert sessions (Chromium contexts) x {n_answers} answers, "
          f"{len(runs)} pipeline commands beside them")
    for name in quiet:
        mine = [r for r in runs if r[0] == name]
        if mine:
            print(f"  {name:<13} x{len(mine):<2} wait for the file p50 {pct([r[5] for r in mine], 50)}, "
                  f"max {pct([r[5] for r in mine], 100)}; whole command {pct([r[2] - r[1] for r in mine], 50)} "
                  f"(quiet server: {quiet[name]:.2f} s)")
    waits = [r[5] for r in runs]
    print(f"  all commands: wait for the file p50 {pct(waits, 50)}, p95 {pct(waits, 95)}, max {pct(waits, 100)}")
    print(f"  expert click-to-next-item while a command ran: p50 {pct(beside, 50)}, p95 {pct(beside, 95)}, "
          f"max {pct(beside, 100)} ({len(beside)} answers); while none ran: p50 {pct(alone, 50)}, "
          f"p95 {pct(alone, 95)} ({len(alone)})")
    print("  browser threads by CPU priority: "
          + ", ".join(f"{kind} {sorted(set(v))} x{len(v)}" for kind, v in priorities.items()))

    con = duckdb.connect(str(db_path), read_only=True)
    stored = con.execute("SELECT rater, item_id, count(*) FROM human_labels WHERE rater LIKE 'expert__'"
                         " GROUP BY ALL").fetchall()
    # the task's shared part goes to every expert by design (labelgate.labeling); every other item to
    # experts-per-item experts, counting answers given in the app (an imported majority takes no slot)
    over = con.execute(
        "WITH rev AS (SELECT experts_per_item, overlap_share FROM task_revisions ORDER BY revision DESC LIMIT 1),"
        " members AS (SELECT item_id, row_number() OVER (ORDER BY position)"
        "   <= greatest(30, ceil((SELECT overlap_share FROM rev) * count(*) OVER ())) AS shared"
        "   FROM item_set_members WHERE draw_id = (SELECT max(draw_id) FROM item_set_draws"
        "   WHERE set_name = 'calibration'))"
        " SELECT h.item_id, count(DISTINCT h.rater) FROM human_labels h JOIN members m USING (item_id)"
        " WHERE h.round = 1 AND h.source = 'app' AND NOT m.shared"
        " GROUP BY h.item_id HAVING count(DISTINCT h.rater) > (SELECT experts_per_item FROM rev)").fetchall()
    imported = con.execute("SELECT count(*) FROM items WHERE item_id LIKE 'beside-%'").fetchone()[0]
    con.close()
    return BusyRun(names, acknowledged, runs, stored, over, imported, priorities)


def test_every_acknowledged_answer_is_stored_once(busy):
    assert {(r, i) for r, i, _ in busy.stored} == {
        (n, i) for n, items in zip(busy.names, busy.acknowledged, strict=True) for i in items}
    assert [row for row in busy.stored if row[2] > 1] == []


def test_pipeline_commands_beside_the_experts_all_finish(busy):
    assert busy.runs
    assert [(name, code, err) for name, _, _, code, err, _ in busy.runs if code not in (0, 1)] == []   # "busy" is 2
    assert {name for name, *_ in busy.runs} == {name for name, _ in COMMANDS}
    assert busy.imported == IMPORT_ROWS * sum(name == "import items" for name, *_ in busy.runs)


def test_no_item_is_labeled_past_experts_per_item(busy):
    assert busy.over == []


def test_the_experts_browsers_run_at_the_lowest_priority(busy):
    # the deployment modelled: the browsers' CPU is the experts' own, so it must not be taken from the server
    assert len(busy.priorities.get("renderer", [])) >= len(busy.names)
    chromium = {kind: sorted(set(v)) for kind, v in busy.priorities.items() if kind != "node"}
    assert chromium == {kind: ["idle"] for kind in chromium}
    assert sorted(set(busy.priorities["node"])) == [f"nice {LOW_PRIORITY}"]  # Playwright's driver
