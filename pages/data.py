"""Data: create tasks, import items and labels, draw the calibration and anchor sets, export training data.

Widgets that edit a task carry the task's name in their key (and the kind, for the range of a new
task), so a value typed for one task never carries over to another.
"""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

from labelgate import export as exporter
from labelgate import gate
from labelgate.auth import can_edit_expertise, can_force_export
from labelgate.importer import ImportFileError, read_columns, read_table, stage_items, validate_labels
from labelgate.labeling import DEFAULT_CALIBRATION_SIZE, OVERLAP_MIN_ITEMS, draw_calibration_set
from labelgate.monitor import anchor_set, draw_anchor_set
from labelgate.store import items as item_store
from labelgate.store.imports import import_labels, import_staged_items
from labelgate.store.labels import coverage
from labelgate.store.tasks import create_task, get_task, list_tasks, revise_task, set_task_routing
from labelgate.store.users import list_users, set_user_tags, user_tags
from labelgate.tasks import KINDS, TaskSpecError, make_spec
from labelgate.ui import format as fmt
from labelgate.ui.session import action, get_db, require_page
from labelgate.ui.uploads import current_upload, release_upload, upload_key, uploader_notes
from labelgate.ui.widgets import (
    criterion_picker,
    download_button,
    forget_task_names,
    plain,
    show_message,
    task_labelers,
)

user = require_page("data")
db = get_db()
# The Data page's words for the import's invalid-value policies (labelgate.importer.INVALID_POLICIES)
INVALID_CHOICES = {"store as invalid outputs": "store", "refuse the file": "refuse",
                   "clip numbers to the range": "clip"}
S = st.session_state
log = logging.getLogger(__name__)

# format shown -> (exporter's format, file suffix, MIME type)
EXPORT_FORMATS = {"JSONL": ("jsonl", ".jsonl", "application/jsonl"), "CSV": ("csv", ".csv", "text/csv"),
                  "Parquet": ("parquet", ".parquet", "application/vnd.apache.parquet")}
TABS = ["Tasks", "Import", "Calibration and anchor sets", "Export"]


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def task_overview() -> pd.DataFrame:
    rows = []
    for t in list_tasks(db):
        n_items = item_store.count_items(db, t.task_id)
        cov = coverage(db, t.task_id, t.experts_per_item)
        rows.append({"task": t.name, "kind": t.kind, "labels": t.describe_values(), "items": n_items,
                     "calibration set": cov["set_size"], "fully labeled": cov["complete"],
                     "anchor set": len(anchor_set(db, t)),
                     "experts per item": t.experts_per_item, "revision": t.revision})
    return pd.DataFrame(rows)


@st.cache_data(ttl=30, max_entries=16, show_spinner=False)
def meta_columns(task_id: int) -> list[str]:
    return [c for c in item_store.item_meta_frame(db, task_id).columns if c != "item_id"]


# shown under the routing and the tags buttons, where the user looks, not at the top of the page
ROUTING_MESSAGE, TAGS_MESSAGE = "data_route_message", "data_tags_message"


def flash(kind: str, text: str, where: str = "data_message") -> None:
    """A message for the page's top, or (`where`) for the spot under the button that asked for it."""
    S[where] = (kind, text)


def refresh() -> None:
    task_overview.clear()
    meta_columns.clear()
    forget_task_names()  # the other pages' task lists


def approval_sentence(status: gate.GateStatus, labeler: str) -> str:
    """Where the labeler stands at the gate, in words (why an export needs force, or not)."""
    d = status.decision
    if status.state == "approved":
        return (f"{labeler} version {status.current.labeler_version} holds a fresh approval by {d['actor']} "
                f"on {pd.Timestamp(d['created_at']):%Y-%m-%d %H:%M}.")
    if status.state == "undecided":
        return f"{labeler} has never been approved: no lead has approved it at the gate."
    if status.state == "refused":
        return (f"{labeler} was refused by {d['actor']} on {pd.Timestamp(d['created_at']):%Y-%m-%d %H:%M}: "
                f"{d['comment']}")
    return (f"the approval of {labeler} by {d['actor']} on {pd.Timestamp(d['created_at']):%Y-%m-%d %H:%M} is "
            "stale because " + "; ".join(status.stale_reasons) + ".")


