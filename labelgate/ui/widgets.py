"""Widgets several pages share."""

from __future__ import annotations

import streamlit as st

from labelgate.store.tasks import list_tasks
from labelgate.ui.session import get_db


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def task_names() -> list[str]:
    """Names of all tasks (cached briefly; `forget_task_names` after creating one)."""
    return [t.name for t in list_tasks(get_db())]


def forget_task_names() -> None:
    task_names.clear()


def require_task_names() -> list[str]:
    """The task names, or a note and a stop when there is none yet."""
    names = task_names()
    if not names:
        st.info("There are no tasks yet: an engineer creates one on the Data page.")
        st.stop()
    return names


def task_picker(key: str, *, where=st, on_change=None) -> str:
    """The task select box every task page starts with (stops the page when there is no task)."""
    return where.selectbox("Task", require_task_names(), key=key, on_change=on_change)


def plain(text: str) -> str:
    """`text` escaped for Streamlit markdown, so that people's words (comments, reasons) show as
    written: no links, images, emphasis or HTML made from them."""
    return "".join("\\" + ch if ch in "\\`*_[]<>|~$#" else ch for ch in str(text))


def show_message(key: str) -> None:
    """Show, once, the (kind, text) a callback left in session_state[key] (kind: success, info, ...)."""
    kind, text = st.session_state.pop(key, (None, None))
    if kind:
        getattr(st, kind)(text)
