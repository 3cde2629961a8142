"""Uploads on the Data page in Chromium: a file over the cap is refused where the user sees it, and
an 80 MB items file is imported without the server holding several copies of it.

The cap is Streamlit's `server.maxUploadSize` (MB); the test server gets a 1 MB cap so that a 2 MB
file is enough. The memory test (`slow`) samples the resident memory of the server's process tree
from /proc every 20 ms while the file is uploaded and imported, and prints the peak;
`benchmarks/upload_memory_bench.py` runs the same measurement on its own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from labelgate.store import Database
from labelgate.store.items import count_items
from labelgate.store.tasks import get_task
from tests.e2e.harness import ARTIFACTS, Server, log_in, new_page, wait_idle
from tests.reliability.helpers import PeakRss

pytestmark = pytest.mark.e2e

UPLOADER = '[data-testid="stFileUploaderDropzoneInput"]'


def items_csv(path: Path, megabytes: float) -> int:
    """A pairwise items file of about `megabytes` MB (~1 kB a row); returns its number of rows."""
    n = max(1, int(megabytes * 1_000_000 / 1_000))
    filler = "lorem ipsum dolor sit amet " * 15
    with path.open("w", encoding="utf-8") as f:
        f.write("item_id,input,output_1,output_2\n")
        for i in range(n):
            f.write(f"up-{i:07d},\"Question {i}: {filler[:180]}\",\"First answer {i} {filler}\","
                    f"\"Second answer {i} {filler}\"\n")
    return n


def open_import_tab(page, url: str) -> None:
    log_in(page, url, "engineer", "engineer-demo")
    page.goto(url + "/data")
    wait_idle(page)
    page.get_by_role("tab", name="Import").click()
    wait_idle(page)


def items_of(db_path: Path) -> int:
    db = Database(db_path)
    try:
        return count_items(db, get_task(db, "mt-bench").task_id)
    finally:
        db.close()


def test_an_upload_over_the_cap_is_refused_with_a_message_and_nothing_imported(tmp_path, demo_template, browser):
    db_path = tmp_path / "cap.duckdb"
    shutil.copy(demo_template, db_path)
    before = items_of(db_path)
    big = tmp_path / "two_mb.csv"
    items_csv(big, 2.0)
    server = Server(db_path, args=("--server.maxUploadSize", "1"))
    page = new_page(browser)
    context = page.context
    try:
        open_import_tab(page, server.url)
        page.get_by_text("Files up to 1 MB; a larger one is refused before it is sent, and nothing is imported.") \
            .wait_for()
        page.locator(UPLOADER).set_input_files(str(big))
        # beside the file's name, in words on the page (not only an icon and a tooltip); Import stays off
        chip = page.locator('[data-testid="stFileChip"]', has_text="two_mb.csv")
        reason = chip.get_by_role("alert")
        reason.wait_for()
        assert reason.inner_text() == "Error: File must be 1.0MB or smaller."
        box = reason.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 8   # drawn, not screen-reader only
        wait_idle(page)
        assert page.get_by_role("button", name="Import").is_disabled()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "upload-over-cap.png"))
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "upload-over-cap.png"))
        raise
    finally:
        context.close()
        server.stop()
    assert items_of(db_path) == before
    con = duckdb.connect(str(db_path), read_only=True)
    assert con.execute("SELECT count(*) FROM items WHERE item_id LIKE 'up-%'").fetchone()[0] == 0
    con.close()


def upload_and_import(page, server: Server, csv_path: Path, n_rows: int) -> PeakRss:
    """Upload `csv_path` on the Data page and import it as items, measuring the server's memory."""
    open_import_tab(page, server.url)
    with PeakRss(server.proc.pid) as rss:
        page.locator(UPLOADER).set_input_files(str(csv_path))
        page.get_by_role("button", name="Import").and_(page.locator(":enabled")).wait_for(timeout=600_000)
        wait_idle(page)
        page.get_by_role("button", name="Import").click()
        page.locator('[data-testid="stAlert"]').first.wait_for(timeout=900_000)   # the import's message
        wait_idle(page)
    assert page.locator('[data-testid="stAlert"]').all_inner_texts() == [f"{csv_path.name}: added {n_rows} items."]
    return rss


@pytest.mark.slow
def test_an_80_mb_upload_is_imported_within_800_mb_of_server_memory(tmp_path, demo_template, browser):
    db_path = tmp_path / "big.duckdb"
    shutil.copy(demo_template, db_path)
    before = items_of(db_path)
    csv_path = tmp_path / "items_80mb.csv"
    n = items_csv(csv_path, 80)
    server = Server(db_path)
    page = new_page(browser)
    context = page.context
    try:
        rss = upload_and_import(page, server, csv_path, n)
        # imported, and the uploader is empty again: the file is not kept
        assert page.locator('[data-testid="stFileUploaderFile"]').count() == 0
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "upload-80mb.png"))
        raise
    finally:
        context.close()
        server.stop()
    print(f"\nupload: {csv_path.stat().st_size / 1e6:.0f} MB, {n:,} items; server memory "
          f"{rss.start / 2**20:.0f} MiB before, peak {rss.peak / 2**20:.0f} MiB")
    assert items_of(db_path) == before + n