# --- callbacks (writes; they read the widgets from session state at click time) ------------------

@action("data")
def on_create_task() -> None:
    kind = S["data_new_kind"]
    try:
        if kind == "ordinal":
            anchors = {}
            for line in (S.get("data_new_anchors") or "").splitlines():
                point, sep, text = line.partition("=")
                if sep:
                    anchors[point.strip()] = text.strip()
            spec = make_spec(kind, scale=(S[f"data_new_lo_{kind}"], S[f"data_new_hi_{kind}"]), anchors=anchors)
        elif kind == "continuous":
            spec = make_spec(kind, value_range=(S[f"data_new_lo_{kind}"], S[f"data_new_hi_{kind}"]))
        else:
            labels = [x.strip() for x in (S.get(f"data_new_labels_{kind}") or "").split(",") if x.strip()]
            spec = make_spec(kind, labels=labels or None)
        task = create_task(db, S["data_new_name"], kind, spec, rubric=S.get("data_new_rubric") or "",
                           experts_per_item=int(S["data_new_experts"]), created_by=user.name)
    except (TaskSpecError, ValueError) as exc:
        flash("error", str(exc))
        return
    flash("success", f"Created the {task.kind} task {task.name}: {task.describe_values()}.")
    refresh()


@action("data")
def on_save_rubric() -> None:
    task_name = S["data_rubric_task"]
    revise_task(db, task_name, rubric=S[f"data_rubric_{task_name}"], created_by=user.name)
    flash("success", f"Saved a new revision of the rubric of {task_name}.")
    refresh()


@action("data")
def on_import() -> None:
    task_name, what = S["data_import_task"], S["data_import_what"]
    upload = current_upload("data_upload")
    if upload is None:
        flash("error", "Choose a file first.")
        return
    file_name = upload.name
    try:
        task = get_task(db, task_name)
        if what == "items":
            chosen = S.get("data_text_columns") or None
            # read in blocks and checked into a file on disk (getvalue() hands over Streamlit's bytes without
            # a copy); valid: the upload is let go of before the database reads the staged rows
            staged = stage_items(file_name, task, data=upload.getvalue(),
                                 id_column=S.get("data_id_column") or "item_id", text_columns=chosen)
            with staged:
                del upload
                release_upload("data_upload")
                parsed = staged.parsed
                result = import_staged_items(db, task, staged, created_by=user.name)
        else:
            parsed = read_table(file_name, data=upload.getvalue())
            known = set(item_store.get_items(db, task.task_id)["item_id"])
            source = S["data_source"]
            policy = INVALID_CHOICES.get(S.get("data_invalid"), "store") if source == "llm" else "store"
            labels = validate_labels(parsed, task, source=source, known_items=known,
                                     batch=S.get("data_batch") or None, invalid=policy)
            result = import_labels(db, task, parsed, labels, source=source, family=S.get("data_family") or None,
                                   created_by=user.name)
    except ImportFileError as exc:
        flash("error", f"Nothing was imported: {exc}")
        return
    except Exception as exc:  # noqa: BLE001 - an import is one transaction: whatever failed, nothing is stored
        log.exception("import of %s into %s failed", file_name, task_name)
        flash("error", f"Nothing was imported: {exc}")
        return
    if current_upload("data_upload") is not None:
        release_upload("data_upload")  # imported: no copy of the file stays in the server's memory
    nothing = result.n_added == 0 and result.n_invalid == 0
    kind = "info" if nothing else ("warning" if result.n_invalid else "success")
    flash(kind, result.describe(what if what == "items" else f"{S['data_source']} labels", parsed.file_name) + ".")
    refresh()


