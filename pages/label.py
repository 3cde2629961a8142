"""Label: an expert answers calibration items one at a time, blind to every other label."""

from __future__ import annotations

import functools

import pandas as pd
import streamlit as st

from labelgate.labeling import AnswerError, QueueItem, queue, submit_answer, submit_item, undo_last_answer
from labelgate.store.items import current_set
from labelgate.store.labels import DuplicateLabelError, NothingToUndoError, NotRoutedError, SlotTakenError
from labelgate.store.tasks import get_task
from labelgate.tasks import Task
from labelgate.ui.criteria_view import criteria_form
from labelgate.ui.label_keys import label_keys
from labelgate.ui.session import current_user, get_db, require_page, still_signed_in
from labelgate.ui.widgets import plain, require_task_names, rubric_markdown, task_picker

user = require_page("label")
db = get_db()
ANSWERED_KEY = "label_answered"  # (task_id, item_id) of this session's latest stored answer
SHOWN_KEY = "label_shown"  # (task_id, item_id, round) of the item on this session's screen, None once answered


def answer(task: Task, item: QueueItem, status: str, value: str | None = None) -> None:
    """Button callback: store the answer before the next item is drawn.

    A continuous value is read from its widget here, at click time: an argument bound when the
    button was drawn would be the value before the expert's last edit.
    """
    if not still_signed_in():
        return  # the account was disabled: nothing is stored, and the page returns to the login
    if st.session_state.get(SHOWN_KEY) != (task.task_id, item.item_id, item.round):
        # a button of an item this page has already left (clicked, or its key pressed, while the next
        # item was being drawn): never an answer to that item; the expert answers the one now shown
        st.session_state["label_notice"] = ("info", "That answer reached the page after you had left item "
                                                    f"{plain(item.item_id)}, so it was not recorded. "
                                                    "Answer the item shown now.")
        return
    if task.kind == "continuous" and status == "label":
        value = st.session_state.get(f"label_value_{item.item_id}")
        if value is None:
            st.session_state["label_notice"] = "Enter a value first."
            return
    comment = st.session_state.get(f"label_comment_{item.item_id}")
    try:
        submit_answer(db, task, user.name, item, status=status, answer=value, comment=comment, take_next=True)
    except DuplicateLabelError:
        # the first answer stands: a second press before the next item appeared, or another tab
        if st.session_state.get(ANSWERED_KEY) == (task.task_id, item.item_id):
            st.session_state["label_notice"] = ("info", f"Already recorded: your answer to item {plain(item.item_id)} "
                                                        "was stored once.")
        else:
            st.session_state["label_notice"] = ("warning", f"Item {plain(item.item_id)} was already answered in "
                                                           "another tab or window; that answer is kept.")
        return
    except NotRoutedError as exc:
        st.session_state["label_notice"] = ("warning", f"{plain(str(exc))} Here is the next item.")
        return
    except SlotTakenError:
        st.session_state["label_notice"] = ("info", f"Item {plain(item.item_id)} got all its experts while it was open "
                                                    "here, so your answer was not needed. Here is the next item.")
        return
    st.session_state[ANSWERED_KEY] = (task.task_id, item.item_id)
    st.session_state[SHOWN_KEY] = None  # left: a second press before the next item is drawn is not an answer


def store_item(task: Task, item: QueueItem, status: str, answers: dict, rationales: dict) -> bool:
    """Callback of a task with several criteria: every answer of the item in one transaction.
    True when the item is done here (stored now, or before), so its draft can go."""
    if not still_signed_in():
        return False
    comment = st.session_state.get(f"label_comment_{item.item_id}")
    try:
        submit_item(db, task, user.name, item, status=status, answers=answers or None,
                    rationales=rationales or None, comment=comment, take_next=True)
    except AnswerError as exc:  # the form checks first; this is what it cannot know (nothing answered at all)
        st.session_state["label_form_notice"] = str(exc)
        return False
    except DuplicateLabelError:
        if st.session_state.get(ANSWERED_KEY) == (task.task_id, item.item_id):
            st.session_state["label_notice"] = ("info", f"Already recorded: your answers to item {plain(item.item_id)} "
                                                        "were stored once.")
        else:
            st.session_state["label_notice"] = ("warning", f"Item {plain(item.item_id)} was already answered in "
                                                           "another tab or window; those answers are kept.")
        return True
    except NotRoutedError as exc:
        st.session_state["label_notice"] = ("warning", f"{plain(str(exc))} Here is the next item.")
        return True
    except SlotTakenError:
        st.session_state["label_notice"] = ("info", f"Item {plain(item.item_id)} got all its experts while it was open "
                                                    "here, so your answers were not needed. Here is the next item.")
        return True
    st.session_state[ANSWERED_KEY] = (task.task_id, item.item_id)
    return True


