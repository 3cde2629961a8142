"""The README's Label page screenshots, taken as a new user sees them: `make run`'s first start on an
empty database (the whole demo), Chromium at 1400x900, logged in as the demo expert.

    .venv/bin/python -m tests.e2e.doc_screenshots [label] [monitor] [OUT_DIR]   # default: both, docs/screenshots

label.png: the MT-Bench task, its first item. label_criteria.png: the six-criterion HANNA task with
three criteria answered by key (3, 4, 2), the keys on the fourth. monitor.png: the lead on the Monitor page
for MT-Bench's synthetic labeler Drifty, 12 batches, collapsed and drifted in the last (the history of
tests/labelgate/test_monitor.py). Look at each before committing it.
The Calibrate, Compare, Labelers and alignment-lab shots come from their e2e tests with
LABELGATE_DOC_SCREENSHOTS=1.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.e2e.harness import ROOT, Server, launch_chromium, log_in, new_page, wait_idle, wait_keys

CHOSEN_JS = """(want) => { const out = [];
  document.querySelectorAll('[class*="st-key-label_crit_"]').forEach(box => {
    const b = box.querySelector('[data-testid="stBaseButton-primary"]');
    if (b) out.push(b.innerText.trim().split(/\\s/)[0]); });
  return out.join(',') === want; }"""


def pick_task(pg, name: str) -> None:
    from playwright.sync_api import expect

    box = pg.get_by_label("Task")  # the Label page's task picker (several tasks in the demo)
    box.click()
    pg.get_by_role("option", name=name, exact=True).click()
    wait_idle(pg)
    expect(pg.get_by_text("Item 1 of 200")).to_be_visible()
    wait_keys(pg)
    wait_idle(pg)


def pick(pg, label: str, option: str) -> None:
    pg.get_by_label(label).click()
    pg.get_by_role("option", name=option, exact=True).click()
    wait_idle(pg)


def monitor_shot(browser, out: Path, tmp: str) -> None:
    from playwright.sync_api import expect

    from labelgate.demo import load_demo
    from labelgate.store import Database
    from tests.labelgate.test_monitor import history

    path = Path(tmp) / "monitor.duckdb"
    db = Database(path)
    load_demo(db)
    history(db, n_batches=12, drift_at=12)
    server = Server(path)
    try:
        pg = new_page(browser, 1400, 1000)
        log_in(pg, server.url, "lead", "lead-demo")
        pg.goto(server.url + "/monitor")
        wait_idle(pg)
        pick(pg, "Task", "mt-bench")
        pick(pg, "Labeler", "Drifty")
        expect(pg.get_by_text("The latest batch b12 is blocked")).to_be_visible()
        expect(pg.locator(".js-plotly-plot").first).to_be_visible()
        wait_idle(pg)
        pg.screenshot(path=str(out / "monitor.png"))
        pg.context.close()
    finally:
        server.stop()


def main(out: Path, only: set[str]) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            if "monitor" in only:
                monitor_shot(browser, out, tmp)
            if "label" in only:
                label_shots(browser, out, tmp)
            browser.close()
    print(f"wrote {', '.join(sorted(only))} shots to {out}")


def label_shots(browser, out: Path, tmp: str) -> None:
    from playwright.sync_api import expect

    server = Server(Path(tmp) / "labelgate.duckdb")  # empty: the app loads the demo, as on `make run`
    try:
        pg = new_page(browser, 1400, 900)
        log_in(pg, server.url, "expert", "expert-demo")
        pick_task(pg, "mt-bench")
        expect(pg.get_by_role("button", name="Output 1 better")).to_be_visible()
        pg.screenshot(path=str(out / "label.png"))
        pick_task(pg, "hanna-stories")
        for key, chosen in (("3", "3"), ("4", "3,4"), ("2", "3,4,2")):
            pg.keyboard.press(key)
            pg.wait_for_function(CHOSEN_JS, arg=chosen, polling=25)
            wait_idle(pg)
        expect(pg.get_by_text("Still to answer: surprise, engagement, complexity")).to_be_visible()
        pg.screenshot(path=str(out / "label_criteria.png"))
        pg.context.close()
    finally:
        server.stop()


if __name__ == "__main__":
    args = sys.argv[1:]
    names = {a for a in args if a in ("label", "monitor")} or {"label", "monitor"}
    dirs = [a for a in args if a not in names]
    main(Path(dirs[0]) if dirs else ROOT / "docs" / "screenshots", names)
