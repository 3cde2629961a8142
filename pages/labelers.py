"""Labelers: define LLM labelers, preview them on three items, run them, watch and retry runs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from labelgate.labelers import PROVIDERS, LabelerConfig, default_family
from labelgate.llm.preflight import CostEstimate, estimate_run_cost, test_connection
from labelgate.llm.prompts import PromptTemplateError, check_template, default_template, render, shown_orders
from labelgate.llm.runner import RunOptions, plan_items, plan_retry, plan_run
from labelgate.llm.secrets import MissingApiKeyError, key_env_name
from labelgate.llm.service import get_handle, start_run
from labelgate.store import llm as run_store
from labelgate.store.items import current_set, get_items
from labelgate.store.labelers import current_labelers, labeler_history, save_labeler
from labelgate.store.tasks import get_task
from labelgate.tasks import Task
from labelgate.ui.session import action, get_db, require_page
from labelgate.ui.widgets import plain, task_picker

user = require_page("labelers")
db = get_db()
S = st.session_state
RUN_PROVIDERS = [p for p in PROVIDERS if p != "import"]


def flash(kind: str, text: str, where: str = "define") -> None:
    """A message shown once, next to the button that caused it (`where`: define | run)."""
    S["labelers_message"] = (where, kind, text)


def show_flash(where: str) -> None:
    if S.get("labelers_message", (None,))[0] == where:
        _, kind, text = S.pop("labelers_message")
        getattr(st, kind)(plain(text))


def form_config(task: Task) -> LabelerConfig:
    """The labeler described by the form's widgets (raises ValueError naming the bad field)."""
    return LabelerConfig(
        name=(S.get("labelers_name") or "").strip(), provider=S["labelers_provider"],
        model=(S.get("labelers_model") or "").strip(), family=(S.get("labelers_family") or "").strip(),
        base_url=(S.get("labelers_base_url") or "").strip() or None,
        prompt_template=S.get("labelers_prompt") or "", temperature=float(S["labelers_temperature"]),
        max_tokens=int(S["labelers_max_tokens"]), n_samples=int(S["labelers_samples"]),
        both_orders=bool(S.get("labelers_both_orders")) and task.kind == "pairwise",
        api_key_env=(S.get("labelers_key_env") or "").strip() or None)


def load_into_form(task: Task, name: str | None) -> None:
    """Fill the form from an existing labeler (or defaults for a new one)."""
    existing = {c.name: c for c in current_labelers(db, task.task_id)}.get(name) if name else None
    c = existing or LabelerConfig(name="new-labeler", provider="openai", model="gpt-4o",
                                  prompt_template=default_template(task), both_orders=task.kind == "pairwise")
    S.update({"labelers_name": c.name, "labelers_provider": c.provider if c.provider in RUN_PROVIDERS else "openai",
              "labelers_model": c.model, "labelers_family": c.family if existing else "",
              "labelers_base_url": c.base_url or "",
              "labelers_prompt": c.prompt_template or default_template(task), "labelers_temperature": c.temperature,
              "labelers_max_tokens": c.max_tokens, "labelers_samples": c.n_samples,
              "labelers_both_orders": c.both_orders, "labelers_key_env": c.api_key_env or ""})


def on_pick(task_name: str) -> None:
    pick = S.get("labelers_pick")
    load_into_form(get_task(db, task_name), None if pick == "(new labeler)" else pick)


@action("labelers")
def on_save(task_name: str) -> None:
    task = get_task(db, task_name)
    try:
        config = form_config(task)
        sample = get_items(db, task.task_id, limit=1)
        if not sample.empty:
            check_template(config.prompt_template, task, sample.iloc[0]["fields"].keys())
    except (ValueError, PromptTemplateError) as exc:
        flash("error", f"Not saved: {exc}")
        return
    before = {c.name: c.version for c in current_labelers(db, task.task_id)}.get(config.name)
    version = save_labeler(db, task.task_id, config, created_by=user.name)
    if before == version:
        flash("info", f"{config.name} is unchanged (version {version}).")
    elif before is None:
        flash("success", f"Created labeler {config.name}, version {version}.")
    else:
        flash("success", f"Saved {config.name} as a new version {version} (was {before}); "
                         "gate approvals of the old version no longer apply.")
    S["labelers_pick"] = config.name


