"""Gate governance in Chromium: an engineer cannot change a threshold; a lead changes one, and the
Gate page marks it with who set it, for the engineer too. The database holds the audit row."""

from __future__ import annotations

import duckdb
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in, wait_idle
from tests.e2e.harness import new_page

pytestmark = pytest.mark.e2e
KAPPA = "threshold of Cohen's kappa vs gold"


def open_gate(pg, url: str, name: str, password: str) -> None:
    log_in(pg, url, name, password)
    pg.goto(url + "/gate")
    wait_idle(pg)


def test_engineer_cannot_change_a_threshold_and_a_leads_change_is_marked_with_who(server, page, browser):
    open_gate(page, server.url, "engineer", "engineer-demo")
    page.get_by_text("Read-only: only a lead changes the criteria").wait_for()
    expect(page.get_by_label(KAPPA)).to_be_disabled()
    expect(page.get_by_role("button", name="Save criteria")).to_have_count(0)

    lead = new_page(browser)
    try:
        open_gate(lead, server.url, "lead", "lead-demo")
        lead.get_by_role("button", name="Save criteria").wait_for()
        field = lead.get_by_label(KAPPA)
        expect(field).to_be_enabled()
        field.fill("0.05")
        field.press("Enter")
        wait_idle(lead)
        lead.get_by_role("button", name="Save criteria").click()
        wait_idle(lead)
        lead.get_by_text("Saved the criteria of mt-bench (version 1)").wait_for()
    finally:
        lead.context.close()

    page.reload()  # a new session: the cookie log_in waited for signs the engineer in again
    wait_idle(page)
    page.get_by_text("from the default 0.400 by lead (lead)", exact=False).wait_for()
    expect(page.get_by_label(KAPPA)).to_have_value("0.050")

    server.stop()
    with duckdb.connect(str(server.db_path), read_only=True) as con:
        rows = con.execute("SELECT setting, name, old_value, new_value, changed_by, changed_by_role"
                           " FROM setting_changes").fetchall()
    assert len(rows) == 1
    setting, name, old, new, who, role = rows[0]
    assert (setting, name, who, role) == ("gate_criteria", "kappa", "lead", "lead")
    assert '"threshold": 0.4' in old and '"threshold": 0.05' in new
