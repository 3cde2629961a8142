"""The README's Label page screenshots, taken as a new user sees them: `make run`'s first start on an
empty database (the whole demo), Chromium at 1400x900, logged in as the demo expert.

    .venv/bin/python -m tests.e2e.doc_screenshots [OUT_DIR]    # default: docs/screenshots

label.png: the MT-Bench task, its first item. label_criteria.png: the six-criterion HANNA task with
three criteria answered by key (3, 4, 2), the keys on the fourth. Look at both before committing them.
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


def main(out: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "labelgate.duckdb")  # empty: the app loads the demo, as on `make run`
        try:
            with sync_playwright() as p:
                browser = launch_chromium(p)
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
                browser.close()
        finally:
            server.stop()
    print(f"wrote {out / 'label.png'} and {out / 'label_criteria.png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
