"""labelgate: the Streamlit entry point (page config, login, navigation by role).

`streamlit run app.py` finds `app` below and serves this file through st.App, which adds the
app's own HTTP pieces (labelgate.ui.server): the HttpOnly session cookie, downloads only for
the user who made them, no /_stcore/metrics. Each browser session then runs this file as
`__main__`, which is the `main()` branch.
"""

from __future__ import annotations

import streamlit as st

from labelgate.auth import ROLE_PAGES
from labelgate.demo import load_demo
from labelgate.importer import sweep_staged_items
from labelgate.login import log_in
from labelgate.store.tasks import list_tasks
from labelgate.store.users import has_users
from labelgate.ui import server
from labelgate.ui.errors import install as install_error_handler
from labelgate.ui.session import get_db, resume_session, sign_in, sign_out, sync_cookie
from labelgate.ui.widgets import plain

# Every page a role can be given, in menu order. A role's navigation holds only its own pages,
# so a page it may not use is neither listed nor reachable by URL.
PAGES = {
    "label": ("pages/label.py", "Label", ":material/keyboard:"),
    "calibrate": ("pages/calibrate.py", "Calibrate", ":material/tune:"),
    "compare": ("pages/compare.py", "Compare", ":material/compare_arrows:"),
    "review": ("pages/review.py", "Review", ":material/rate_review:"),
    "labelers": ("pages/labelers.py", "Labelers", ":material/smart_toy:"),
    "monitor": ("pages/monitor.py", "Monitor", ":material/monitoring:"),
    "student": ("pages/student.py", "Student", ":material/school:"),
    "gate": ("pages/gate.py", "Gate", ":material/verified:"),
    "data": ("pages/data.py", "Data", ":material/database:"),
    "admin": ("pages/admin.py", "Users", ":material/group:"),
}


@st.cache_resource(show_spinner="Loading the demo project…")
def ensure_demo() -> None:
    """On first start with an empty database, load the built-in demo (and its demo accounts)."""
    db = get_db()
    if not has_users(db) and not list_tasks(db):
        load_demo(db)


def login_page() -> None:
    st.title("labelgate")
    st.caption("Calibrate LLM labelers against people before their labels train anything.")
    with st.form("login", border=True, width=420):
        name = st.text_input("User name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        ip = st.context.ip_address   # AppTest hands back a stand-in object, not a string
        result = log_in(get_db(), name, password, client=ip if isinstance(ip, str) and ip else "localhost")
        if result.user is None:
            st.error(result.message)
        else:
            sign_in(result.user)
            st.rerun()


def anonymous_pages() -> list:
    """Only the login, at / and under every page's name: a deep link shows the login (no other
    page, no menu) and, once signed in, opens that page if the role has it."""
    login = st.Page(login_page, title="Log in", icon=":material/login:", default=True)
    return [login] + [st.Page(login_page, title="Log in", url_path=key, visibility="hidden") for key in PAGES]


def user_pages(role: str) -> list:
    """The role's pages, the first also at / (Streamlit serves the default page only there, under a
    reserved name of its own, so a hidden twin keeps the page's name working). Other pages' names
    say that the role may not open them."""
    allowed = [key for key in PAGES if key in ROLE_PAGES.get(role, ())]
    pages = [st.Page(PAGES[k][0], title=PAGES[k][1], icon=PAGES[k][2], url_path=k) for k in allowed]
    first = allowed[0]
    twin = st.Page(PAGES[first][0], title=PAGES[first][1], icon=PAGES[first][2], url_path=first,
                   visibility="hidden")
    pages[0] = st.Page(PAGES[first][0], title=PAGES[first][1], icon=PAGES[first][2], url_path="start",
                       default=True)

    def not_for_role() -> None:
        st.error(f"This page is not available to the {role} role.")
        st.page_link(pages[0], label=f"Open {pages[0].title}", icon=pages[0].icon)

    hidden = [st.Page(not_for_role, title="Not available", url_path=k, visibility="hidden")
              for k in PAGES if k not in allowed]
    return [*pages, twin, *hidden]


def main() -> None:
    install_error_handler()  # an error shows its id, never a traceback (labelgate/ui/errors.py)
    st.set_page_config(page_title="labelgate", page_icon=":material/fact_check:", layout="wide")
    ensure_demo()
    user = resume_session()
    sync_cookie()
    if user is None:
        st.navigation(anonymous_pages(), position="hidden").run()
        return
    with st.sidebar:
        st.markdown(f"**{plain(user.name)}** · {user.role}")
        st.button("Log out", on_click=sign_out, icon=":material/logout:")
    st.navigation(user_pages(user.role)).run()


if __name__ == "__main__":
    main()
else:
    app = st.App(__file__, routes=server.routes(), middleware=server.middleware())
    server.before_first_session()
    sweep_staged_items()   # items files staged by a server killed mid-import (labelgate.importer)
