"""The student preview in Chromium: a fresh start loads both demo tasks, an engineer runs the preview and
records it as gate evidence, and a lead adds a student criterion that the gate then judges on it."""

from __future__ import annotations

import re

import pytest

from tests.e2e.harness import ROOT, Server, log_in, new_page, wait_idle

pytestmark = pytest.mark.e2e


def test_engineer_previews_a_student_on_the_uk_acts_demo(browser, tmp_path):
    srv = Server(tmp_path / "fresh.duckdb")   # empty: the app loads the built-in demo, both tasks
    try:
        pg = new_page(browser, 1400, 1400)
        pg.set_default_timeout(300_000)  # the preview trains students: minutes on a loaded machine
        log_in(pg, srv.url, "engineer", "engineer-demo")
        pg.get_by_role("link", name="Student").click()
        wait_idle(pg)
        pg.get_by_label("Task", exact=True).click()
        pg.get_by_role("option", name="uk-acts-technology").click()
        wait_idle(pg)
        pg.get_by_label("Labeler", exact=True).click()
        pg.get_by_role("option", name="GPT-4o (2024-11-20)").click()
        wait_idle(pg)  # the labeler is outside the form: its pick reruns the page (the arms follow it)
        pg.get_by_role("button", name="Run the preview").click()
        pg.get_by_text("Students by label source").wait_for()
        wait_idle(pg)
        findings = pg.locator('[data-testid="stMarkdown"] li')
        loss = re.compile(r"'GPT-4o \(2024-11-20\) \(all items\)' lose 0\.\d\d macro-F1")
        findings.filter(has_text=loss).first.wait_for()
        findings.filter(has_text="recall of the minority class 'technology'").first.wait_for()
        pg.screenshot(path=str(ROOT / "test-artifacts" / "student.png"), full_page=True)
        table = pg.locator('[data-testid="stTable"]').first.inner_text()
        assert "Macro-F1 (95% CI)" in table and "GPT-4o (2024-11-20) (all items)" in table
        pg.get_by_role("button", name="Record as gate evidence").click()
        pg.get_by_text("Recorded as gate evidence: student preview #1 of GPT-4o (2024-11-20)").wait_for()
        pg.context.close()

        pg = new_page(browser, 1400, 1600)
        pg.set_default_timeout(300_000)
        log_in(pg, srv.url, "lead", "lead-demo")
        pg.get_by_role("link", name="Gate").click()
        wait_idle(pg)
        pg.get_by_label("Task", exact=True).click()
        pg.get_by_role("option", name="uk-acts-technology").click()
        wait_idle(pg)
        pg.get_by_label("Labeler", exact=True).click()
        pg.get_by_role("option", name="GPT-4o (2024-11-20)").click()
        wait_idle(pg)
        pg.get_by_role("combobox", name="Add a rule").click()
        pg.get_by_role("option", name="Student macro-F1 loss").click()
        wait_idle(pg)
        pg.get_by_role("button", name="Add", exact=True).click()
        pg.get_by_text("Added the rule Student macro-F1 loss").wait_for()
        pg.get_by_role("button", name="Evaluate", exact=True).click()
        wait_idle(pg)
        row = pg.locator('[data-testid="stTable"] tr', has_text="Student macro-F1 loss").first
        row.wait_for()
        text = row.inner_text()
        assert "FAIL" in text and "student preview #1 by engineer" in text, text
        row.scroll_into_view_if_needed()
        pg.screenshot(path=str(ROOT / "test-artifacts" / "gate_student.png"))
        pg.context.close()
    finally:
        srv.stop()