@action("data")
def on_draw() -> None:
    task_name = S["data_cal_task"]
    task = get_task(db, task_name)
    try:
        chosen = draw_calibration_set(db, task, size=int(S[f"data_cal_size_{task_name}"]),
                                      stratify_by=S.get(f"data_cal_strata_{task_name}") or None,
                                      seed=int(S[f"data_cal_seed_{task_name}"]),
                                      experts_per_item=int(S[f"data_cal_experts_{task_name}"]),
                                      overlap_share=S[f"data_cal_overlap_{task_name}"] / 100, created_by=user.name)
    except ValueError as exc:
        flash("error", str(exc))
        return
    flash("success", f"Drew a calibration set of {len(chosen)} items for {task_name}.")
    refresh()


@action("data")
def on_save_routing() -> None:
    task_name = S["data_cal_task"]
    try:
        task = set_task_routing(db, task_name, domain_column=S.get(f"data_route_column_{task_name}") or None,
                                others_may_label=bool(S[f"data_route_others_{task_name}"]), created_by=user.name)
    except ValueError as exc:
        flash("error", str(exc), ROUTING_MESSAGE)
        return
    if task.domain_column is None:
        flash("success", f"{task_name}: routing by expertise is off; every expert is served alike.", ROUTING_MESSAGE)
    else:
        flash("success", f"{task_name}: items go first to experts tagged with their {task.domain_column}"
                         + ("; others may label when no matching expert is free." if task.others_may_label
                            else "; only matching experts label them."), ROUTING_MESSAGE)
    refresh()


@action("data")
def on_save_tags() -> None:
    name = S["data_tags_user"]
    try:
        changed = set_user_tags(db, name, S[f"data_tags_{name}"], changed_by=user.name)
    except (ValueError, LookupError) as exc:
        flash("error", str(exc), TAGS_MESSAGE)
        return
    tags = ", ".join(user_tags(db).get(name, [])) or "none"
    flash("success" if changed else "info", f"{name}'s expertise tags {'are now' if changed else 'already are'}: "
                                            f"{tags}.", TAGS_MESSAGE)


@action("data")
def on_draw_anchors() -> None:
    task_name = S["data_cal_task"]
    task = get_task(db, task_name)
    if anchor_set(db, task) and not S.get(f"data_anchor_replace_{task_name}"):
        flash("error", f"{task_name} already has an anchor set: tick “Replace it” to draw a new one "
                       "(its drift history starts again).")
        return
    try:
        chosen = draw_anchor_set(db, task, size=int(S[f"data_anchor_size_{task_name}"]),
                                 seed=int(S[f"data_anchor_seed_{task_name}"]),
                                 stratify_by=S.get(f"data_anchor_strata_{task_name}") or None, created_by=user.name)
    except ValueError as exc:
        flash("error", str(exc))
        return
    S[f"data_anchor_replace_{task_name}"] = False
    flash("success", f"Drew an anchor set of {len(chosen)} gold items for {task_name}; every batch run "
                     "re-labels it.")
    refresh()


def export_options(task_name: str) -> dict:
    """The Export tab's choices for this task, as the widgets hold them now."""
    labeler = S.get(f"data_exp_labeler_{task_name}")
    min_conf = S.get(f"data_exp_minconf_{task_name}") if S.get(f"data_exp_minconf_on_{task_name}") else None
    return {"task": task_name, "labeler": labeler, "format": S.get(f"data_exp_format_{task_name}") or "JSONL",
            "human_share": int(S.get(f"data_exp_share_{task_name}", 10)) / 100,
            "force_reason": S.get(f"data_exp_force_reason_{task_name}_{labeler}", ""),
            "subsample": bool(S.get(f"data_exp_subsample_{task_name}")),
            "human_weight": bool(S.get(f"data_exp_weight_{task_name}")),
            "drop_family_disagreement": bool(S.get(f"data_exp_family_{task_name}")),
            "min_confidence": None if min_conf is None else float(min_conf),
            "soft_labels": bool(S.get(f"data_exp_soft_{task_name}")),
            "criterion": S.get(f"data_exp_criterion_{task_name}"),  # None: a one-question task
            "force": bool(S.get(f"data_exp_force_{task_name}_{labeler}"))}


