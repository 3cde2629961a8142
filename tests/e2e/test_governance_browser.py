"""Gate governance in Chromium: an engineer cannot change a threshold; a lead changes one, and the
Gate page marks it with who set it, for the engineer too. The database holds the audit row."""

from __future__ import annotations

import duckdb
import pytest

from tests.e2e.conftest import log_in, wait_idle

pytestmark = pytest.mark.e2e
KAPPA = "threshold of Cohen's kappa vs gold"


def open_gate(pg, url: str, name: str, password: str) -> None:
    log_in(pg, url, name, password)
    pg.goto(url + "/gate")
    wait_idle(pg)


def test_engineer_cannot_change_a_threshold_and_a_leads_change_is_marked_with_who(server, page, browser):
    open_gate(page, server.url, "engineer", "engineer-demo")
    assert page.get_by_label(KAPPA).is_disabled()
    assert page.get_by_role("button", name="Save criteria").count() == 0
    page.get_by_text("Read-only: only a lead changes the criteria").wait_for()

    lead_context = browser.new_context(viewport={"width": 1400, "height": 1000})
    lead = lead_context.new_page()
    lead.set_default_timeout(30_000)
    try:
        open_gate(lead, server.url, "lead", "lead-demo")
        field = lead.get_by_label(KAPPA)
        assert field.is_enabled()
        field.fill("0.05")
        field.press("Enter")
        wait_idle(lead)
        lead.get_by_role("button", name="Save criteria").click()
        wait_idle(lead)
        lead.get_by_text("Saved the criteria of mt-bench (version 1)").wait_for()
    finally:
        lead_context.close()

    page.reload()
    wait_idle(page)
    if page.get_by_label("User name").count():  # a reload may start a new session
        open_gate(page, server.url, "engineer", "engineer-demo")
    page.get_by_text("from the default 0.400 by lead (lead)", exact=False).wait_for()
    assert page.get_by_label(KAPPA).input_value() == "0.050"

    server.stop()
    with duckdb.connect(str(server.db_path), read_only=True) as con:
        rows = con.execute("SELECT setting, name, old_value, new_value, changed_by, changed_by_role"
                           " FROM setting_changes").fetchall()
    assert len(rows) == 1
    setting, name, old, new, who, role = rows[0]
    assert (setting, name, who, role) == ("gate_criteria", "kappa", "lead", "lead")
    assert '"threshold": 0.4' in old and '"threshold": 0.05' in new
