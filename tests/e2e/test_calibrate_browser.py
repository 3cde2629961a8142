"""An engineer calibrates the demo's labelers in Chromium: switches labelers, fits and saves a
confusion-matrix correction, downloads the corrected labels; then opens Compare."""

from __future__ import annotations

import os

import duckdb
import pandas as pd
import pytest
from playwright.sync_api import expect

from tests.e2e.harness import ARTIFACTS, ROOT, log_in, wait_idle

pytestmark = pytest.mark.e2e

# LABELGATE_DOC_SCREENSHOTS=1 writes the README's screenshots instead of test artifacts.
SHOTS = ROOT / "docs" / "screenshots" if os.environ.get("LABELGATE_DOC_SCREENSHOTS") else ARTIFACTS


def test_engineer_calibrates_corrects_downloads_and_compares(server, page):
    log_in(page, server.url, "engineer", "engineer-demo")
    page.get_by_role("heading", name="Calibrate").wait_for()
    page.get_by_text("200 gold items (0 adjudicated)").wait_for()
    page.get_by_text("Confusion matrix of ChatGPT").wait_for()

    # switch the labeler under the loupe
    page.get_by_role("radio", name="GPT-4").click()
    wait_idle(page)
    page.get_by_text("Confusion matrix of GPT-4").wait_for()
    expect(page.get_by_text("Confusion matrix of ChatGPT")).to_have_count(0)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "calibrate.png"))

    page.get_by_role("tab", name="Bias").click()
    page.get_by_text("Verdict flips when swapped").wait_for()

    # fit, check out of fold, save
    page.get_by_role("tab", name="Correction").click()
    page.get_by_text("Cross-validated, before and after").wait_for()
    # on the demo the class-share correction is worse out of fold: saved only once confirmed
    page.get_by_text("This correction makes the cross-validated error").wait_for()
    page.get_by_role("button", name="Save this correction").click()
    wait_idle(page)
    page.get_by_text("Not saved: the correction makes the cross-validated error").wait_for()
    page.get_by_text("Save it although it is worse", exact=True).click()
    wait_idle(page)
    expect(page.get_by_role("checkbox", name="Save it although it is worse")).to_be_checked()
    page.get_by_role("button", name="Save this correction").click()
    wait_idle(page)
    page.get_by_text("Saved correction #1 (confusion matrix (class shares)) of GPT-4").wait_for()

    # apply to the batch and download
    with page.expect_download() as info:
        page.get_by_role("button", name="Download corrected labels (CSV)").click()
    download = info.value
    assert download.suggested_filename == "mt-bench-GPT-4-calibration-corrected.csv"
    path = ARTIFACTS / download.suggested_filename
    ARTIFACTS.mkdir(exist_ok=True)
    download.save_as(path)
    rows = pd.read_csv(path, dtype={"corrected": str})
    assert len(rows) == 200 and rows["item_id"].is_unique
    assert set(rows["labeler"]) == {"GPT-4"} and set(rows["corrected"]) <= {"1", "2"}
    assert (rows[["p_1", "p_2"]].sum(axis=1).round(3) == 1).all() and set(rows["correction_id"]) == {1}

    # Compare: the agreement matrix, families marked
    page.get_by_role("link", name="Compare").click()
    wait_idle(page)
    page.get_by_text("Items on which labelers of different families disagree").wait_for()
    page.get_by_text("GPT-4 (gpt)").first.wait_for()
    page.screenshot(path=str(SHOTS / "compare.png"))

    server.stop()  # the server holds the file; now the database can be read
    con = duckdb.connect(str(server.db_path), read_only=True)
    saved = con.execute("SELECT labeler, method, n_fit, created_by FROM corrections").fetchall()
    versions = con.execute("SELECT c.labeler_version = v.version FROM corrections c JOIN labeler_versions v"
                           " ON v.name = c.labeler").fetchall()
    con.close()
    assert saved == [("GPT-4", "confusion", 200, "engineer")] and versions == [(True,)]