@action("data")
def on_export() -> None:
    S.pop("data_export", None)
    opts = export_options(S["data_exp_task"])
    task, labeler = get_task(db, opts["task"]), opts["labeler"]
    status = gate.status(db, task, labeler)
    if not status.fresh_approval and not opts["force"]:
        S["data_export_message"] = (
            "error", f"Export refused: {approval_sentence(status, labeler)} "
                     "A lead can approve it on the Gate page; "
                     "or a lead may force it, with a reason — a forced export is recorded in the audit log.")
        return
    fmt, suffix, mime = EXPORT_FORMATS[opts["format"]]
    try:
        table, report = exporter.prepare(
            db, task, labeler, human_share=opts["human_share"], subsample=opts["subsample"],
            human_weight=opts["human_weight"],
            drop_family_disagreement=opts["drop_family_disagreement"], min_confidence=opts["min_confidence"],
            force=opts["force"], user=user, force_reason=opts["force_reason"], soft_labels=opts["soft_labels"],
            criterion=opts["criterion"])
        data = exporter.serialize(table, fmt)
        on = f"-{opts['criterion']}" if opts["criterion"] else ""
        file_name = f"{task.name}{on}-{labeler}-{report.labeler_version}{suffix}"
        report.path, report.format = file_name, fmt
        event_id = exporter.record(db, task, report, user)
    except exporter.ExportRefused as exc:
        S["data_export_message"] = ("error", f"Export refused: {exc}")
        return
    except (ValueError, LookupError) as exc:
        S["data_export_message"] = ("error", str(exc))
        return
    # The file the user just asked for, offered until an option changes (then it is dropped).
    S["data_export"] = {"options": opts, "file_name": file_name, "mime": mime, "data": data,
                        "report": report, "event_id": event_id}
    S["data_export_message"] = ("success", f"{file_name}: {report.n_rows} rows ({report.n_human} human gold, "
                                           f"{report.n_llm} LLM). Recorded in the audit log (row {event_id}).")


# --- page --------------------------------------------------------------------------------------

st.title("Data")
show_message("data_message")

overview = task_overview()
tasks_tab, import_tab, calibration_tab, export_tab = st.tabs(TABS, key="data_tabs", on_change="rerun")

with tasks_tab:
    if overview.empty:
        st.info("No tasks yet: create one below.")
    else:
        # a static table: it draws with the page (the interactive grid's first draw in a browser took ~3 s)
        fmt.text_table(fmt.readable(overview))
    with st.expander("Create a task", expanded=overview.empty):
        c1, c2 = st.columns(2)
        c1.text_input("Name", key="data_new_name")
        kind = c2.selectbox("Kind", KINDS, key="data_new_kind",
                            help="categorical: a list of labels · ordinal: a scale with anchors · "
                                 "continuous: a number in a range · pairwise: which of two outputs is better")
        if kind in ("categorical", "pairwise"):
            st.text_input("Labels, comma-separated", key=f"data_new_labels_{kind}",
                          placeholder="1,2,tie" if kind == "pairwise" else "positive,negative,neutral")
        else:
            c3, c4 = st.columns(2)
            default_lo, default_hi = (1, 5) if kind == "ordinal" else (0.0, 1.0)
            step = 1 if kind == "ordinal" else 0.1
            c3.number_input("Lowest", value=default_lo, step=step, key=f"data_new_lo_{kind}")
            c4.number_input("Highest", value=default_hi, step=step, key=f"data_new_hi_{kind}")
            if kind == "ordinal":
                st.text_area("Anchors, one per line (point=meaning)", key="data_new_anchors",
                             placeholder="1=poor\n3=acceptable\n5=excellent")
        st.text_area("Rubric (markdown, shown to experts beside every item)", key="data_new_rubric", height=150)
        st.number_input("Experts per item", min_value=1, max_value=10, value=2, key="data_new_experts")
        st.button("Create task", type="primary", on_click=on_create_task)
    if not overview.empty:
        with st.expander("Edit a rubric"):
            name = st.selectbox("Task", overview["task"], key="data_rubric_task")
            st.text_area("Rubric", value=get_task(db, name).rubric, key=f"data_rubric_{name}", height=200)
            st.caption("Saving makes a new revision: gate approvals of this task go stale.")
            st.button("Save rubric", on_click=on_save_rubric)

