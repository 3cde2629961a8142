"""Data: create tasks, import items and labels, draw the calibration set."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from labelgate.importer import ImportFileError, read_table, validate_items, validate_labels
from labelgate.labeling import DEFAULT_CALIBRATION_SIZE, draw_calibration_set
from labelgate.store import items as item_store
from labelgate.store.imports import import_items, import_labels
from labelgate.store.labels import coverage
from labelgate.store.tasks import create_task, get_task, list_tasks, revise_task
from labelgate.tasks import KINDS, TaskSpecError, make_spec
from labelgate.ui.session import get_db, require_page

user = require_page("data")
db = get_db()
S = st.session_state


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def task_overview() -> pd.DataFrame:
    rows = []
    for t in list_tasks(db):
        n_items = item_store.count_items(db, t.task_id)
        cov = coverage(db, t.task_id, t.experts_per_item)
        rows.append({"task": t.name, "kind": t.kind, "labels": t.describe_values(), "items": n_items,
                     "calibration set": cov["set_size"], "fully labeled": cov["complete"],
                     "experts per item": t.experts_per_item, "revision": t.revision})
    return pd.DataFrame(rows)


@st.cache_data(ttl=30, max_entries=16, show_spinner=False)
def meta_columns(task_id: int) -> list[str]:
    return [c for c in item_store.item_meta_frame(db, task_id).columns if c != "item_id"]


def flash(kind: str, text: str) -> None:
    S["data_message"] = (kind, text)


def refresh() -> None:
    task_overview.clear()
    meta_columns.clear()


# --- callbacks (writes) ---------------------------------------------------------------------

def on_create_task() -> None:
    kind = S["data_new_kind"]
    try:
        if kind == "ordinal":
            anchors = {}
            for line in (S.get("data_new_anchors") or "").splitlines():
                point, sep, text = line.partition("=")
                if sep:
                    anchors[point.strip()] = text.strip()
            spec = make_spec(kind, scale=(S["data_new_lo"], S["data_new_hi"]), anchors=anchors)
        elif kind == "continuous":
            spec = make_spec(kind, value_range=(S["data_new_lo"], S["data_new_hi"]))
        else:
            labels = [x.strip() for x in (S.get("data_new_labels") or "").split(",") if x.strip()]
            spec = make_spec(kind, labels=labels or None)
        task = create_task(db, S["data_new_name"], kind, spec, rubric=S.get("data_new_rubric") or "",
                           experts_per_item=int(S["data_new_experts"]), created_by=user.name)
    except (TaskSpecError, ValueError) as exc:
        flash("error", str(exc))
        return
    flash("success", f"Created the {task.kind} task {task.name}: {task.describe_values()}.")
    refresh()


def on_save_rubric(task_name: str) -> None:
    revise_task(db, task_name, rubric=S[f"data_rubric_{task_name}"], created_by=user.name)
    flash("success", f"Saved a new revision of the rubric of {task_name}.")
    refresh()


def on_import(task_name: str, what: str) -> None:
    upload = S.get("data_upload")
    if upload is None:
        flash("error", "Choose a file first.")
        return
    task = get_task(db, task_name)
    try:
        parsed = read_table(upload.name, data=upload.getvalue())
        if what == "items":
            chosen = S.get("data_text_columns") or None
            items, text_columns = validate_items(parsed, task, id_column=S.get("data_id_column") or "item_id",
                                                 text_columns=chosen)
            result = import_items(db, task, parsed, items, text_columns, created_by=user.name)
        else:
            known = set(item_store.get_items(db, task.task_id)["item_id"])
            source = S["data_source"]
            labels = validate_labels(parsed, task, source=source, known_items=known,
                                     batch=S.get("data_batch") or None)
            result = import_labels(db, task, parsed, labels, source=source, family=S.get("data_family") or None,
                                   created_by=user.name)
    except ImportFileError as exc:
        flash("error", f"Nothing was imported. {exc}")
        return
    if result.n_added == 0:
        flash("info", f"{parsed.file_name}: all {result.n_rows} rows were already imported; nothing added.")
    else:
        skipped = f" ({result.n_skipped} were already present)" if result.n_skipped else ""
        flash("success", f"{parsed.file_name}: imported {result.n_added} {what}{skipped}.")
    refresh()


def on_draw(task_name: str) -> None:
    task = get_task(db, task_name)
    try:
        chosen = draw_calibration_set(db, task, size=int(S["data_cal_size"]),
                                      stratify_by=S.get("data_cal_strata") or None, seed=int(S["data_cal_seed"]),
                                      experts_per_item=int(S["data_cal_experts"]), created_by=user.name)
    except ValueError as exc:
        flash("error", str(exc))
        return
    flash("success", f"Drew a calibration set of {len(chosen)} items for {task_name}.")
    refresh()


# --- page --------------------------------------------------------------------------------------

st.title("Data")
kind_, text_ = S.pop("data_message", (None, None))
if kind_:
    getattr(st, kind_)(text_)

overview = task_overview()
tasks_tab, import_tab, calibration_tab = st.tabs(["Tasks", "Import", "Calibration set"])

with tasks_tab:
    if overview.empty:
        st.info("No tasks yet: create one below.")
    else:
        st.dataframe(overview, hide_index=True)
    with st.expander("Create a task", expanded=overview.empty):
        c1, c2 = st.columns(2)
        c1.text_input("Name", key="data_new_name")
        kind = c2.selectbox("Kind", KINDS, key="data_new_kind",
                            help="categorical: a list of labels · ordinal: a scale with anchors · "
                                 "continuous: a number in a range · pairwise: which of two outputs is better")
        if kind in ("categorical", "pairwise"):
            st.text_input("Labels, comma-separated", key="data_new_labels",
                          placeholder="1,2,tie" if kind == "pairwise" else "positive,negative,neutral")
        else:
            c3, c4 = st.columns(2)
            default_lo, default_hi = (1, 5) if kind == "ordinal" else (0.0, 1.0)
            step = 1 if kind == "ordinal" else 0.1
            c3.number_input("Lowest", value=default_lo, step=step, key="data_new_lo")
            c4.number_input("Highest", value=default_hi, step=step, key="data_new_hi")
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
            st.button("Save rubric", on_click=on_save_rubric, args=(name,))

with import_tab:
    if overview.empty:
        st.info("Create a task first.")
    else:
        task_name = st.selectbox("Task", overview["task"], key="data_import_task")
        what = st.radio("What", ["items", "labels"], horizontal=True, key="data_import_what")
        st.file_uploader("CSV, JSONL or Parquet file", type=["csv", "jsonl", "ndjson", "json", "parquet"],
                         key="data_upload")
        upload = S.get("data_upload")
        if what == "items":
            st.caption("An id column (default item_id); the other columns become text shown to people "
                       "and models, or metadata kept for slicing.")
            columns = []
            if upload is not None:
                try:
                    columns = list(read_table(upload.name, data=upload.getvalue()).frame.columns)
                except ImportFileError as exc:
                    st.error(str(exc))
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
        st.button("Import", type="primary", on_click=on_import, args=(task_name, what), disabled=upload is None)

with calibration_tab:
    if overview.empty:
        st.info("Create a task first.")
    else:
        task_name = st.selectbox("Task", overview["task"], key="data_cal_task")
        row = overview.set_index("task").loc[task_name]
        task = get_task(db, task_name)
        st.metric("Current calibration set", f"{row['calibration set']} items",
                  help="Experts label these, blind; the gold is built from their labels.")
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input("Size", min_value=1, value=DEFAULT_CALIBRATION_SIZE, step=50, key="data_cal_size")
        c2.selectbox("Stratify by", [""] + meta_columns(task.task_id), key="data_cal_strata",
                     format_func=lambda c: c or "(no stratification)")
        c3.number_input("Seed", min_value=0, value=0, key="data_cal_seed")
        c4.number_input("Experts per item", min_value=1, max_value=10, value=task.experts_per_item,
                        key="data_cal_experts")
        st.caption("Redrawing keeps every label already given; the queue follows the new set.")
        st.button("Draw calibration set", type="primary", on_click=on_draw, args=(task_name,))