def undo(task: Task) -> None:
    """Button callback: withdraw the latest answer (kept in the database, superseded)."""
    if not still_signed_in():
        return
    try:
        item_id = undo_last_answer(db, task, user.name)
    except NothingToUndoError:
        st.session_state["label_notice"] = ("info", "There is no answer to undo.")
        return
    st.session_state.pop(ANSWERED_KEY, None)
    st.session_state["label_notice"] = ("info", f"Your answer to item {plain(item_id)} is undone: answer it again.")


def ask_for_keys() -> None:
    st.session_state["label_show_keys"] = True


def shortcut_keys(labels: list[str]) -> list[str | None]:
    """Keys for the label buttons: the labels themselves when each is one free character
    (digits of a 1-5 scale, letters), else positions 1-9 (a label "0" never gets key "1")."""
    reserved = {"c", "r", "s", "f", "t", "u"}  # Streamlit's own, and skip / flag / tie / undo
    if all(len(x) == 1 and x.isalnum() and x.lower() not in reserved for x in labels) and \
            len({x.lower() for x in labels}) == len(labels):
        return list(labels)
    return [str(i + 1) if i < 9 else None for i in range(len(labels))]


def show_fields(task: Task, item: QueueItem) -> None:
    fields = dict(item.fields)
    if item.shown_order is not None:  # some criterion is pairwise: the outputs in this expert's order
        outputs = [fields.pop("output_1", ""), fields.pop("output_2", "")]
        for name, text in fields.items():
            st.caption(plain(name))
            st.text(text, width="stretch")
        first, second = (outputs[0], outputs[1]) if item.shown_order == "12" else (outputs[1], outputs[0])
        left, right = st.columns(2, border=True)
        with left:
            st.markdown("**Output 1**")
            st.text(first, width="stretch")
        with right:
            st.markdown("**Output 2**")
            st.text(second, width="stretch")
    else:
        for name, text in fields.items():
            with st.container(border=True):
                st.caption(plain(name))
                st.text(text, width="stretch")


def answer_options(task: Task) -> list[tuple[str, str, str | None]]:
    """(value, button text, key) of each answer button of a discrete task."""
    if task.kind == "pairwise":
        options = [("1", "Output 1 better", "1"), ("2", "Output 2 better", "2")]
        if "tie" in task.labels:
            options.append(("tie", "Tie", "t"))
        return options
    anchors = task.spec.get("anchors", {})
    return [(label, plain(f"{label} · {anchors[label]}" if label in anchors else label), key)
            for label, key in zip(task.labels, shortcut_keys(task.labels), strict=True)]


MULTI_KEYS = [
    {"key": "1-9, letters", "does": "answer the framed criterion (the key on each button), then go to the next"},
    {"key": "Tab / Shift+Tab", "does": "next / previous criterion"},
    {"key": "Enter", "does": "submit the item once everything required is answered (in a why field: leave it)"},
]


@st.dialog("Keys")
def keys_dialog(task: Task) -> None:
    if task.is_multi:
        rows = list(MULTI_KEYS)
    elif task.kind == "continuous":
        rows = [{"key": "Ctrl+Enter", "does": "save the value typed"}]
    else:
        rows = [{"key": key.upper(), "does": text} for _value, text, key in answer_options(task) if key]
    rows += [{"key": "S", "does": "skip this item"}, {"key": "F", "does": "flag it as ambiguous"},
             {"key": "U", "does": "undo your last answer"},
             {"key": "Esc", "does": "leave a text field (keys type into a field while it has focus)"},
             {"key": "?", "does": "show this list"}]
    st.table(pd.DataFrame(rows).set_index("key"))