with import_tab:
    if overview.empty:
        st.info("Create a task first.")
    else:
        st.selectbox("Task", overview["task"], key="data_import_task")
        what = st.radio("What", ["items", "labels"], horizontal=True, key="data_import_what")
        st.file_uploader("CSV, JSONL or Parquet file", type=["csv", "jsonl", "ndjson", "json", "parquet"],
                         key=upload_key("data_upload"))
        uploader_notes()
        upload = current_upload("data_upload")
        if what == "items":
            st.caption("An id column (default item_id); the other columns become text shown to people "
                       "and models, or metadata kept for slicing.")
            columns = read_columns(upload.name, upload.getvalue()) if upload is not None else []
            c1, c2 = st.columns(2)
            c1.text_input("Id column", value="item_id", key="data_id_column")
            c2.multiselect("Text columns (empty: the free-text columns)", columns, key="data_text_columns")
        else:
            st.caption("Long form: item_id, rater, value; optional confidence (0-1), batch, "
                       "shown_order (pairwise: 12 or 21), sample_index, comment.")
            c1, c2, c3 = st.columns(3)
            c1.radio("Source", ["human", "llm"], horizontal=True, key="data_source")
            c2.text_input("Model family of new LLM raters", key="data_family", placeholder="from the name")
            c3.text_input("Batch (rows without one)", key="data_batch", placeholder="default")
            if S.get("data_source") == "llm":
                st.radio("LLM values outside the task's labels or range", list(INVALID_CHOICES), horizontal=True,
                         key="data_invalid", help="A judge's out-of-scale answer is its error, not the file's: "
                         "stored apart, it counts in the labeler's invalid rate and stays out of metrics and exports.")
        st.button("Import", type="primary", on_click=on_import, disabled=upload is None)

