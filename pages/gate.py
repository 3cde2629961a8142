"""Gate: evaluate a labeler against its task's criteria; a lead approves or refuses, with a comment."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import streamlit as st

from labelgate import gate
from labelgate.auth import can_decide_gate
from labelgate.store import gate as gate_store
from labelgate.store.labelers import current_versions
from labelgate.store.tasks import get_task
from labelgate.ui.session import get_db, require_page
from labelgate.ui.widgets import plain, show_message, task_picker

user = require_page("gate")
db = get_db()
S = st.session_state


@st.cache_data(ttl=30, max_entries=16, show_spinner=False)
def labelers(task_id: int) -> pd.DataFrame:
    return current_versions(db, task_id)


def gate_status(task_name: str, labeler: str) -> gate.GateStatus:
    """Not cached: staleness must show as soon as the labeler, task, gold or correction changes
    (possibly through the CLI), and it is a handful of small queries."""
    return gate.status(db, get_task(db, task_name), labeler)


@st.cache_data(ttl=5, max_entries=16, show_spinner=False)
def audit(task_id: int, labeler: str) -> pd.DataFrame:
    return gate_store.events(db, task_id, labeler)


def clear() -> None:
    audit.clear()


def flash(kind: str, text: str) -> None:
    S["gate_message"] = (kind, text)


def criteria_from_widgets(task_name: str) -> list:
    task = get_task(db, task_name)
    out = []
    for c in gate.criteria_for(db, task):
        thr = S.get(f"gate_thr_{task_name}_{c.metric}", c.threshold)
        out.append(replace(c, threshold=float(thr)))
    return out


def save_if_changed(task_name: str, criteria: list) -> None:
    task = get_task(db, task_name)
    if [c.to_dict() for c in criteria] != [c.to_dict() for c in gate.criteria_for(db, task)]:
        gate.save_criteria(db, task, criteria, user=user)


def on_evaluate(task_name: str, labeler: str) -> None:
    criteria = criteria_from_widgets(task_name)
    try:
        save_if_changed(task_name, criteria)
        task = get_task(db, task_name)
        ev = gate.evaluate(db, task, labeler, criteria=criteria)
        event_id = gate.record_evaluation(db, ev, user)
    except (ValueError, LookupError, PermissionError) as exc:
        flash("error", str(exc))
        return
    S["gate_event"] = event_id
    clear()


def on_decide(task_name: str, labeler: str, decision: str, shown) -> None:
    """Record a lead's decision -- on the state the lead saw: if the labeler version, task, gold or
    correction changed since the page was drawn, nothing is recorded."""
    criteria = criteria_from_widgets(task_name)
    if gate.status(db, get_task(db, task_name), labeler).current != shown:
        flash("error", "Not recorded: the labeler, task, gold or correction changed since this page was drawn. "
                       "Look at the evaluation again, then decide.")
        clear()
        return
    try:
        save_if_changed(task_name, criteria)
        event_id, ev = gate.decide(db, get_task(db, task_name), labeler, user=user, decision=decision,
                                   comment=S.get(f"gate_comment_{task_name}_{labeler}", ""), criteria=criteria)
    except (ValueError, LookupError, PermissionError) as exc:
        flash("error", str(exc))
        return
    word = "Approved" if decision == "approve" else "Refused"
    flash("success", f"{word} {labeler} version {ev.fingerprint.labeler_version} (audit row {event_id}).")
    S["gate_event"] = event_id
    S[f"gate_comment_{task_name}_{labeler}"] = ""
    clear()


def on_reset(task_name: str) -> None:
    task = get_task(db, task_name)
    for c in gate.default_criteria(task):
        S[f"gate_thr_{task_name}_{c.metric}"] = float(c.threshold)


st.title("Gate")
show_message("gate_message")

c1, c2 = st.columns(2)
task_name = task_picker("gate_task", where=c1)
task = get_task(db, task_name)
versions = labelers(task.task_id)
if versions.empty:
    st.info("This task has no labelers yet.")
    st.stop()
labeler = c2.selectbox("Labeler", list(versions["name"]), key="gate_labeler")
row = versions.set_index("name").loc[labeler]
st.caption(f"{labeler}: {row['provider']} · {row['model']} · family {row['family']} · "
           f"current version {row['version']} · task revision {task.revision}")

# --- where the labeler stands ------------------------------------------------------------------
status = gate_status(task_name, labeler)
if status.state == "approved":
    st.success(f"**Approved** — {plain(status.describe())}", icon=":material/verified:")
elif status.state == "stale":
    d = status.decision
    st.warning(f"**Approval stale** — {labeler} was approved by {d['actor']} on "
               f"{pd.Timestamp(d['created_at']):%Y-%m-%d %H:%M}, but since then:", icon=":material/history:")
    for reason in status.stale_reasons:
        st.markdown(f"- {plain(reason)}")
    st.caption("Evaluate again and ask a lead to decide.")
elif status.state == "refused":
    st.error(f"**Refused** — {plain(status.describe())}", icon=":material/block:")
else:
    st.info("**Not approved** — no lead has decided on this labeler yet.", icon=":material/pending:")

# --- criteria ------------------------------------------------------------------------------------
st.subheader("Criteria")
st.caption("Pre-filled from the defaults; adjusted thresholds are saved as this task's criteria when you "
           "evaluate or decide, and recorded with every evaluation.")
criteria = gate.criteria_for(db, task)
for c in criteria:
    a, b, d = st.columns([2, 1, 3])
    use = {"estimate": "", "ci_low": " (lower 95% bound)", "ci_high": " (upper 95% bound)"}[c.use]
    a.markdown(f"**{c.name}**  \n`{c.metric}`{use} {c.comparator}"
               + (f" · n ≥ {c.min_n}" if c.min_n else "") + (" · optional" if c.optional else ""))
    b.number_input("threshold", value=float(c.threshold), step=0.01 if c.threshold < 10 else 10.0,
                   key=f"gate_thr_{task_name}_{c.metric}", label_visibility="collapsed", format="%.3f")
    d.caption(c.description)
st.button("Reset to the defaults", on_click=on_reset, args=(task_name,))

st.button("Evaluate", type="primary", on_click=on_evaluate, args=(task_name, labeler), icon=":material/rule:")

# --- the latest evaluation -----------------------------------------------------------------------
events = audit(task.task_id, labeler)
evals = events[events["kind"].isin(["evaluation", "approve", "refuse"])]
if not evals.empty:
    ev = evals.iloc[0]
    result = json.loads(ev["result"])
    evidence = result.get("evidence", {})
    verdict = result["verdict"]
    st.subheader("Evaluation")
    (st.success if verdict == "pass" else st.error)(
        f"Verdict: **{verdict.upper()}** — {labeler} version {ev['labeler_version']}, evaluated by {ev['actor']} "
        f"on {pd.Timestamp(ev['created_at']):%Y-%m-%d %H:%M:%S}")
    if ev["labeler_version"] != row["version"]:
        st.warning("This evaluation is of an earlier version of the labeler: evaluate again.")
    rows = []
    for r in result["results"]:
        c = r["criterion"]
        rows.append({"criterion": c["label"] or c["metric"],
                     "result": {True: "pass", False: "FAIL", None: "skipped"}[r["passed"]],
                     "observed": r["observed"], "required": f"{c['comparator']} {c['threshold']:g}",
                     "evidence": evidence.get(c["metric"], ""), "reason": r["reason"]})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"observed": st.column_config.NumberColumn(format="%.3f"),
                                "evidence": st.column_config.TextColumn(width="large")})

# --- the decision --------------------------------------------------------------------------------
st.subheader("Decision")
if can_decide_gate(user.role):
    st.text_area("Comment (required)", key=f"gate_comment_{task_name}_{labeler}",
                 placeholder="Why you approve or refuse this labeler")
    a, b, _ = st.columns([1, 1, 4])
    a.button("Approve", type="primary", on_click=on_decide, args=(task_name, labeler, "approve", status.current),
             icon=":material/check_circle:")
    b.button("Refuse", on_click=on_decide, args=(task_name, labeler, "refuse", status.current),
             icon=":material/cancel:")
else:
    st.info(f"Only a lead can approve or refuse a labeler; you are signed in as {user.role}.")

# --- the audit log -------------------------------------------------------------------------------
st.subheader("Audit log")
st.caption("Append-only: every evaluation, decision and export, with the versions it was about.")
if events.empty:
    st.caption("Nothing recorded yet.")
else:
    log = events[["event_id", "created_at", "kind", "actor", "verdict", "labeler_version", "task_revision",
                  "gold_version", "correction_id", "forced", "comment"]]
    st.dataframe(log, hide_index=True, width="stretch")
