"""Every page runs for every role that may open it, and no other role can reach it."""

from __future__ import annotations

import pytest

from labelgate.auth import ROLE_PAGES

# page key -> (file, the title it shows)
PAGE_FILES = {"label": ("pages/label.py", "Label"), "data": ("pages/data.py", "Data"),
              "admin": ("pages/admin.py", "Users"), "calibrate": ("pages/calibrate.py", "Calibrate"),
              "compare": ("pages/compare.py", "Compare"), "review": ("pages/review.py", "Review"),
              "labelers": ("pages/labelers.py", "Labelers"), "monitor": ("pages/monitor.py", "Monitor"),
              "gate": ("pages/gate.py", "Gate"), "student": ("pages/student.py", "Student preview")}


def test_every_page_of_the_app_is_covered_here():
    import ast
    from pathlib import Path

    # read PAGES from app.py's source: importing app.py would run the app
    tree = ast.parse(Path(__file__).resolve().parents[2].joinpath("app.py").read_text())
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "PAGES")
    PAGES = ast.literal_eval(node.value)
    assert {k: v[0] for k, v in PAGES.items()} == {k: v[0] for k, v in PAGE_FILES.items()}


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
    path, title = PAGE_FILES[page]
    if allowed:
        at.switch_page(path).run()
        assert not at.exception, at.exception
        assert at.title[0].value == title
    else:
        # st.navigation holds only the role's own pages, so switching to another raises
        with pytest.raises(Exception, match="Could not find a navigation page"):
            at.switch_page(path).run()