with calibration_tab:
    if overview.empty:
        st.info("Create a task first.")
    else:
        task_name = st.selectbox("Task", overview["task"], key="data_cal_task")
        row = overview.set_index("task").loc[task_name]
        task = get_task(db, task_name)
        strata_options = [""] + meta_columns(task.task_id)

        st.subheader("Calibration set")
        st.metric("Current calibration set", f"{row['calibration set']} items",
                  help="Experts label these, blind; the gold is built from their labels.")
        c1, c2, c3, c4, c5 = st.columns(5)
        c1.number_input("Size", min_value=1, value=DEFAULT_CALIBRATION_SIZE, step=50, key=f"data_cal_size_{task_name}")
        c2.selectbox("Stratify by", strata_options, key=f"data_cal_strata_{task_name}",
                     format_func=lambda c: c or "(no stratification)")
        c3.number_input("Seed", min_value=0, value=0, key=f"data_cal_seed_{task_name}")
        c4.number_input("Experts per item", min_value=1, max_value=10, value=task.experts_per_item,
                        key=f"data_cal_experts_{task_name}")
        c5.number_input("Shared by every expert (%)", min_value=0, max_value=100, step=5,
                        value=round(task.overlap_share * 100), key=f"data_cal_overlap_{task_name}",
                        help=f"Every expert labels this share of the set first (at least {OVERLAP_MIN_ITEMS} "
                             "items), so their agreement is measurable early; the rest goes to experts per item.")
        st.caption("Redrawing keeps every label already given; the queue follows the new set.")
        st.button("Draw calibration set", type="primary", on_click=on_draw, key="data_cal_draw")

        st.subheader("Routing by expertise")
        c1, c2 = st.columns(2)
        c1.selectbox("Domain column", strata_options, key=f"data_route_column_{task_name}",
                     index=strata_options.index(task.domain_column) if task.domain_column in strata_options else 0,
                     format_func=lambda c: c or "(no routing)",
                     help="The item metadata column holding each item's domain. An item goes first to experts "
                          "whose expertise tags (Users page) include its domain.")
        c2.checkbox("Others may label when no matching expert is free", value=task.others_may_label,
                    key=f"data_route_others_{task_name}",
                    help="Off: an item of a domain is only ever shown to experts tagged with it.")
        st.button("Save routing", on_click=on_save_routing, key="data_route_save")
        show_message(ROUTING_MESSAGE)
        if can_edit_expertise(user.role):
            experts = [u.name for u in list_users(db) if u.active and u.role == "expert"]
            if experts:
                c1, c2 = st.columns(2)
                who = c1.selectbox("Expert", experts, key="data_tags_user")
                if f"data_tags_{who}" not in S:
                    S[f"data_tags_{who}"] = ", ".join(user_tags(db).get(who, []))
                c2.text_input("Expertise tags (comma-separated)", key=f"data_tags_{who}")
                st.button("Save tags", on_click=on_save_tags, key="data_tags_save")
                show_message(TAGS_MESSAGE)

        st.subheader("Anchor set")
        n_anchors = int(row["anchor set"])
        st.metric("Current anchor set", f"{n_anchors} items" if n_anchors else "none yet",
                  help="Gold items every batch run re-labels, to catch drift (Monitor page).")
        c1, c2, c3 = st.columns(3)
        c1.number_input("Anchor items", min_value=1, value=50, step=10, key=f"data_anchor_size_{task_name}")
        c2.selectbox("Stratify by", strata_options, key=f"data_anchor_strata_{task_name}",
                     format_func=lambda c: c or "(no stratification)")
        c3.number_input("Seed", min_value=0, value=0, key=f"data_anchor_seed_{task_name}")
        st.caption("Drawn from the task's gold items. Draw it once: a new anchor set starts the drift history "
                   "again.")
        if n_anchors:
            st.checkbox(f"Replace the current anchor set of {n_anchors} items", key=f"data_anchor_replace_{task_name}")
        st.button("Draw anchor set", on_click=on_draw_anchors, key="data_anchor_draw")