def on_test_connection(task_name: str) -> None:
    """One call with the form's labeler (saved or not) on the first preview item."""
    task = get_task(db, task_name)
    try:
        config = form_config(task)
    except ValueError as exc:
        flash("error", f"Not sent: {exc}", "test")
        return
    ids = S.get("labelers_preview_ids") or []
    if not ids:
        flash("error", "Not sent: the task has no items to put in the prompt yet.", "test")
        return
    fields = get_items(db, task.task_id, ids[:1]).iloc[0]["fields"]
    check = test_connection(config, task, fields, timeout=float(S.get("labelers_timeout", 20)))
    flash("success" if check.ok else "error", check.message, "test")


@st.cache_data(ttl=30, max_entries=16, show_spinner="Estimating the cost…")
def run_cost(task_name: str, name: str, version: str, items: str) -> CostEstimate:
    return estimate_run_cost(plan_run(db, get_task(db, task_name), name, items))


def run_options() -> RunOptions:
    """The Run tab's settings (defaults before the tab was ever shown)."""
    return RunOptions(concurrency=int(S.get("labelers_concurrency", 8)), rpm=S.get("labelers_rpm") or None,
                      timeout=float(S.get("labelers_timeout", 60)))


@action("labelers")
def on_start(task_name: str, items: str) -> None:
    """Start a run; the labeler and item set are read from the widgets at click time."""
    task = get_task(db, task_name)
    if items == "preview":
        name = (S.get("labelers_name") or "").strip()
    else:
        name, items = S["labelers_run_labeler"], S["labelers_run_items"]
    try:
        options = run_options()
        plan = (plan_items(db, task, name, S["labelers_preview_ids"], batch="preview") if items == "preview"
                else plan_run(db, task, name, items))
        handle = start_run(db, plan, options, started_by=user.name)
    except (ValueError, LookupError, MissingApiKeyError, PromptTemplateError) as exc:
        flash("error", f"Not started: {exc}", "preview" if items == "preview" else "run")
        return
    S["labelers_run_id"] = handle.run_id
    flash("info", f"Started run {handle.run_id}: {len(plan.units)} items, {plan.n_calls} calls.",
          "preview" if items == "preview" else "run")


@action("labelers")
def on_cancel(run_id: int) -> None:
    handle = get_handle(run_id)
    if handle is not None:
        handle.cancel()


@action("labelers")
def on_retry(run_id: int) -> None:
    try:
        handle = start_run(db, plan_retry(db, run_id), run_options(),
                           started_by=user.name)
    except (LookupError, ValueError, MissingApiKeyError) as exc:
        flash("error", f"Not retried: {exc}", "run")
        return
    S["labelers_run_id"] = handle.run_id
    flash("info", f"Retrying the failed items of run {run_id} as run {handle.run_id}.", "run")


@st.fragment(run_every=1.0)
def live_run(run_id: int) -> None:
    """Progress of a run of this process, refreshed every second until it ends."""
    handle = get_handle(run_id)
    if handle is None or handle.done:
        st.rerun()  # show the final state once, without polling
    p = handle.progress()
    st.progress(p.fraction, text=p.as_text())
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Labeled", p.done)
    c2.metric("Failed", p.failed)
    c3.metric("Spent", f"${p.cost_usd:.4f}")
    c4.metric("ETA", f"{p.eta:.0f} s" if p.eta is not None else "–")
    st.button("Cancel run", on_click=on_cancel, args=(run_id,), icon=":material/stop:")


def run_monitor(run_id: int) -> None:
    """Progress of the selected run: live from this process's handle, else from the database."""
    handle = get_handle(run_id)
    if handle is not None and not handle.done:
        live_run(run_id)
        return
    run = run_store.get_run(db, run_id)
    total = max(int(run["n_items"]), 1)
    st.progress(min((run["n_labeled"] + run["n_failed"]) / total, 1.0),
                text=f"run {run_id} {run['status']}: {run['n_labeled']} labeled, {run['n_failed']} failed of "
                     f"{run['n_items']} items; {run['n_requests']} requests, {run['n_cached']} cached, "
                     f"${run['cost_usd']:.4f}")
    if handle is not None and handle.error:
        st.error(plain(handle.error))
    elif run.get("message"):
        st.warning(plain(run["message"]))
    failures = run_store.run_failures(db, run_id)
    if not failures.empty:
        st.markdown(f"**{len(failures)} failed calls**")
        st.dataframe(failures[["item_id", "batch", "shown_order", "error", "resolved"]], hide_index=True)
        st.button("Retry failed items", on_click=on_retry, args=(run_id,), icon=":material/replay:")


