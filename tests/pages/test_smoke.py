"""Every page runs for every role that may open it, and no other role can reach it."""

from __future__ import annotations

import pytest

from labelgate.auth import ROLE_PAGES

PAGE_FILES = {"label": "pages/label.py", "data": "pages/data.py", "admin": "pages/admin.py",
              "calibrate": "pages/calibrate.py", "compare": "pages/compare.py", "review": "pages/review.py",
              "labelers": "pages/labelers.py", "monitor": "pages/monitor.py", "gate": "pages/gate.py"}


def test_login_is_required_and_a_wrong_password_is_refused(app_for):
    at = app_for(None)
    assert at.title[0].value == "labelgate" and len(at.text_input) == 2
    at.text_input(key="login_name").input("lead")
    at.text_input(key="login_password").input("not-the-password")
    at.button[0].click().run()
    assert "Wrong user name or password." in [e.value for e in at.error]
    at.text_input(key="login_password").input("lead-demo")
    at.button[0].click().run()
    assert at.session_state["auth_user"] == ("lead", "lead")
    assert at.title[0].value == "Calibrate"  # the first page of a lead's navigation


@pytest.mark.parametrize("role", sorted(ROLE_PAGES))
@pytest.mark.parametrize("page", sorted(PAGE_FILES))
def test_each_page_runs_for_the_roles_allowed_and_is_unreachable_for_others(app_for, role, page):
    at = app_for(role)
    assert not at.exception
    allowed = page in ROLE_PAGES[role]
    if allowed:
        at.switch_page(PAGE_FILES[page]).run()
        assert not at.exception, at.exception
        assert at.title[0].value in {"Label", "Data", "Users", "Calibrate", "Compare", "Review", "Labelers",
                                      "Monitor", "Gate"}
    else:
        # st.navigation holds only the role's own pages, so switching to another raises
        with pytest.raises(Exception, match="Could not find a navigation page"):
            at.switch_page(PAGE_FILES[page]).run()
