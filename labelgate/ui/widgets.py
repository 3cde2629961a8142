"""Widgets several pages share."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from labelgate.store.labelers import current_versions
from labelgate.store.tasks import list_tasks
from labelgate.ui.server import offer_download
from labelgate.ui.session import current_user, get_db

_INLINE_SPECIAL = re.compile(r"[\\`*\[\]<>~$&]|(?<![^\W_])_|_(?![^\W_])|:(?=[^\W\d_])")
_LINE_START = re.compile(r"^(?:-|[#+](?= |$)|\d{1,9}[.)](?= |$))")  # a heading, list or rule at the start
_BLANKS = re.compile(r"[\r\n\t\v\f]+")
_IMAGE_START = re.compile(r"!\[")
# Two rewrites run on the parsed markdown, where a backslash escape cannot stop them: GFM's bare
# links (http://..., www...., name@host.tld become links) and Streamlit's symbols (" -- " becomes a
# dash, " -> " an arrow, ...). An invisible word joiner (U+2060) inside each keeps the text as written.
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?=://)|(?<=[wW]{3})(?=\.)|(?=@)")
_SYMBOL_PAIRS = re.compile(r"(?<!\S)(?:<->|->|<-|--|>=|<=|~=)(?!\S)")


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def task_names() -> list[str]:
    """Names of all tasks (cached briefly; `forget_task_names` after creating one)."""
    return [t.name for t in list_tasks(get_db())]


def forget_task_names() -> None:
    task_names.clear()


def task_labelers(task_id: int) -> pd.DataFrame:
    """The task's labelers, defined and imported, at their current versions. Not cached: a labeler made
    by a command (another process) must show at once, and it is one small query."""
    return current_versions(get_db(), task_id)


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


def plain(text) -> str:
    """`text` (anything from data or from people: ids, names, labels, comments, messages that quote
    them) escaped for the places where Streamlit reads markdown -- st.markdown, captions, alerts,
    widget and button labels, metrics, tabs, expanders -- so that it shows exactly as written.

    Markdown's own backslash escape goes before every character that could start something:
    emphasis, code, links and images, HTML and autolinks, strikethrough, math, entities, and the
    emoji, icon and colour codes that start with a colon; underscores only where they could be
    emphasis (not inside words like item_id). Line breaks and tabs become spaces, and a heading or
    list marker at the start is escaped too, so nothing turns into a block. GFM's bare links
    (http://, www., e-mail addresses) and Streamlit's symbols (" -- " as a dash, " -> " as an arrow)
    are made after the escapes are read: an invisible word joiner (U+2060) inside each keeps them
    as text. Multi-line text is shown with st.text instead.
    """
    one_line = _BLANKS.sub(" ", str(text)).lstrip(" ")
    one_line = _SYMBOL_PAIRS.sub(lambda m: m[0][0] + WORD_JOINER + m[0][1:], one_line)
    one_line = _AUTOLINK.sub(WORD_JOINER, one_line)
    escaped = _INLINE_SPECIAL.sub(r"\\\g<0>", one_line)
    return _LINE_START.sub(lambda m: m[0][:-1] + "\\" + m[0][-1], escaped, count=1)


def rubric_markdown(rubric: str) -> str:
    """A task's rubric as markdown that loads nothing by itself: an image becomes a link to it (opened
    only by a click), so a rubric cannot plant a beacon in every expert's browser. Raw HTML is
    shown as text by st.markdown already."""
    return _IMAGE_START.sub("&#33;[", rubric or "")  # "!" as a character reference starts no image


def show_message(key: str) -> None:
    """Show, once, the (kind, text) a callback left in session_state[key] (kind: success, info, ...),
    as plain text: messages quote names, ids and errors from data."""
    kind, text = st.session_state.pop(key, (None, None))
    if kind:
        getattr(st, kind)(plain(text))


def download_button(label: str, data: bytes | str, **kwargs) -> None:
    """st.download_button whose file is served only to the signed-in user (labelgate.ui.server):
    its URL answers nobody else, signed in or not."""
    user = current_user()
    if user is None:
        return
    data = data.encode() if isinstance(data, str) else data
    offer_download(user.name, data)
    st.download_button(label, data, **kwargs)


def gold_picker(key: str, task, *, where=st) -> int | None:
    """Which gold a page measures against: a release (default the latest) or the draft (None).

    Beside it, a caption with how far the draft has moved since the latest release. Releases
    are re-read on every run (a small query), so one published meanwhile shows at once.
    """
    from labelgate import gold

    db = get_db()
    releases = gold.list_releases(db, task)
    progress = gold.draft_progress(db, task, releases[-1] if releases else None)
    if not releases:
        where.caption("No gold release yet: working on the unreleased draft. An engineer or lead publishes "
                      "one on the Review page.")
        return None
    options = [r.number for r in reversed(releases)] + [None]
    latest = releases[-1].number

    def label(n):
        if n is None:
            return "the draft (unreleased)"
        return f"release {n} (latest)" if n == latest else f"release {n}"

    # follow the latest release (one published meanwhile too) until the user picks another
    if not st.session_state.get(f"{key}_picked") or st.session_state.get(key, latest) not in options:
        st.session_state[key] = latest
    chosen = where.selectbox("Gold", options, format_func=label, key=key,
                             on_change=lambda: st.session_state.__setitem__(f"{key}_picked", True))
    where.caption(progress.describe())
    return chosen


ALL_CRITERIA = "all criteria"


def criterion_picker(key: str, task, *, where=st, allow_all: bool = True) -> str | None:
    """Which criterion of a task with several a page looks at: one of them, or (with `allow_all`, the
    default choice then) None for all of them at once. A task with one criterion shows no picker (None)."""
    if not task.is_multi:
        return None
    options = ([ALL_CRITERIA] if allow_all else []) + list(task.criterion_names)
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0]
    chosen = where.selectbox("Criterion", options, key=key, format_func=plain)
    return None if chosen == ALL_CRITERIA else chosen