with export_tab:
    if overview.empty:
        st.info("Create a task first.")
    else:
        st.caption("The human gold plus one labeler's (corrected) labels on the other items — the same as "
                   "`labelgate export`. Only a labeler with a fresh gate approval may be exported.")
        c1, c2 = st.columns(2)
        task_name = c1.selectbox("Task", overview["task"], key="data_exp_task")
        task = get_task(db, task_name)
        names = list(task_labelers(task.task_id)["name"])
        if not names:
            st.info(f"{plain(task_name)} has no labelers yet: define one on the Labelers page or import LLM labels.")
        else:
            labeler = c2.selectbox("Labeler", names, key=f"data_exp_labeler_{task_name}")
            criterion_picker(f"data_exp_criterion_{task_name}", task, where=c1, allow_all=False)
            c1, c2 = st.columns(2)
            c1.radio("Format", list(EXPORT_FORMATS), horizontal=True, key=f"data_exp_format_{task_name}")
            floor = round(exporter.task_human_share(db, task) * 100)
            if S.get(f"data_exp_share_{task_name}", floor) < floor:
                S[f"data_exp_share_{task_name}"] = floor  # a lead raised the task's share since
            if floor < 20:
                c2.slider("Human gold rows: at least", min_value=floor, max_value=20, value=floor, format="%d%%",
                          key=f"data_exp_share_{task_name}",
                          help=f"Human labels never fall below this share of the rows; {plain(task_name)} keeps at "
                               f"least {floor}% (a lead sets it on the Gate page).")
            else:
                S[f"data_exp_share_{task_name}"] = 20
                c2.caption(f"Human gold rows: at least 20% ({plain(task_name)}'s setting, the most allowed).")
            st.checkbox("Subsample to fit: when there are too few human rows, export a random subset of the LLM "
                        "rows that keeps the human share", key=f"data_exp_subsample_{task_name}")
            st.checkbox("Weigh instead: export every LLM row, with a weight column that gives the human rows the "
                        "human share of the total weight", key=f"data_exp_weight_{task_name}")
            st.checkbox("Drop items where labelers of different model families disagree",
                        key=f"data_exp_family_{task_name}")
            st.checkbox("Soft labels: add each item's human label distribution (counts per option, or mean and "
                        "standard deviation, with the number of raters) beside the hard gold",
                        key=f"data_exp_soft_{task_name}")
            c1, c2 = st.columns([2, 1])
            on = c1.checkbox("Drop LLM rows with a confidence below (or no confidence)",
                             key=f"data_exp_minconf_on_{task_name}")
            c2.number_input("minimum confidence", min_value=0.0, max_value=1.0, value=0.8, step=0.05,
                            key=f"data_exp_minconf_{task_name}", disabled=not on, label_visibility="collapsed")
            if export_tab.open:  # the gate status reads the gold: only when this tab is in view
                status = gate.status(db, task, labeler)
                if status.fresh_approval:
                    st.success(plain(approval_sentence(status, labeler)), icon=":material/verified:")
                else:
                    st.warning(f"Not exportable as it stands: {plain(approval_sentence(status, labeler))}",
                               icon=":material/gpp_maybe:")
                    if can_force_export(user.role):
                        if st.checkbox("Export without a fresh approval (forced: recorded in the audit log with "
                                       "your name and reason)", key=f"data_exp_force_{task_name}_{labeler}"):
                            st.text_input("Reason (required)", key=f"data_exp_force_reason_{task_name}_{labeler}",
                                          placeholder="Why these labels may train without a fresh approval")
                    else:
                        st.caption(f"Only a lead can force an export without a fresh approval; you are signed in "
                                   f"as {user.role}.")
            st.button("Export", type="primary", on_click=on_export, key="data_exp_go", icon=":material/output:")
            show_message("data_export_message")
            done = S.get("data_export")
            if done is not None and done["options"] != export_options(task_name):
                S.pop("data_export")  # an option changed: that file is not what the page now shows
                done = None
            if done is not None:
                r = done["report"]
                m1, m2, m3, m4 = st.columns(4)
                m1.metric("Human gold rows", r.n_human)
                m2.metric("LLM rows", r.n_llm)
                m3.metric("Human share", f"{r.n_human / r.n_rows:.0%}" if r.n_rows else "–")
                if r.human_weight is not None:
                    weight_share = r.n_human * r.human_weight / (r.n_human * r.human_weight + r.n_llm)
                    m3.caption(f"of the rows; {weight_share:.0%} of the weight (human rows weigh "
                               f"{r.human_weight:.3g} each)")
                m4.metric(f"LLM rows that fit {r.human_share:.0%} human", r.n_llm_fit)
                steps = [(f"{r.labeler} labels on items without gold", r.n_llm_available)]
                steps += [(f"removed: {name}", -n) for name, n in r.removed.items()]
                steps += [(f"most that fit a {r.human_share:.0%} human share", r.n_llm_fit),
                          ("exported" + (" (random subsample)" if r.subsampled else "")
                           + (" (all, weighted)" if r.human_weight is not None else ""), r.n_llm)]
                st.dataframe(pd.DataFrame(steps, columns=["LLM rows", "count"]), hide_index=True)
                if r.n_llm_available == 0:
                    st.info(f"{plain(r.labeler)} has labels only on gold items so far: the file holds the human gold. "
                            "Run it on a batch (Labelers page) to export its labels.")
                if r.correction:
                    st.caption(plain(f"Correction {r.correction}: {r.correction_note or 'applied'}."))
                if r.forced:
                    st.warning(plain(f"Forced export without a fresh approval ({r.approval}); recorded in the audit "
                                     f"log as row {done['event_id']} with your name."), icon=":material/warning:")
                download_button(f"Download {plain(done['file_name'])}", done["data"], file_name=done["file_name"],
                                mime=done["mime"], on_click="ignore", type="primary",
                                key=f"data_exp_download_{done['event_id']}", icon=":material/download:")
