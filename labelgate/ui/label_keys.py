"""The Label page's keyboard and scrolling, which Streamlit's widgets do not cover.

Streamlit's own button shortcuts already ignore a plain key pressed in a text field, so a key
typed into the comment box is text, never an answer. This component adds what is missing: Escape
leaves a text field (so the next key answers again), "?" asks for the list of keys, a task just
picked gives the keys back to its item (Streamlit leaves the caret in the picker), each new item
starts at the top of the page, and the answer column stays in view beside a long item.
For a task with several criteria (labelgate/ui/criteria_view.py) it also puts the caret into the
field the focused criterion needs (a required "why", a number) and lets Enter leave such a field
once Streamlit has taken its value, so that the next Enter submits the item.

On a task with one answer per item it also keeps a key from answering an item the expert has
already left. After an answer key the page reruns to draw the next item; until that run has
finished, the previous item's buttons are still on the page (and for a moment both items' buttons
listen for the same key), so a second key pressed meanwhile reached the previous item (told
"already recorded") or the next one before it was drawn, or was lost. Now an answer key pressed
while the page is still drawing the next item is dropped in the browser, before Streamlit sees it,
with a hint that says so; the expert answers the next item once it is shown. Replaying the key on
the next item instead would store an answer to an item nobody has read (a double-tap would answer
two items). Keys answer again once the answer's run has sent this component its new data *and*
the run has finished (the app's script state is back to not running), so every button of the next
item is on the page.

It runs in the page (components v2, no iframe) only while the Label page is open.
"""

from __future__ import annotations

import uuid

import streamlit as st

# Module state, because Streamlit calls the function again on every new item without the
# previous call's cleanup: one keydown listener for as long as the component is mounted.
_JS = """
let state = null;
const TASK_PICKER = ".st-key-label_task";
const LEAVE_ON_ENTER = '[class*="st-key-label_why_"], [class*="st-key-label_num_"]';

function placeCaret(selector, tries) {
  if (state === null || state.caret !== selector) return;
  const el = document.querySelector(selector);
  if (el) {
    if (document.activeElement !== el) el.focus();
  } else if (tries > 0) {
    setTimeout(() => placeCaret(selector, tries - 1), 25);  // the field is drawn after this component
  }
}

function inField(el) {
  if (!el || !el.tagName) return false;
  return el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName);
}

function scroller(el) {
  for (let node = el; node; node = node.parentElement) {
    const style = getComputedStyle(node);
    if (/(auto|scroll)/.test(style.overflowY) && node.scrollHeight > node.clientHeight) return node;
  }
  return document.scrollingElement;
}

function toTop(el) {
  // every scrolling box around the helper: the page, and the answer column when it scrolls itself
  let node = scroller(el);
  node.scrollTo({ top: 0 });
  while (node !== document.scrollingElement && node.parentElement) {
    node = scroller(node.parentElement);
    node.scrollTo({ top: 0 });
  }
}

function reveal(name, tries) {
  // the focused criterion into view inside the answer column, once it is drawn; on the last one
  // (or with nothing missing) the Submit button below it too
  if (state === null || state.focus !== name) return;
  const mark = document.querySelector(".st-key-label_focus_mark");
  const el = mark && mark.closest('[class*="st-key-label_crit_"]');
  if (el && el.innerText.startsWith(name)) {
    el.scrollIntoView({ block: "nearest" });
    const submit = document.querySelector(".st-key-label_submit");
    if (state.toSubmit && submit) submit.scrollIntoView({ block: "nearest" });
  } else if (tries > 0) setTimeout(() => reveal(name, tries - 1), 25);
}

// The key as the answer buttons' shortcuts name it, if it is one of them now (else null).
function answerKey(event) {
  if (event.altKey) return null;
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    return state.keys.has("mod+enter") ? "mod+enter" : null;
  }
  if (event.ctrlKey || event.metaKey || event.key.length !== 1 || inField(event.target)) return null;
  const key = event.key.toLowerCase();
  return state.keys.has(key) ? key : null;
}

function appIdle() {
  const app = document.querySelector('[data-testid="stApp"]');
  const script = app && app.getAttribute("data-test-script-state");
  return !script || script === "notRunning";
}

// The answer's run has drawn the page again and finished: keys answer the item now shown.
function settle() {
  if (state && state.pending && state.drawn && appIdle()) state.pending = false;
}

// Streamlit leaves the caret in the task picker after a task is picked, where a key would search the
// picker's options: once the task's item is shown, the keys answer it instead.
function leavePicker() {
  const el = document.activeElement;
  if (el && el.closest && el.closest(TASK_PICKER)) el.blur();
}

function hint(key) {
  const el = state.hint;
  el.textContent = "Key " + (key === "mod+enter" ? "Ctrl+Enter" : key.toUpperCase()) +
    " was not recorded: the next item was still loading. Answer it once it is shown.";
  el.hidden = false;
  clearTimeout(state.hideHint);
  state.hideHint = setTimeout(() => { el.hidden = true; }, 5000);
}

export default function ({ data, parentElement, setTriggerValue }) {
  const host = parentElement.host || parentElement;
  if (state === null) {
    state = { item: null, caret: "", focus: "", toSubmit: false, trigger: setTriggerValue,
              run: null, pending: false, drawn: true, keys: new Set() };
    state.onKey = (event) => {
      const target = event.target;
      const key = answerKey(event);
      if (key !== null && !event.repeat) {
        if (state.pending) {
          event.preventDefault();
          event.stopImmediatePropagation();  // in the capture phase: Streamlit's shortcut never sees it
          hint(key);
          return;
        }
        state.pending = true;   // this key answers the item on screen; the next waits for the next run
        state.drawn = false;
      } else if (key !== null) {
        event.preventDefault();   // a held-down key repeats: never a second answer
        event.stopImmediatePropagation();
      } else if (event.key === "Escape" && inField(target)) {
        target.blur();  // the field keeps what was typed; keys answer again
      } else if (event.key === "Enter" && inField(target) && target.closest(LEAVE_ON_ENTER)) {
        setTimeout(() => target.blur(), 0);  // after Streamlit's own Enter handler took the value
      } else if (event.key === "?" && !inField(target) && !event.ctrlKey && !event.metaKey && !event.altKey) {
        event.preventDefault();
        state.trigger("keys", true);
      }
    };
    document.addEventListener("keydown", state.onKey, true);
    state.observer = new MutationObserver(settle);
    const app = document.querySelector('[data-testid="stApp"]');
    if (app) state.observer.observe(app, { attributes: true, attributeFilter: ["data-test-script-state"] });
    state.hint = document.createElement("div");
    state.hint.className = "labelgate-key-hint";
    state.hint.setAttribute("role", "status");
    state.hint.hidden = true;
    document.body.appendChild(state.hint);
  }
  state.trigger = setTriggerValue;
  state.keys = new Set(data.keys || []);
  if (data.run !== state.run) {
    state.run = data.run;
    state.drawn = true;
    settle();
  }
  if (data.item !== state.item) {
    if (state.item !== null) toTop(host);
    state.item = data.item;
    leavePicker();
  }
  const focus = data.focus || "";
  const toSubmit = !!data.to_submit;
  if (focus !== state.focus || toSubmit !== state.toSubmit) {
    state.focus = focus;
    state.toSubmit = toSubmit;
    if (focus) reveal(focus, 40);
  }
  const caret = data.caret || "";
  if (caret !== state.caret) {
    state.caret = caret;
    if (caret) placeCaret(caret, 80);
  }
  return () => {
    if (state !== null) {
      document.removeEventListener("keydown", state.onKey, true);
      state.observer.disconnect();
      state.hint.remove();
    }
    state = null;
  };
}
"""

