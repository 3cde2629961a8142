"""Time from a label key press to the next item shown, in Chromium, with 1M LLM labels stored.

    .venv/bin/python benchmarks/label_latency_bench.py [N_LABELS] [N_LLM_LABELS]

Runs `streamlit run app.py` on a copy of the demo database twice — once as shipped (1,585
LLM labels: the baseline) and once with N_LLM_LABELS (default 1,000,000) more LLM labels
appended — and in each an expert labels N_LABELS (default 100) items with the keyboard.
Latency is measured in the browser: from the key press to the moment the next item's id is
on screen and the script has finished. Prints median and 95th percentile side by side and
their ratio. Aim: p95 under 250 ms with 1M LLM labels.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labelgate.demo import load_demo  # noqa: E402
from labelgate.store import Database  # noqa: E402
from labelgate.store.labels import append_llm_labels  # noqa: E402
from labelgate.store.tasks import get_task  # noqa: E402
from tests.e2e.harness import IDLE, Server, launch_chromium, log_in  # noqa: E402

NEXT_ITEM_JS = """prev => {
  const el = [...document.querySelectorAll('p')].find(p => p.innerText.startsWith('Item id: '));
  return el && el.innerText !== 'Item id: ' + prev
    && document.querySelector('[data-testid="stApp"][data-test-script-state="notRunning"]') !== null; }"""


def add_llm_labels(db: Database, n: int) -> None:
    task = get_task(db, "mt-bench")
    rng = np.random.default_rng(0)
    step = 250_000
    for start in range(0, n, step):
        m = min(step, n - start)
        append_llm_labels(db, pd.DataFrame({
            "task_id": task.task_id,
            "item_id": np.char.add("mtb-", np.char.zfill(rng.integers(0, 200, m).astype(str), 3)),
            "labeler": "bulk", "version": "v1", "batch": np.char.add("b", ((start + np.arange(m)) // 500).astype(str)),
            "sample_index": 0, "shown_order": "12", "value": np.where(rng.random(m) < 0.5, "1", "2"),
            "confidence": rng.random(m), "source": "run"}))


def measure(db_path: Path, n_labels: int, playwright) -> list[float]:
    server = Server(db_path)
    browser = launch_chromium(playwright)
    try:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(30_000)
        log_in(page, server.url, "expert", "expert-demo")
        # the demo's first task is now hanna-stories (six criteria, label_criteria_bench): pick mt-bench, with
        # the keyboard as an expert does, and wait until the key helper has given the keys back to its item
        page.get_by_label("Task").click()
        page.keyboard.type("mt-bench")
        page.keyboard.press("Enter")
        page.wait_for_function("() => [...document.querySelectorAll('p')].some(p => p.innerText.startsWith("
                               "'Item id: mtb-')) && !document.activeElement.closest('.st-key-label_task')")
        page.wait_for_selector(IDLE)
        latencies = []
        for i in range(n_labels):
            current = page.get_by_text("Item id: ", exact=False).first.inner_text().removeprefix("Item id: ").strip()
            t0 = time.perf_counter()
            page.keyboard.press("1" if i % 2 else "2")
            page.wait_for_function(NEXT_ITEM_JS, arg=current, polling=5)
            latencies.append((time.perf_counter() - t0) * 1000)
            page.wait_for_selector(IDLE)
        return latencies
    finally:
        browser.close()
        server.stop()


def main(n_labels: int = 100, n_llm: int = 1_000_000) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        base = Path(tmp) / "base.duckdb"
        load_demo(Database(base))
        big = Path(tmp) / "big.duckdb"
        big.write_bytes(base.read_bytes())
        t0 = time.perf_counter()
        add_llm_labels(Database(big), n_llm)
        print(f"appended {n_llm:,} LLM labels in {time.perf_counter() - t0:.1f} s")
        results = {"demo as shipped (baseline)": measure(base, n_labels, p),
                   f"demo + {n_llm:,} LLM labels": measure(big, n_labels, p)}
    print(f"\nkey press -> next item shown, {n_labels} labels each, Chromium headless")
    print(f"{'database':<36}{'median ms':>12}{'p95 ms':>10}{'max ms':>10}")
    rows = []
    for name, lat in results.items():
        p95 = float(np.percentile(lat, 95))
        rows.append((statistics.median(lat), p95))
        print(f"{name:<36}{statistics.median(lat):>12.0f}{p95:>10.0f}{max(lat):>10.0f}")
    print(f"ratio with 1M labels / baseline: median {rows[1][0] / rows[0][0]:.2f}x, p95 {rows[1][1] / rows[0][1]:.2f}x"
          f"; aim p95 < 250 ms: {'met' if rows[1][1] < 250 else 'NOT met'}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
