"""The Label page's keyboard and scrolling, which Streamlit's widgets do not cover.

Streamlit's own button shortcuts already ignore a plain key pressed in a text field, so a key
typed into the comment box is text, never an answer. This component adds what is missing: Escape
leaves a text field (so the next key answers again), "?" asks for the list of keys, a task just
picked gives the keys back to its item (Streamlit leaves the caret in the picker), each new item
starts at the top of the page, and the answer column stays in view beside a long item.
For a task with several criteria (labelgate/ui/criteria_view.py) it also puts the caret into the
field the focused criterion needs (a required "why", a number) and lets Enter leave such a field
once Streamlit has taken its value, so that the next Enter submits the item.

On such a task the item's draft lives here, in the browser, while the item is on screen: an answer
key, a click on a criterion's button, Tab and Shift+Tab change the draft and move the red frame at
once, with the same rules as labelgate/ui/label_form.py (show_if, a required "why" keeps the
frame), and the whole draft goes to the server as this component's state. That state change reruns
the criteria column in the background (criteria_view.from_browser takes the draft when its sequence
number is newer); nobody waits for it: the next key answers the next criterion from the draft here.
A server run that drew an older draft is painted over (a generated style sheet: the frame, and the
chosen button of each criterion whose draft differs from what the server drew) until the server
has caught up. Enter, S, F and U still go to Streamlit (storing needs the server); answer keys
pressed after Enter, until the next item is drawn, are dropped with the same hint.

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
  const at = state.form ? state.form.criteria.findIndex((c) => c.name === name) : -1;
  const el = at >= 0 ? document.querySelector(`.st-key-label_crit_${at}`) : null;
  if (el) {
    el.scrollIntoView({ block: "nearest" });
    const submit = document.querySelector(".st-key-label_submit");
    if (state.toSubmit && submit) submit.scrollIntoView({ block: "nearest" });
  } else if (tries > 0) setTimeout(() => reveal(name, tries - 1), 25);
}

// ---- several criteria: the draft in the browser (the rules of labelgate/ui/label_form.py) ----
function has(o, k) { return Object.prototype.hasOwnProperty.call(o, k); }

function canon(c, shown, order) {
  // the stored value of a button pressed: pairwise answers name the outputs as shown
  const v = String(shown);
  if (c.kind !== "pairwise") return v;
  const low = v.toLowerCase();
  if (low === "tie" || order !== "21") return low;
  return low === "1" ? "2" : "1";
}

function shownCriteria(f, answers) {
  const seen = {};
  const out = [];
  for (const c of f.criteria) {
    let ok = true;
    if (c.show_if) {
      const got = has(seen, c.show_if.criterion) ? seen[c.show_if.criterion] : null;
      ok = got !== null && c.show_if.in.includes(String(got));
    }
    if (ok) {
      out.push(c);
      seen[c.name] = has(answers, c.name) ? answers[c.name] : null;
    }
  }
  return out;
}

function withAnswer(f, answers, name, value) {
  const next = {};
  for (const k of Object.keys(answers)) if (k !== name) next[k] = answers[k];
  if (value !== null) next[name] = value;
  const shown = new Set(shownCriteria(f, next).map((c) => c.name));
  for (const k of Object.keys(next)) if (!shown.has(k)) delete next[k];
  return next;
}

function firstFocus(f, answers) {
  const names = shownCriteria(f, answers).map((c) => c.name);
  return names.find((n) => !has(answers, n)) ?? names[0];
}

function movedFocus(f, answers, focus, step) {
  const names = shownCriteria(f, answers).map((c) => c.name);
  const at = names.indexOf(focus);
  if (at < 0) return step > 0 ? names[0] : names[names.length - 1];
  return names[(at + step + names.length) % names.length];
}

function needsWhy(c, answers, why) {
  return c.rationale === "required" && has(answers, c.name) && !why.has(c.name);
}

function focusAfter(f, answers, why, name) {
  const c = f.criteria.find((x) => x.name === name);
  if (c && needsWhy(c, answers, why)) return name;
  const names = shownCriteria(f, answers).map((x) => x.name);
  const at = names.indexOf(name);
  if (at < 0) return firstFocus(f, answers);
  return at + 1 < names.length ? names[at + 1] : name;
}

function missing(f) {
  return shownCriteria(f, f.answers).filter((c) => (c.required && !has(f.answers, c.name)) ||
                                                   needsWhy(c, f.answers, f.why));
}

function keyClass(key) {
  return "st-key-" + key.trim().replace(/[^a-zA-Z0-9_-]/g, "-");
}

const PRIMARY = "background-color: rgb(255, 75, 75) !important; border-color: rgb(255, 75, 75) !important;" +
                " color: rgb(255, 255, 255) !important;";
const SECONDARY = "background-color: rgb(255, 255, 255) !important; border-color: rgba(49, 51, 63, 0.2) !important;" +
                  " color: rgb(49, 51, 63) !important;";

// The frame on the focused criterion, and each criterion's chosen button where the draft here is ahead
// of what the server drew (rules on the boxes' and buttons' key classes survive any redraw by React).
function paint() {
  const f = state.form;
  let css = "";
  if (f) {
    const at = f.criteria.findIndex((c) => c.name === f.focus);
    if (at >= 0) css += `.st-key-label_crit_${at} { outline: 2px solid rgb(255, 75, 75); outline-offset: -1px; }\n`;
    f.criteria.forEach((c, i) => {
      const mine = has(f.answers, c.name) ? f.answers[c.name] : null;
      const drawn = has(f.drawn, c.name) ? f.drawn[c.name] : null;
      if (mine === drawn) return;
      for (const [shown] of c.options) {
        const value = canon(c, shown, f.order);
        const sel = `.st-key-label_crit_${i} .${keyClass(`label_c${i}_${shown}_${f.item}`)} button`;
        if (value === mine) css += `${sel} { ${PRIMARY} }\n`;
        else if (value === drawn) css += `${sel} { ${SECONDARY} }\n`;
      }
    });
  }
  if (state.style.textContent !== css) state.style.textContent = css;
  if (f && f.focus && f.focus !== state.focus) {
    state.focus = f.focus;
    const names = shownCriteria(f, f.answers).map((c) => c.name);
    state.toSubmit = missing(f).length === 0 || f.focus === names[names.length - 1];
    reveal(f.focus, 40);
  }
}

function sendDraft() {
  const f = state.form;
  f.seq += 1;
  state.setState("draft", { item: f.item, visit: f.visit, seq: f.seq, answers: f.answers, focus: f.focus });
}

function answerHere(name, shown) {
  const f = state.form;
  const c = f.criteria.find((x) => x.name === name);
  f.answers = withAnswer(f, f.answers, name, canon(c, shown, f.order));
  f.focus = focusAfter(f, f.answers, f.why, name);
  sendDraft();
  paint();
}

// An answer key or Tab on a task with several criteria, handled here; true when it is taken.
function formKey(event) {
  const f = state.form;
  if (!f || event.altKey || event.ctrlKey || event.metaKey || inField(event.target)) return false;
  let act = null;
  if (event.key === "Tab") {
    act = () => { f.focus = movedFocus(f, f.answers, f.focus, event.shiftKey ? -1 : 1); sendDraft(); paint(); };
  } else if (event.key.length === 1 && f.keys.has(event.key.toLowerCase())) {
    const key = event.key.toLowerCase();
    act = () => {
      const c = f.criteria.find((x) => x.name === f.focus);
      const opt = c && c.options.find((o) => o[1] === key);
      if (opt) answerHere(c.name, opt[0]);  // a key the framed criterion does not use does nothing
    };
  } else {
    return false;
  }
  event.preventDefault();
  event.stopImmediatePropagation();  // in the capture phase: Streamlit's shortcut never sees it
  if (event.repeat) return true;     // a held-down key repeats: never a second answer
  if (state.pending) { if (event.key !== "Tab") hint(event.key); return true; }
  act();
  return true;
}

// A click on a criterion's answer button, handled here like its key.
function formClick(event) {
  const f = state.form;
  const button = f && event.target.closest && event.target.closest("button");
  const box = button && button.closest('[class*="st-key-label_crit_"]');
  if (!box) return;
  const m = /st-key-label_crit_(\\d+)/.exec(box.className);
  const c = m && f.criteria[Number(m[1])];
  if (!c) return;
  const holder = button.closest('[class*="st-key-label_c"]');
  const opt = holder && c.options.find((o) => holder.classList.contains(keyClass(`label_c${m[1]}_${o[0]}_${f.item}`)));
  if (!opt) return;
  event.preventDefault();
  event.stopImmediatePropagation();
  if (!state.pending) answerHere(c.name, opt[0]);
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

// What the server drew this run. A new item (or a new visit of it) starts from the server's draft;
// on the same one, the server's draft is taken once it has seen every change made here (its sequence
// number caught up: it may have moved the frame itself, after a "why" or a refused Enter).
function takeForm(f) {
  if (!f) { state.form = null; if (state.style) state.style.textContent = ""; return; }
  const mine = state.form;
  const fresh = !mine || mine.item !== f.item || mine.visit !== f.visit;
  const form = fresh ? { item: f.item, visit: f.visit, seq: f.seq } : mine;
  form.criteria = f.criteria;
  form.order = f.order;
  form.why = new Set(f.why);
  form.drawn = f.answers;
  form.keys = new Set(f.criteria.flatMap((c) => c.options.map((o) => o[1]).filter((k) => k)));
  if (fresh || f.seq >= form.seq) {
    form.answers = { ...f.answers };
    form.focus = f.focus;
    form.seq = f.seq;
  }
  state.form = form;
}

export default function ({ data, parentElement, setStateValue, setTriggerValue }) {
  const host = parentElement.host || parentElement;
  if (state === null) {
    state = { item: null, caret: "", focus: "", toSubmit: false, trigger: setTriggerValue,
              run: null, pending: false, drawn: true, keys: new Set(), form: null };
    state.onKey = (event) => {
      const target = event.target;
      if (formKey(event)) return;
      if (state.form && event.key === "Enter" && !inField(target) && !event.ctrlKey && !event.metaKey &&
          !event.altKey && !event.repeat) {
        state.pending = true;  // submitted: keys wait until the run it started has drawn the page
        state.drawn = false;
        return;
      }
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
    state.onClick = (event) => formClick(event);
    document.addEventListener("click", state.onClick, true);
    state.style = document.createElement("style");
    document.head.appendChild(state.style);
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
  state.setState = setStateValue;
  state.keys = new Set(data.keys || []);
  takeForm(data.form || null);
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
  if (state.form) {
    paint();
  } else if (focus !== state.focus || toSubmit !== state.toSubmit) {
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
      document.removeEventListener("click", state.onClick, true);
      state.style.remove();
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
/* the Label page starts higher (Streamlit leaves 6rem above the title), so that the answers fit */
[data-testid="stMainBlockContainer"] {
  padding-top: 3.5rem;
}
/* several criteria: compact boxes, so that six fit beside the item in a 900 px window */
[class*="st-key-label_crit_"] {
  padding: 0.4rem 0.75rem;
}
[class*="st-key-label_crit_"] button {
  min-height: 2rem;
  padding: 0.1rem 0.7rem;
}
/* the words at the scale's ends beside the buttons, wrapped in what is left of the row */
[class*="st-key-label_crit_"] [data-testid="stHorizontalBlock"]
  > [data-testid="stElementContainer"]:has([data-testid="stCaptionContainer"]) {
  flex: 1 1 6rem;
  min-width: 6rem;
  width: auto !important;
}
[class*="st-key-label_crit_"] [data-testid="stCaptionContainer"] {
  line-height: 1.25;
}
/* the criterion that the keys answer, on a task with several criteria: framed by the style sheet that
   the component writes from the draft in the browser (paint); the mark is for screen readers */
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

KEY = "label_keys"
_component = st.components.v2.component("labelgate_label_keys", js=_JS, css=_CSS, isolate_styles=False)


def label_keys(item_id: str | None, *, on_keys, keys: list[str] | None = None, caret: str = "", focus: str = "",
               to_submit: bool = False, form: dict | None = None, on_draft=None) -> None:
    """Mount the keyboard helper for the item on screen; `on_keys` is called when "?" is pressed.

    One answer per item: `keys` are the shortcuts that answer (or undo) it now, lower case
    ("mod+enter" for Ctrl+Enter); after one of them the others are held back until the next run
    has drawn the page. Several criteria: `focus` is the name of the focused criterion (scrolled
    into view when it changes, with the Submit button when `to_submit`), `caret` a CSS selector of
    the field to put the caret in (once per new selector). `form` (criteria_view.browser_form) hands the
    item's draft to the browser, which answers and moves the frame there and sends the draft back as
    this component's state "draft" (read with `browser_draft`); `on_draft` is called when it changes.
    """
    run = uuid.uuid4().hex  # new on every run, also in a new session after a restart
    callbacks = {"on_draft_change": on_draft} if on_draft is not None else {}
    _component(key=KEY, data={"item": item_id or "", "keys": keys or [], "run": run, "caret": caret,
                              "focus": focus, "to_submit": to_submit, "form": form},
               on_keys_change=on_keys, **callbacks)


def browser_draft() -> dict | None:
    """The draft the browser last sent (see `label_keys`), or None."""
    box = st.session_state.get(KEY)
    got = box.get("draft") if hasattr(box, "get") else None
    return got if isinstance(got, dict) else None
