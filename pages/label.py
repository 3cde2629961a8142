"""Label: an expert answers calibration items one at a time, blind to every other label."""

from __future__ import annotations

import streamlit as st

from labelgate.labeling import QueueItem, next_item, submit_answer
from labelgate.store.labels import DuplicateLabelError
from labelgate.store.tasks import get_task, list_tasks
from labelgate.tasks import Task
from labelgate.ui.session import get_db, require_page

user = require_page("label")
db = get_db()


@st.cache_data(ttl=30, max_entries=8, show_spinner=False)
def task_names() -> list[str]:
    return [t.name for t in list_tasks(db)]


def answer(task: Task, item: QueueItem, status: str, value: str | None = None) -> None:
    """Button callback: store the answer before the next item is drawn."""
    comment = st.session_state.get(f"label_comment_{item.item_id}")
    try:
        submit_answer(db, task, user.name, item, status=status, answer=value, comment=comment)
    except DuplicateLabelError:
        pass  # a second press on the same item's button: the first one was stored
    st.session_state["label_last"] = (item.item_id, status, value)


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
        labels = task.labels
        anchors = task.spec.get("anchors", {})
        options = []
        for i, label in enumerate(labels):
            shortcut = (label if task.kind == "ordinal" and len(label) == 1 and label.isdigit()
                        else str(i + 1) if i < 9 else None)
            text = f"{label} · {anchors[label]}" if label in anchors else label
            options.append((label, text, shortcut))
    else:
        lo, hi = task.spec["range"]
        st.number_input(f"Value ({lo:g} to {hi:g})", min_value=float(lo), max_value=float(hi),
                        value=None, key=f"label_value_{key}")
        value = st.session_state.get(f"label_value_{key}")
        st.button("Save value", type="primary", key=f"label_save_{key}", shortcut="Mod+Enter",
                  disabled=value is None, on_click=answer, args=(task, item, "label", value))
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


@st.cache_data(ttl=30, max_entries=8, show_spinner=False)
def cached_task(name: str) -> Task:
    return get_task(db, name)


@st.fragment
def labeling_loop(task_name: str) -> None:
    task = cached_task(task_name)
    item = next_item(db, task, user.name)
    main, side = st.columns([3, 1.3], gap="large")
    if item is None:
        with main:
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
names = task_names()
if not names:
    st.info("There are no tasks yet. An engineer creates them on the Data page.")
    st.stop()
chosen = st.selectbox("Task", names, key="label_task") if len(names) > 1 else names[0]
st.caption("You see no model's or colleague's label. Keys: the letter or digit on each button.")
labeling_loop(chosen)
