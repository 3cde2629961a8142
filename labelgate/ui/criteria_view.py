"""The Label page's answer column for a task with several criteria: every criterion of the item in
one view, keyboard-first.

The keys answer the focused criterion (the one framed) and move the focus to the next; Tab and
Shift+Tab move it; a required "why" opens a text field under its criterion and takes the caret
(typing there never answers anything; Esc or Enter leaves it); a criterion with ``show_if`` appears
only while its trigger has the named answer; Enter submits the item once nothing required is
missing, and a hint names what is. The draft lives in session state per item and nothing is
stored until the item is submitted, in one transaction (labelgate.labeling.submit_item).

In the browser the draft is held by the key helper (labelgate/ui/label_keys.py): a key, a click on
a criterion's button, Tab and Shift+Tab answer and move the frame there at once, and the draft comes
back here as the helper's state (`from_browser`, taken when its sequence number is newer), which
reruns only this column, in the background. The buttons and their callbacks below do the same on the
server (AppTest, and a browser without the helper). The column is a fragment of its own inside the
page's labeling loop; submitting reruns the loop for the next item.
The rules (what is shown, where the focus goes, what is missing) are in labelgate.ui.label_form.
"""

from __future__ import annotations

import functools
import re
import uuid

import streamlit as st

from labelgate.ui import label_form as lf
from labelgate.ui.label_keys import browser_draft, label_keys
from labelgate.ui.widgets import plain

LOOP_FRAGMENT = "label_loop"   # the page's labeling loop (pages/label.py): rerun for the next item
FORM_NOTICE = "label_form_notice"
FOCUS_MARK = "label_focus_mark"  # inside the focused criterion's box
SHOW_KEYS = "label_show_keys"    # set by the page's "?" callback


def _draft_key(item) -> str:
    return f"label_draft_{item.item_id}"


def _focus_key(item) -> str:
    return f"label_focus_{item.item_id}"


def _visit_key(item) -> str:
    return f"label_visit_{item.item_id}"


def _seq_key(item) -> str:
    return f"label_seq_{item.item_id}"


def why_key(i: int, item) -> str:
    return f"label_why_{i}_{item.item_id}"


def value_key(i: int, item) -> str:
    return f"label_num_{i}_{item.item_id}"


def button_key(i: int, value: str, item) -> str:
    return f"label_c{i}_{value}_{item.item_id}"


def css_class(key: str) -> str:
    """The class Streamlit gives an element with this key (st-key- and the key, other characters as -)."""
    return "st-key-" + re.sub(r"[^a-zA-Z0-9_-]", "-", key.strip())


def draft(item) -> dict[str, str]:
    return dict(st.session_state.get(_draft_key(item), {}))


def rationales(task, item) -> dict[str, str]:
    return {c.name: st.session_state.get(why_key(i, item)) or "" for i, c in enumerate(task.criteria)}


def focus(task, item) -> str:
    answers = draft(item)
    names = [c.name for c in lf.shown_criteria(task.criteria, answers)]
    current = st.session_state.get(_focus_key(item))
    return current if current in names else lf.first_focus(task.criteria, answers)


def forget(task, item) -> None:
    """Drop the item's draft (after it is stored, skipped or flagged)."""
    for key in (_draft_key(item), _focus_key(item), _visit_key(item), _seq_key(item)):
        st.session_state.pop(key, None)
    for i in range(len(task.criteria)):
        st.session_state.pop(why_key(i, item), None)
        st.session_state.pop(value_key(i, item), None)


def from_browser(task, item) -> None:
    """Take the draft the browser sent, when it is of this item's visit (an item undone and shown
    again is a new visit) and newer than the last one taken. Its answers are checked like clicks:
    a known criterion, one of its buttons, shown; a number typed stays the server's."""
    got = browser_draft()
    visit = st.session_state.get(_visit_key(item))
    if got is None or visit is None or got.get("item") != item.item_id or got.get("visit") != visit:
        return
    seq = got.get("seq")
    if not isinstance(seq, int) or seq <= st.session_state.get(_seq_key(item), 0):
        return
    st.session_state[_seq_key(item)] = seq
    raw = got.get("answers") if isinstance(got.get("answers"), dict) else {}
    before = draft(item)
    answers = {}
    for c in task.criteria:
        if c.kind == "continuous":
            if c.name in before:
                answers[c.name] = before[c.name]
            continue
        allowed = {lf.canonical_value(c, shown, item.shown_order) for shown, _t, _k in lf.answer_options(c)}
        if raw.get(c.name) in allowed:
            answers[c.name] = raw[c.name]
    shown = {c.name for c in lf.shown_criteria(task.criteria, answers)}
    st.session_state[_draft_key(item)] = {k: v for k, v in answers.items() if k in shown}
    if got.get("focus") in shown:
        st.session_state[_focus_key(item)] = got["focus"]