def answer_buttons(task: Task, item: QueueItem) -> None:
    key = item.item_id
    if task.kind != "continuous":
        options = answer_options(task)
    else:
        lo, hi = task.spec["range"]
        st.number_input(f"Value ({lo:g} to {hi:g})", min_value=float(lo), max_value=float(hi),
                        value=None, key=f"label_value_{key}")
        st.button("Save value", type="primary", key=f"label_save_{key}", shortcut="Mod+Enter",
                  on_click=answer, args=(task, item, "label"))
        options = []
    for value, text, shortcut in options:
        st.button(text, key=f"label_{value}_{key}", type="primary", width="stretch",
                  shortcut=shortcut, on_click=answer, args=(task, item, "label", value))
    st.text_input("Comment (optional)", key=f"label_comment_{key}", placeholder="Why, or what is unclear")
    skip, flag = st.columns(2)
    skip.button("Skip", key=f"label_skip_{key}", shortcut="s", width="stretch",
                on_click=answer, args=(task, item, "skip"))
    flag.button("Ambiguous", key=f"label_flag_{key}", shortcut="f", width="stretch",
                on_click=answer, args=(task, item, "flag"))


def undo_and_keys_buttons(task: Task, can_undo: bool) -> None:
    left, right = st.columns(2)
    left.button("Undo", key="label_undo", help="Undo your last answer", shortcut="u", width="stretch",
                disabled=not can_undo, on_click=undo, args=(task,))
    right.button("All keys (?)", key="label_keys_help", width="stretch", on_click=ask_for_keys)


@st.cache_data(ttl=5, max_entries=8, show_spinner=False)
def cached_task(name: str) -> Task:
    """Short-lived: a rubric edited on the Data page reaches experts within seconds."""
    return get_task(db, name)


@st.cache_data(ttl=5, max_entries=8, show_spinner=False)
def calibration_set_size(task_id: int) -> int:
    return len(current_set(db, task_id, "calibration"))


def active_keys(task: Task, state) -> list[str]:
    """The shortcut keys that answer (or undo) on the page as drawn now, lower case (label_keys holds
    the others back after one of them until the next item is drawn)."""
    keys = ["u"] if state.can_undo else []
    if state.item is not None:
        keys += ["s", "f"] + (["mod+enter"] if task.kind == "continuous" else
                              [key.lower() for _v, _t, key in answer_options(task) if key])
    return keys


@st.fragment(key="label_loop")  # criteria_view reruns it by this key once an item is submitted
def labeling_loop(task_name: str) -> None:
    if current_user() is None:
        st.rerun(scope="app")
    task = cached_task(task_name)
    state = queue(db, task, user.name)
    item = state.item
    multi = task.is_multi and item is not None  # several criteria: the form mounts the key helper itself
    st.session_state[SHOWN_KEY] = (task.task_id, item.item_id, item.round) if item is not None else None
    if not multi:
        label_keys(item.item_id if item else None, on_keys=ask_for_keys, keys=active_keys(task, state))
        if st.session_state.pop("label_show_keys", False):
            keys_dialog(task)
    main, side = st.columns([1.6, 1.4] if multi else [3, 1.3], gap="large")
    with side, st.container(key="label_answers"):
        kind, text = st.session_state.pop("label_notice", (None, None))
        if kind:
            getattr(st, kind)(text)  # beside the buttons, where the expert is looking
        if multi:
            criteria_form(task, item, store_item, ask_for_keys, keys_dialog,
                          refresh=functools.partial(cached_task, task_name))
        elif item is not None:
            answer_buttons(task, item)
        undo_and_keys_buttons(task, state.can_undo)
        with st.expander("Rubric", expanded=not task.is_multi):  # each criterion shows its own question
            st.markdown(rubric_markdown(task.rubric) or "_No rubric._")
    with main:
        if item is None:
            if calibration_set_size(task.task_id) == 0:
                st.info("This task has no calibration set yet: an engineer draws one on the Data page.")
            elif state.held_back:
                domains = ", ".join(state.held_back_domains)
                why = ("each goes only to experts tagged with its domain" if not state.others_may_label else
                       "experts tagged with those domains are still free to take them")
                st.info(plain(f"Nothing for you in this task now: {state.held_back} item"
                              f"{'s are' if state.held_back != 1 else ' is'} routed by expertise ({domains}), and "
                              f"{why}. An admin (Users page) or a lead (Data page) sets your expertise tags."))
            else:
                st.success("You have answered every item assigned to you in this task. Thank you!")
            return
        st.progress(item.done / max(item.total, 1), text=f"Item {item.done + 1} of {item.total}")
        st.caption(f"Item id: {plain(item.item_id)}")
        show_fields(task, item)


st.title("Label")
names = require_task_names()
chosen = task_picker("label_task") if len(names) > 1 else names[0]
st.caption("You see no model's or colleague's label. Keys: the letter or digit on each button; "
           "? lists them all; Esc leaves a text field.")
labeling_loop(chosen)
