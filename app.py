"""labelgate: the Streamlit entry point (page config, login, navigation by role)."""

from __future__ import annotations

import streamlit as st

from labelgate.auth import ROLE_PAGES
from labelgate.demo import load_demo
from labelgate.store.tasks import list_tasks
from labelgate.store.users import authenticate, has_users
from labelgate.ui.session import get_db, resume_session, sign_in, sign_out, sync_cookie

st.set_page_config(page_title="labelgate", page_icon=":material/fact_check:", layout="wide")

# Every page a role can be given, in menu order. A role's navigation holds only its own pages,
# so a page it may not use is neither listed nor reachable by URL.
PAGES = {
    "label": ("pages/label.py", "Label", ":material/keyboard:"),
    "calibrate": ("pages/calibrate.py", "Calibrate", ":material/tune:"),
    "compare": ("pages/compare.py", "Compare", ":material/compare_arrows:"),
    "review": ("pages/review.py", "Review", ":material/rate_review:"),
    "labelers": ("pages/labelers.py", "Labelers", ":material/smart_toy:"),
    "monitor": ("pages/monitor.py", "Monitor", ":material/monitoring:"),
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
        user = authenticate(get_db(), name, password)
        if user is None:
            st.error("Wrong user name or password.")
        else:
            sign_in(user)
            st.rerun()


ensure_demo()
user = resume_session()
sync_cookie()
if user is None:
    st.navigation([st.Page(login_page, title="Log in", icon=":material/login:")], position="hidden").run()
else:
    allowed = [key for key in PAGES if key in ROLE_PAGES.get(user.role, ())]
    pages = [st.Page(PAGES[k][0], title=PAGES[k][1], icon=PAGES[k][2], url_path=k) for k in allowed]
    with st.sidebar:
        st.markdown(f"**{user.name}** · {user.role}")
        st.button("Log out", on_click=sign_out, icon=":material/logout:")
    st.navigation(pages).run()
