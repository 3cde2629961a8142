"""Users: the admin creates accounts, changes roles and disables logins; every change is audited."""

from __future__ import annotations

import streamlit as st

from labelgate.auth import ROLES
from labelgate.login import FREE_FAILURES, LOCK_FAILURES
from labelgate.store.logins import recent_failures
from labelgate.store.users import (
    add_user,
    list_users,
    set_user_active,
    set_user_role,
    set_user_tags,
    user_changes,
    user_tags,
)
from labelgate.ui.session import action, get_db, require_page
from labelgate.ui.widgets import show_message

admin = require_page("admin")
db = get_db()
ROLE_HELP = ("expert: labels only · engineer: labelers, dashboards, corrections · "
             "lead: an engineer who also approves gates · admin: users")


@action("admin")
def create_user() -> None:
    s = st.session_state
    try:
        add_user(db, s["admin_new_name"], s["admin_new_role"], s["admin_new_password"], created_by=admin.name)
    except ValueError as exc:
        s["admin_add_message"] = ("error", str(exc))
        return
    s["admin_add_message"] = ("success", f"Created {s['admin_new_role']} {s['admin_new_name']}.")
    s["admin_new_name"] = s["admin_new_password"] = ""


@action("admin")
def change_role(name: str) -> None:
    s = st.session_state
    role = s[f"admin_role_{name}"]
    try:
        changed = set_user_role(db, name, role, changed_by=admin.name)
    except (ValueError, LookupError) as exc:
        s["admin_role_message"] = ("error", str(exc))
        return
    s["admin_role_message"] = (("success", f"{name} is now {role}; it takes effect at their next click.")
                               if changed else ("info", f"{name} is already {role}."))


@action("admin")
def toggle(name: str, active: bool) -> None:
    try:
        set_user_active(db, name, active, changed_by=admin.name)
    except (ValueError, LookupError) as exc:
        st.session_state["admin_toggle_message"] = ("error", str(exc))
        return
    st.session_state["admin_toggle_message"] = ("success", f"{'Enabled' if active else 'Disabled'} {name}.")


@action("admin")
def save_tags(name: str) -> None:
    s = st.session_state
    try:
        changed = set_user_tags(db, name, s[f"admin_tags_{name}"], changed_by=admin.name)
    except (ValueError, LookupError) as exc:
        s["admin_tags_message"] = ("error", str(exc))
        return
    tags = user_tags(db).get(name, [])
    s["admin_tags_message"] = (("success" if changed else "info"),
                               f"{name}'s expertise tags {'are now' if changed else 'already are'}: "
                               f"{', '.join(tags) or 'none'}.")


st.title("Users")

users = list_users(db)
tags_of = user_tags(db)
st.dataframe([{"user": u.name, "role": u.role, "active": u.active, "expertise tags": ", ".join(tags_of.get(u.name, []))}
              for u in users], hide_index=True)

with st.container(border=True):
    st.subheader("Add a user")
    c1, c2, c3 = st.columns(3)
    c1.text_input("User name", key="admin_new_name")
    c2.selectbox("Role", ROLES, key="admin_new_role", help=ROLE_HELP)
    c3.text_input("Password (8+ characters)", type="password", key="admin_new_password")
    st.button("Add user", type="primary", on_click=create_user)
    show_message("admin_add_message")

with st.container(border=True):
    st.subheader("Change a role")
    st.caption("The user keeps everything they did; the new role applies from their next click.")
    c1, c2 = st.columns(2)
    name = c1.selectbox("User", [u.name for u in users], key="admin_role_user")
    current = next(u.role for u in users if u.name == name)
    c2.selectbox("Role", ROLES, index=ROLES.index(current), key=f"admin_role_{name}", help=ROLE_HELP)
    st.button("Change role", on_click=change_role, args=(name,))
    show_message("admin_role_message")

with st.container(border=True):
    st.subheader("Expertise tags")
    st.caption("Routing by expertise: a task with a domain column serves an item first to experts tagged with "
               "its domain (comma-separated, e.g. legal, code; empty clears them).")
    c1, c2 = st.columns(2)
    name = c1.selectbox("User", [u.name for u in users], key="admin_tags_user")
    key = f"admin_tags_{name}"
    if key not in st.session_state:
        st.session_state[key] = ", ".join(tags_of.get(name, []))
    c2.text_input("Expertise tags", key=key)
    st.button("Save tags", on_click=save_tags, args=(name,))
    show_message("admin_tags_message")

with st.container(border=True):
    st.subheader("Disable or enable a login")
    st.caption("A disabled user cannot log in; everything they labeled stays.")
    others = [u for u in users if u.name != admin.name]
    if others:
        # nobody preselected: disabling a login is chosen, never the first name of a list
        name = st.selectbox("User", [u.name for u in others], index=None, placeholder="Choose a user",
                            key="admin_toggle_user")
        if name is None:
            st.button("Disable", disabled=True, help="Choose a user first.")
        else:
            active = next(u.active for u in others if u.name == name)
            st.button("Disable" if active else "Enable", on_click=toggle, args=(name, not active))
        show_message("admin_toggle_message")

with st.container(border=True):
    st.subheader("Failed logins")
    st.caption(f"The latest wrong passwords and refused tries (app and command line). After {FREE_FAILURES} "
               f"wrong passwords in a row an account or computer must wait before the next try; after "
               f"{LOCK_FAILURES}, 15 minutes. A successful login clears the count.")
    failures = recent_failures(db)
    if failures.empty:
        st.info("No failed logins.")
    else:
        failures["outcome"] = failures["outcome"].map({"wrong": "wrong password", "refused": "refused: too many tries"})
        st.dataframe(failures, hide_index=True, key="admin_failures", column_config={
            "at_utc": st.column_config.DatetimeColumn("when (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "user_name": st.column_config.TextColumn("user name as typed"),
            "client": st.column_config.TextColumn("from"),
            "outcome": st.column_config.TextColumn("outcome")})

with st.expander("Changes to accounts", expanded=False):
    changes = user_changes(db)
    if changes.empty:
        st.caption("No changes recorded yet.")
    else:
        st.dataframe(changes.rename(columns={"changed_at": "when", "changed_by": "by", "user_name": "user",
                                             "field": "change", "old_value": "from", "new_value": "to"}),
                     hide_index=True,
                     column_config={"when": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})