# The answer column sticks below the app's header and scrolls on its own when taller than
# the window; `label_answers` is the key of the container that holds the answer buttons. Its
# height leaves room for the header and the page's bottom padding: a taller column would be
# pushed up out of view at the end of the page.
_CSS = """
[data-testid="stColumn"]:has(.st-key-label_answers) {
  position: sticky;
  top: 4rem;
  align-self: flex-start;
  max-height: calc(100vh - 11rem);
  overflow-y: auto;
  overflow-anchor: none;  /* a notice shown at its top must not scroll the buttons out of view */
}
/* several criteria: the buttons that carry the answer keys are not shown (criteria_view) */
.st-key-label_key_buttons {
  display: none;
}
/* several criteria: compact boxes, so that six fit beside the item */
[class*="st-key-label_crit_"] {
  padding: 0.5rem 0.75rem;
}
/* the criterion that the keys answer, on a task with several criteria (its box holds the mark) */
[class*="st-key-label_crit_"]:has(.st-key-label_focus_mark) {
  outline: 2px solid rgb(255, 75, 75);
  outline-offset: -1px;
}
[data-testid="stLayoutWrapper"]:has(> .st-key-label_focus_mark), .st-key-label_focus_mark {
  position: absolute;
  width: 1px;
  height: 1px;
  overflow: hidden;
  clip-path: inset(50%);
}
.labelgate-key-hint {
  position: fixed;
  bottom: 1.5rem;
  left: 50%;
  transform: translateX(-50%);
  z-index: 1000100;
  max-width: 36rem;
  padding: 0.75rem 1rem;
  border-radius: 0.5rem;
  background: #fff8e1;
  color: #5f4100;
  border: 1px solid #f0c36d;
  box-shadow: 0 2px 8px rgba(0, 0, 0, 0.15);
  font-size: 0.95rem;
}
.labelgate-key-hint[hidden] { display: none; }
"""

_component = st.components.v2.component("labelgate_label_keys", js=_JS, css=_CSS, isolate_styles=False)


def label_keys(item_id: str | None, *, on_keys, keys: list[str] | None = None, caret: str = "", focus: str = "",
               to_submit: bool = False) -> None:
    """Mount the keyboard helper for the item on screen; `on_keys` is called when "?" is pressed.

    One answer per item: `keys` are the shortcuts that answer (or undo) it now, lower case
    ("mod+enter" for Ctrl+Enter); after one of them the others are held back until the next run
    has drawn the page. Several criteria: `focus` is the name of the focused criterion (scrolled
    into view when it changes, with the Submit button when `to_submit`), `caret` a CSS selector of
    the field to put the caret in (once per new selector).
    """
    run = uuid.uuid4().hex  # new on every run, also in a new session after a restart
    _component(key="label_keys", data={"item": item_id or "", "keys": keys or [], "run": run, "caret": caret,
                                       "focus": focus, "to_submit": to_submit}, on_keys_change=on_keys)