def _criteria_spec(task) -> list[dict]:
    """The task's criteria as the browser's draft needs them (the rules of label_form)."""
    out = []
    for c in task.criteria:
        show_if = None
        if c.show_if:
            wanted = c.show_if["in"] if "in" in c.show_if else [c.show_if["equals"]]
            show_if = {"criterion": c.show_if["criterion"], "in": [str(v) for v in wanted]}
        options = [] if c.kind == "continuous" else [[shown, key] for shown, _t, key in lf.answer_options(c)]
        out.append({"name": c.name, "kind": c.kind, "required": bool(c.required), "rationale": c.rationale,
                    "show_if": show_if, "options": options})
    return out


def browser_form(task, item, answers: dict, focused: str, why: dict) -> dict:
    """What the key helper needs to hold the item's draft in the browser."""
    visit = st.session_state.setdefault(_visit_key(item), uuid.uuid4().hex)
    return {"item": item.item_id, "visit": visit, "seq": st.session_state.get(_seq_key(item), 0),
            "order": item.shown_order or "12", "answers": answers, "focus": focused,
            "why": [name for name, text in why.items() if (text or "").strip()], "criteria": _criteria_spec(task)}


def _set(task, item, name: str, value: str | None) -> None:
    answers = lf.with_answer(task.criteria, draft(item), name, value)
    st.session_state[_draft_key(item)] = answers
    st.session_state[_focus_key(item)] = lf.focus_after_answer(task.criteria, answers, rationales(task, item), name)


def press(task, item, name: str, shown: str) -> None:
    """A criterion's button clicked: answer that criterion."""
    from_browser(task, item)
    criterion = task.criteria[task.criterion_names.index(name)]
    _set(task, item, name, lf.canonical_value(criterion, shown, item.shown_order))


def press_key(task, item, key: str) -> None:
    """A key pressed: it answers the criterion focused *now* (a second key pressed before the
    page redrew answers the next criterion, not the previous one again); a key the focused
    criterion does not use does nothing."""
    from_browser(task, item)
    name = focus(task, item)
    criterion = task.criteria[task.criterion_names.index(name)]
    for shown, _text, k in lf.answer_options(criterion):
        if k == key:
            _set(task, item, name, lf.canonical_value(criterion, shown, item.shown_order))
            return


def answer_keys(task) -> list[str]:
    """Every key that answers some criterion of the task, in order of first use."""
    keys: dict[str, None] = {}
    for c in task.criteria:
        if c.kind != "continuous":
            keys.update((k, None) for _shown, _text, k in lf.answer_options(c) if k)
    return list(keys)


def typed_value(task, item, i: int) -> None:
    """A continuous criterion's number committed (Enter or leaving the field)."""
    from_browser(task, item)
    value = st.session_state.get(value_key(i, item))
    _set(task, item, task.criteria[i].name, None if value is None else repr(float(value)))


def wrote_why(task, item, i: int) -> None:
    """A rationale committed: once the required one is written, the keys move on."""
    from_browser(task, item)
    name = task.criteria[i].name
    if name in draft(item) and st.session_state.get(_focus_key(item)) == name:
        st.session_state[_focus_key(item)] = lf.focus_after_answer(task.criteria, draft(item),
                                                                   rationales(task, item), name)


def move(task, item, step: int) -> None:
    from_browser(task, item)
    st.session_state[_focus_key(item)] = lf.moved_focus(task.criteria, draft(item), focus(task, item), step)


def submit(task, item, store) -> None:
    """Enter: store every answer of the item at once, or say what is missing and go there."""
    from_browser(task, item)
    answers, why = draft(item), rationales(task, item)
    missing = lf.missing(task.criteria, answers, why)
    if missing:
        st.session_state[FORM_NOTICE] = "Still to answer: " + ", ".join(missing) + "."
        first = missing[0].removeprefix("why for ")
        st.session_state[_focus_key(item)] = first
        return
    values, kept_why = lf.submission(task.criteria, answers, why)
    if not values:  # every criterion optional, none answered
        st.session_state[FORM_NOTICE] = "Answer at least one criterion, or skip the item (S)."
        return
    # the store takes pairwise answers as shown (it maps them with the item's order itself)
    by_name = dict(zip(task.criterion_names, task.criteria, strict=True))
    values = {k: lf.shown_value(by_name[k], v, item.shown_order) for k, v in values.items()}
    if store(task, item, "label", values, kept_why):
        forget(task, item)
    st.rerun(LOOP_FRAGMENT)


def skip_or_flag(task, item, status: str, store) -> None:
    if store(task, item, status, {}, {}):
        forget(task, item)
    st.rerun(LOOP_FRAGMENT)


def _caret(task, item, focused: str, answers: dict, why: dict) -> str:
    """The field that should hold the caret: the focused criterion's required rationale still to be
    written, or its number field; else none (keys answer)."""
    i = task.criterion_names.index(focused)
    c = task.criteria[i]
    if lf.needs_rationale(c, answers, why):
        return f".{css_class(why_key(i, item))} input"
    if c.kind == "continuous" and focused not in answers:
        return f".{css_class(value_key(i, item))} input"
    return ""


