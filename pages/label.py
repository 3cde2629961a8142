"""Label: an expert answers calibration items one at a time, blind to every other label."""

from __future__ import annotations

import streamlit as st

from labelgate.labeling import QueueItem, next_item, submit_answer
from labelgate.store.items import current_set
from labelgate.store.labels import DuplicateLabelError
from labelgate.store.tasks import get_task
from labelgate.tasks import Task
from labelgate.ui.session import current_user, get_db, require_page, still_signed_in
from labelgate.ui.widgets import require_task_names, task_picker

user = require_page("label")
db = get_db()


def answer(task: Task, item: QueueItem, status: str, value: str | None = None) -> None:
    """Button callback: store the answer before the next item is drawn.

    A continuous value is read from its widget here, at click time: an argument bound when the
    button was drawn would be the value before the expert's last edit.
    """
    if not still_signed_in():
        return  # the account was disabled: nothing is stored, and the page returns to the login
    if task.kind == "continuous" and status == "label":
        value = st.session_state.get(f"label_value_{item.item_id}")
        if value is None:
            st.session_state["label_notice"] = "Enter a value first."
            return
    comment = st.session_state.get(f"label_comment_{item.item_id}")
    try:
        submit_answer(db, task, user.name, item, status=status, answer=value, comment=comment)
    except DuplicateLabelError:
        # a double press, or the same item answered in another tab: the first answer stands
        st.session_state["label_notice"] = (f"Item {item.item_id} was already answered (in another tab?); "
                                            "your first answer is kept.")


def shortcut_keys(labels: list[str]) -> list[str | None]:
    """Keys for the label buttons: the labels themselves when each is one free character
    (digits of a 1-5 scale, letters), else positions 1-9 (a label "0" never gets key "1")."""
    reserved = {"c", "r", "s", "f", "t"}  # Streamlit's own, and skip / flag / tie
    if all(len(x) == 1 and x.isalnum() and x.lower() not in reserved for x in labels) and \
            len({x.lower() for x in labels}) == len(labels):
        return list(labels)
    return [str(i + 1) if i < 9 else None for i in range(len(labels))]


def show_fields(task: Task, item: QueueItem) -> None:
    fields = dict(item.fields)
    if task.kind == "pairwise":
        outputs = [fields.pop("output_1", ""), fields.pop("output_2", "")]
        for name, text in fields.items():
            st.caption(name)
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
                st.caption(name)
                st.text(text, width="stretch")


def answer_buttons(task: Task, item: QueueItem) -> None:
    key = item.item_id
    if task.kind == "pairwise":
        options = [("1", "Output 1 better", "1"), ("2", "Output 2 better", "2")]
        if "tie" in task.labels:
            options.append(("tie", "Tie", "t"))
    elif task.kind in ("categorical", "ordinal"):
        anchors = task.spec.get("anchors", {})
        options = [(label, f"{label} · {anchors[label]}" if label in anchors else label, key)
                   for label, key in zip(task.labels, shortcut_keys(task.labels), strict=True)]
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


@st.cache_data(ttl=5, max_entries=8, show_spinner=False)
def cached_task(name: str) -> Task:
    """Short-lived: a rubric edited on the Data page reaches experts within seconds."""
    return get_task(db, name)


@st.cache_data(ttl=5, max_entries=8, show_spinner=False)
def calibration_set_size(task_id: int) -> int:
    return len(current_set(db, task_id, "calibration"))


@st.fragment
def labeling_loop(task_name: str) -> None:
    if current_user() is None:
        st.rerun(scope="app")
    task = cached_task(task_name)
    item = next_item(db, task, user.name)
    notice = st.session_state.pop("label_notice", None)
    if notice:
        st.warning(notice)
    main, side = st.columns([3, 1.3], gap="large")
    if item is None:
        with main:
            if calibration_set_size(task.task_id) == 0:
                st.info("This task has no calibration set yet: an engineer draws one on the Data page.")
            else:
                st.success("You have answered every item assigned to you in this task. Thank you!")
        with side:
            st.markdown(task.rubric or "_No rubric._")
        return
    with main:
        st.progress(item.done / max(item.total, 1), text=f"Item {item.done + 1} of {item.total}")
        st.caption(f"Item id: {item.item_id}")
        show_fields(task, item)
    with side:
        answer_buttons(task, item)
        with st.expander("Rubric", expanded=True):
            st.markdown(task.rubric or "_No rubric._")


st.title("Label")
names = require_task_names()
chosen = task_picker("label_task") if len(names) > 1 else names[0]
st.caption("You see no model's or colleague's label. Keys: the letter or digit on each button.")
labeling_loop(chosen)