# --- page --------------------------------------------------------------------------------------

st.title("Labelers")
def on_task_change() -> None:
    """Another task: its own labelers and prompt, never the previous task's form."""
    S["labelers_pick"] = "(new labeler)"
    S.pop("labelers_run_id", None)
    load_into_form(get_task(db, S["labelers_task"]), None)


task_name = task_picker("labelers_task", on_change=on_task_change)
task = get_task(db, task_name)
labelers = current_labelers(db, task.task_id)

if labelers:
    st.dataframe(pd.DataFrame([{"labeler": c.name, "provider": c.provider, "model": c.model, "family": c.family,
                                "version": c.version, "samples": c.n_samples, "both orders": c.both_orders}
                               for c in labelers]), hide_index=True)
else:
    st.info("No labelers yet for this task: define one below.")

define_tab, run_tab, history_tab = st.tabs(["Define and preview", "Run", "History"])

with define_tab:
    choices = ["(new labeler)"] + [c.name for c in labelers]
    if "labelers_name" not in S:
        load_into_form(task, None)
    st.selectbox("Edit", choices, key="labelers_pick", on_change=on_pick, args=(task_name,))
    c1, c2, c3 = st.columns(3)
    c1.text_input("Name", key="labelers_name")
    c2.selectbox("Provider", RUN_PROVIDERS, key="labelers_provider",
                 help="openai-compatible: vLLM, Ollama, LM Studio or any server with the OpenAI chat API")
    c3.text_input("Model", key="labelers_model")
    c4, c5, c6 = st.columns(3)
    c4.text_input("Family", key="labelers_family", placeholder=default_family(S.get("labelers_model") or ""),
                  help="Labelers of the same family share pretraining; leave empty to guess from the model name")
    c5.text_input("Base URL", key="labelers_base_url", placeholder="https://… (openai-compatible only)")
    c6.text_input("API key variable", key="labelers_key_env",
                  placeholder="OPENAI_API_KEY / ANTHROPIC_API_KEY",
                  help="OPENAI_API_KEY, ANTHROPIC_API_KEY or LABELGATE_<NAME>_KEY, in the environment or "
                       "Streamlit secrets; keys are never stored. A labeler with a base URL gets a key only "
                       "when this names one")
    c7, c8, c9, c10 = st.columns(4)
    c7.number_input("Temperature", 0.0, 2.0, step=0.1, key="labelers_temperature")
    c8.number_input("Max tokens", 1, 32_000, key="labelers_max_tokens")
    c9.number_input("Samples per item", 1, 20, key="labelers_samples",
                    help="More than one gives a self-consistency confidence")
    c10.checkbox("Judge both orders", key="labelers_both_orders", disabled=task.kind != "pairwise",
                 help="Pairwise: ask with the outputs swapped too, to measure position bias")
    st.text_area("Prompt template", key="labelers_prompt", height=220,
                 help="Placeholders: the item's fields by name, {item} (all shown fields), {rubric}, {labels}, "
                      "{options}, {task}; pairwise also {first}, {second}. {{ and }} for literal braces.")
    b1, b2, _ = st.columns([1, 1, 3])
    b1.button("Save labeler", type="primary", on_click=on_save, args=(task_name,))
    b2.button("Test connection", on_click=on_test_connection, args=(task_name,), icon=":material/cable:",
              help="Sends one request — the first item's prompt — with the settings in the form, saved or not")
    show_flash("define")
    show_flash("test")

    st.subheader("Preview on three items")
    pool = current_set(db, task.task_id, "calibration") or list(get_items(db, task.task_id, limit=3)["item_id"])
    S["labelers_preview_ids"] = pool[:3]
    if pool:
        try:
            draft = form_config(task)
            preview_items = get_items(db, task.task_id, pool[:3])
            for row in preview_items.itertuples():
                with st.expander(f"Prompt for item {plain(row.item_id)}"):
                    for order in shown_orders(task, draft):
                        st.caption(f"shown order {order}" if order else "prompt")
                        st.text(render(draft.prompt_template, task, row.fields, shown_order=order), width="stretch")
        except (ValueError, PromptTemplateError) as exc:
            st.error(plain(exc))
        saved = {c.name: c.version for c in labelers}
        name = (S.get("labelers_name") or "").strip()
        try:
            unsaved = saved.get(name) != form_config(task).version
        except ValueError:
            unsaved = True
        st.button("Send these three to the model", on_click=on_start, args=(task_name, "preview"),
                  disabled=unsaved, help="Sends the saved version: save your edits first, so that what is sent is"
                                         " what you see. Answers are cached and reused by runs.")
        show_flash("preview")
        if S.get("labelers_run_id"):
            outcomes = run_store.run_outcomes(db, S["labelers_run_id"])
            if not outcomes.empty and (outcomes["batch"] == "preview").any():
                st.dataframe(outcomes[["item_id", "shown_order", "outcome", "value", "confidence", "raw_response",
                                       "error"]], hide_index=True)

