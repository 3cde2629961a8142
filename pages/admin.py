"""Users: the admin creates accounts, sets roles and disables logins."""

from __future__ import annotations

import streamlit as st

from labelgate.auth import ROLES
from labelgate.store.users import add_user, list_users, set_user_active
from labelgate.ui.session import get_db, require_page
from labelgate.ui.widgets import show_message

admin = require_page("admin")
db = get_db()


def create_user() -> None:
    s = st.session_state
    try:
        add_user(db, s["admin_new_name"], s["admin_new_role"], s["admin_new_password"], created_by=admin.name)
    except ValueError as exc:
        s["admin_message"] = ("error", str(exc))
        return
    s["admin_message"] = ("success", f"Created {s['admin_new_role']} {s['admin_new_name']}.")
    s["admin_new_name"] = s["admin_new_password"] = ""


def toggle(name: str, active: bool) -> None:
    set_user_active(db, name, active)


st.title("Users")
show_message("admin_message")

users = list_users(db)
st.dataframe([{"user": u.name, "role": u.role, "active": u.active} for u in users], hide_index=True)

with st.container(border=True):
    st.subheader("Add a user")
    c1, c2, c3 = st.columns(3)
    c1.text_input("User name", key="admin_new_name")
    c2.selectbox("Role", ROLES, key="admin_new_role",
                 help="expert: labels only · engineer: labelers, dashboards, corrections · "
                      "lead: an engineer who also approves gates · admin: users")
    c3.text_input("Password (8+ characters)", type="password", key="admin_new_password")
    st.button("Add user", type="primary", on_click=create_user)

with st.container(border=True):
    st.subheader("Disable or enable a login")
    st.caption("A disabled user cannot log in; everything they labeled stays.")
    others = [u for u in users if u.name != admin.name]
    if others:
        name = st.selectbox("User", [u.name for u in others], key="admin_toggle_user")
        active = next(u.active for u in others if u.name == name)
        st.button("Disable" if active else "Enable", on_click=toggle, args=(name, not active))
