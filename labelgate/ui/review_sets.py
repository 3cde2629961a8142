"""The Review page's Targeted review tab: draw a review set, see what reviews found, compare strategies."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from labelgate import targeted
from labelgate.store import review_sets as review_store
from labelgate.store.monitor import llm_items
from labelgate.ui import figures
from labelgate.ui import format as fmt
from labelgate.ui.session import action, current_user, get_db
from labelgate.ui.widgets import plain, show_message

S = st.session_state
WHOLE_POOL = "every item it labeled"


@st.cache_data(ttl=600, max_entries=16, show_spinner="Scoring the strategies on the gold…")
def _comparison(task_name: str, labeler: str, version: str, gold_version: str) -> pd.DataFrame | str:
    from labelgate.store.tasks import get_task

    db = get_db()
    try:
        return targeted.compare_strategies(db, get_task(db, task_name), labeler, n_resamples=500)
    except targeted.ReviewRefused as exc:
        return str(exc)


@st.cache_data(ttl=15, max_entries=16, show_spinner=False)
def _batches(task_name: str, labeler: str, version: str) -> list[str]:
    """The labeler's batches (a scan of its labels: not on every rerun of the tab)."""
    from labelgate.store.tasks import get_task

    db = get_db()
    task = get_task(db, task_name)
    return sorted(set(llm_items(db, task.task_id, labeler, version, kind=task.kind)["batch"]))


@action("review")
def _on_draw(task_name: str, key: str) -> None:
    from labelgate.store.tasks import get_task

    db = get_db()
    batch = S[f"{key}_batch"]
    try:
        d = targeted.draw(db, get_task(db, task_name), S[f"{key}_labeler"], size=int(S[f"{key}_size"]),
                          by=S[f"{key}_by"], batch=None if batch == WHOLE_POOL else batch,
                          seed=int(S[f"{key}_seed"]), user=current_user())
    except (targeted.ReviewRefused, PermissionError) as exc:
        S["rev_t_message"] = ("error", f"Not drawn: {exc}")
        return
    S["rev_t_message"] = ("success", f"Drew review set {d.draw_id}: {len(d.items)} of {d.pool_size} items by "
                                     f"{d.strategy}. Experts get them on the Label page after the calibration set.")


def _ci(e, pct: bool = False) -> str:
    if e is None:
        return "–"
    if pct:
        return f"{e.estimate:.1%} ({e.ci_low:.1%} to {e.ci_high:.1%})"
    return f"{e.estimate:.1f} ({e.ci_low:.1f} to {e.ci_high:.1f})"


def render(task, refs: pd.DataFrame, gold_version: str, *, can_draw: bool) -> None:
    db = get_db()
    st.caption("Which items should people check next? A review set draws items of a labeler's pool by a strategy, "
               "with a probability proportional to its score and a floor, so every item keeps a chance. Review "
               "items are kept apart from the calibration set: their labels never enter gold, the gate, corrections "
               "or PPI. They show how many errors each strategy finds, replace the labeler's labels in export "
               "(source human_review), and give a weighted estimate of the pool's error rate.")
    if refs.empty:
        st.info(f"Task {plain(task.name)} has no labelers yet.")
        return
    key = f"rev_t_{task.name}"
    c1, c2, c3, c4, c5 = st.columns([3, 2, 2, 1, 1])
    labeler = c1.selectbox("Labeler", list(refs["name"]), key=f"{key}_labeler")
    version = dict(zip(refs["name"], refs["version"], strict=True))[labeler]
    batches = _batches(task.name, labeler, version)
    c2.selectbox("From", [WHOLE_POOL, *batches], key=f"{key}_batch")
    c3.selectbox("Strategy", list(targeted.STRATEGIES), key=f"{key}_by",
                 help="; ".join(f"{k}: {v}" for k, v in targeted.STRATEGIES.items()))
    c4.number_input("Items", min_value=1, max_value=1000, value=50, step=10, key=f"{key}_size")
    c5.number_input("Seed", min_value=0, value=0, step=1, key=f"{key}_seed")
    st.button("Draw review set", type="primary", on_click=_on_draw, args=(task.name, key), disabled=not can_draw,
              icon=":material/playlist_add:", help=None if can_draw else "Engineers and leads draw review sets.")
    show_message("rev_t_message")

    results = targeted.results(db, task)
    if results:
        st.markdown("**Review sets**")
        fmt.text_table(pd.DataFrame([{
            "set": r.draw_id, "labeler": r.labeler, "from": r.batch or WHOLE_POOL, "strategy": r.strategy,
            "items": r.size, "reviewed": r.n_reviewed, "labeler wrong": r.n_wrong,
            "errors per 100 reviewed (95% CI)": _ci(r.per_100),
            "pool error rate (weighted, 95% CI)": _ci(r.pool_error_rate, pct=True) if r.pool_error_rate
            else "once every item is reviewed"} for r in results]))
        latest = review_store.drawn_items(db, task.task_id, results[-1].draw_id)
        with st.expander(f"Items of review set {results[-1].draw_id}, and why each was picked"):
            st.dataframe(latest[["item_id", "reason", "score", "probability"]].rename(
                columns={"item_id": "item", "probability": "chance of being drawn"}), hide_index=True,
                width="stretch", key=f"{key}_items", height=min(38 + 35 * len(latest), 400),
                column_config={"score": st.column_config.NumberColumn(format="%.3f"),
                               "chance of being drawn": st.column_config.NumberColumn(format="%.3f")})

    table = _comparison(task.name, labeler, version, gold_version)
    if isinstance(table, str):
        st.info(plain(table))
        return
    st.plotly_chart(figures.strategy_yield(table, labeler=labeler), key=f"{key}_fig")
    missing = table[table["per_100"].isna()]
    notes = [f"{r.strategy}: {r.note}" for r in table.itertuples() if r.note]
    st.caption(plain("Expected errors per 100 items of a draw of 10% of the gold items the labeler labeled (the "
                     "error predictor cross-fitted, so no item scores itself)." + "".join(f" {n}." for n in notes))
               + ("" if missing.empty else " Strategies without their data are not shown."))