with run_tab:
    if not labelers:
        st.info("Define a labeler first.")
    else:
        runnable = [c.name for c in labelers if c.provider != "import"]
        if not runnable:
            st.info("This task's labelers are imported (their labels came from files): define one to run.")
        else:
            c1, c2 = st.columns(2)
            name = c1.selectbox("Labeler", runnable, key="labelers_run_labeler")
            batches = run_store.list_item_batches(db, task.task_id)
            sets = ["calibration", "anchor"] + [f"batch:{b}" for b in batches["batch"]]
            items = c2.selectbox("Items", sets, key="labelers_run_items",
                                 help="A batch run also re-labels the task's anchor set, to catch drift")
            c3, c4, c5 = st.columns(3)
            c3.number_input("Concurrency", 1, 256, value=8, key="labelers_concurrency")
            c4.number_input("Requests per minute (0: no limit)", 0, 100_000, value=0, key="labelers_rpm")
            c5.number_input("Timeout per request (s)", 1, 600, value=60, key="labelers_timeout",
                            help="A request without an answer by then is retried, with backoff, up to 5 times")
            config = next(c for c in labelers if c.name == name)
            key_env = key_env_name(config)
            st.caption(plain(f"Uses version {config.version}; "
                             + (f"the API key is read from ${key_env}." if key_env else "no API key is sent.")))
            try:
                cost = run_cost(task_name, name, config.version, items)
            except (ValueError, LookupError, PromptTemplateError) as exc:
                st.warning(plain(f"No cost estimate: {exc}"))
            else:
                st.info(f"**Estimated cost of this run:** {cost.describe()}", icon=":material/payments:")
            st.button("Start run", type="primary", on_click=on_start, args=(task_name, "run"))
        show_flash("run")
        if S.get("labelers_run_id"):
            run_monitor(S["labelers_run_id"])

with history_tab:
    runs = run_store.list_runs(db, task.task_id)
    if runs.empty:
        st.info("No runs yet.")
    else:
        st.dataframe(runs[[c for c in ("run_id", "labeler", "version", "item_set", "status", "n_items", "n_labeled",
                                       "n_failed", "n_requests", "n_cached", "cost_usd", "started_by", "started_at")
                           if c in runs.columns]], hide_index=True)
        pick = st.selectbox("Show run", runs["run_id"], key="labelers_show_run")
        if st.button("Show progress and failures", key="labelers_show"):
            S["labelers_run_id"] = int(pick)
            st.rerun()
    if labelers:
        with st.expander("Version history"):
            hist_name = st.selectbox("History of", [c.name for c in labelers], key="labelers_hist")
            hist = labeler_history(db, task.task_id, hist_name)
            st.dataframe(hist[["version", "model", "temperature", "n_samples", "created_by", "created_at"]],
                         hide_index=True)