def _criterion(task, item, i: int, c, focused: bool, answers: dict) -> None:
    chosen = lf.shown_value(c, answers.get(c.name), item.shown_order)
    # the same key whether focused or not (a key change would redraw the whole box): the frame is
    # drawn by the key helper's style sheet on this key's class (label_keys); the mark at its end
    # tells screen readers
    with st.container(border=True, gap="xsmall", key=f"label_crit_{i}"):
        head = f"**{plain(c.name)}**"
        if not c.required:
            head += " (optional)"
        if c.rubric:
            head += f" · {plain(c.rubric)}"
        st.markdown(head)
        if c.kind == "continuous":
            lo, hi = c.spec["range"]
            st.number_input(f"Value ({lo:g} to {hi:g})", min_value=float(lo), max_value=float(hi), value=None,
                            key=value_key(i, item), on_change=typed_value, args=(task, item, i))
        else:
            # the buttons, and the words at the scale's ends beside them (one row: six criteria fit
            # a 900 px window beside the item)
            row = st.container(horizontal=True, gap="small", vertical_alignment="center")
            for shown, text, key in lf.answer_options(c):
                label = text if key is None or key == text else f"{key.upper()} · {text}"
                row.button(plain(label), key=button_key(i, shown, item),
                           type="primary" if shown == chosen else "secondary", on_click=press,
                           args=(task, item, c.name, shown))
            anchors = c.spec.get("anchors", {}) if c.kind == "ordinal" else {}
            if anchors:
                points = sorted(anchors.items(), key=lambda kv: int(kv[0]))
                row.caption(" · ".join(f"{plain(k)} = {plain(v)}" for k, v in points))
        if c.rationale != "off" and c.name in answers:
            label = "Why (required)" if c.rationale == "required" else "Why (optional)"
            st.text_input(label, key=why_key(i, item), placeholder="Esc or Enter leaves the field",
                          on_change=wrote_why, args=(task, item, i))
        if focused:
            with st.container(key=FOCUS_MARK):  # read out to screen readers, not shown
                st.markdown("The keys answer this criterion.")


@st.fragment(key="label_form")
def criteria_form(task, item, store, on_keys, keys_dialog, refresh=None) -> None:
    """Every criterion of `item`, then Submit / Skip / Ambiguous and the comment.

    `store(task, item, status, answers, rationales) -> bool` writes the item (True when it is
    stored or already was, so the draft can go); "?" calls `on_keys`, which asks for
    `keys_dialog(task)` (the list of keys) at this fragment's next run. `refresh()`, if given, is
    called at the end of every run: the page's short-lived cache of the task is renewed in a key's
    background run, when it is due, instead of in the run of Enter that the expert waits for.
    """
    from_browser(task, item)
    answers, why = draft(item), rationales(task, item)
    focused = focus(task, item)
    shown = lf.shown_criteria(task.criteria, answers)
    missing = lf.missing(task.criteria, answers, why)
    label_keys(item.item_id, on_keys=on_keys, caret=_caret(task, item, focused, answers, why), focus=focused,
               to_submit=not missing or focused == shown[-1].name,
               form=browser_form(task, item, answers, focused, why),
               on_draft=functools.partial(from_browser, task, item))
    if st.session_state.pop(SHOW_KEYS, False):
        keys_dialog(task)
    notice = st.session_state.pop(FORM_NOTICE, None)
    if notice:
        st.warning(plain(notice))
    for c in shown:
        i = task.criterion_names.index(c.name)
        _criterion(task, item, i, c, c.name == focused, answers)
    st.caption("Still to answer: " + ", ".join(plain(m) for m in missing) if missing
               else "Everything required is answered: Enter submits.")
    # The buttons with keys keep the same widget key for every item and every focus, so a key is
    # bound to the same button all along: a key pressed just after a redraw (before the browser
    # rebinds) still reaches the right callback, which reads the focus and the item when it runs.
    row = st.container(horizontal=True, gap="small")
    row.button("Submit", key="label_submit", type="primary", width="stretch",
               shortcut="Enter", on_click=submit, args=(task, item, store))
    row.button("Back", key="label_prev", help="Previous criterion",
               shortcut="Shift+Tab", on_click=move, args=(task, item, -1))
    row.button("Next", key="label_next", help="Next criterion",
               shortcut="Tab", on_click=move, args=(task, item, 1))
    st.text_input("Comment (optional)", key=f"label_comment_{item.item_id}", placeholder="Why, or what is unclear")
    skip, flag = st.columns(2)
    skip.button("Skip", key="label_skip", shortcut="s", width="stretch",
                on_click=skip_or_flag, args=(task, item, "skip", store))
    flag.button("Ambiguous", key="label_flag", shortcut="f", width="stretch",
                on_click=skip_or_flag, args=(task, item, "flag", store))
    with st.container(key="label_key_buttons"):  # hidden (label_keys' CSS): the answer keys
        for key in answer_keys(task):
            st.button(key, key=f"label_key_{key}", shortcut=key, on_click=press_key, args=(task, item, key))
    if refresh is not None:
        refresh()
