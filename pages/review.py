"""Review: disagreement queues, adjudication of expert disputes, how reliable the experts are, and
publishing the draft gold as a release. The page works on the live draft."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from labelgate import calibrate as cal
from labelgate import gold as goldlib
from labelgate import review
from labelgate.auth import can_draw_review
from labelgate.gate import MIN_EXPERT_OVERLAP
from labelgate.store import gold as gold_store
from labelgate.store.items import item_meta_frame
from labelgate.store.labels import human_labels
from labelgate.store.tasks import get_task
from labelgate.ui import review_sets
from labelgate.ui.format import display_columns, history_columns
from labelgate.ui.session import action, get_db, require_page
from labelgate.ui.widgets import criterion_picker, plain, require_task_names, show_message

user = require_page("review")
db = get_db()
S = st.session_state


@st.cache_data(ttl=15, max_entries=8, show_spinner=False)
def task_state(task_name: str, criterion: str | None = None):
    task = get_task(db, task_name)
    task = task.criterion(criterion) if criterion else task
    return task, goldlib.load_gold(db, task), cal.labeler_refs(db, task)


@st.cache_data(ttl=60, max_entries=16, show_spinner=False)
def per_item(task_name: str, criterion: str | None, versions: tuple[tuple[str, str], ...],
             gold_version: str) -> dict:
    task, gold, refs = task_state(task_name, criterion)
    judgments = gold_store.llm_judgments(db, task.task_id, labelers=list(versions), criterion=task.criterion_name)
    return review.item_labels(task, gold, judgments)


@st.cache_data(ttl=15, max_entries=32, show_spinner=False)
def history(task_name: str, criterion: str | None, item_id: str) -> dict:
    return review.item_history(db, task_state(task_name, criterion)[0], item_id)


@st.cache_data(ttl=15, max_entries=8, show_spinner="Bootstrapping expert agreement…")
def reliability(task_name: str, criterion: str | None, gold_version: str) -> dict:
    task, gold, _ = task_state(task_name, criterion)
    return review.expert_reliability(task, human_labels(db, task.task_id, criterion=task.criterion_name), gold)


@st.cache_data(ttl=15, max_entries=8, show_spinner="Bootstrapping expert agreement per domain…")
def reliability_per_domain(task_name: str, criterion: str | None, gold_version: str) -> dict:
    task, gold, _ = task_state(task_name, criterion)
    meta = item_meta_frame(db, task.task_id).set_index("item_id")
    if task.domain_column not in meta.columns:
        return {"kappa": pd.DataFrame(), "consensus": pd.DataFrame()}
    return review.reliability_by_domain(task, human_labels(db, task.task_id, criterion=task.criterion_name), gold,
                                        meta[task.domain_column])


CI = {"ci_low": st.column_config.NumberColumn("95% CI low", format="%.3f"),
      "ci_high": st.column_config.NumberColumn("95% CI high", format="%.3f")}
PAIR_COLUMNS = {"items": st.column_config.NumberColumn("items both labeled", format="%d"),
                "estimate": st.column_config.NumberColumn("agreement", format="%.3f"), **CI}
CONSENSUS_COLUMNS = {"items": st.column_config.NumberColumn("items", format="%d"),
                     "agreement": st.column_config.NumberColumn("agreement with consensus", format="%.3f"), **CI}


@st.cache_data(ttl=15, max_entries=16, show_spinner=False)
def rationale_hits(task_name: str, criterion: str | None, query: str):
    return review.rationale_matches(db, task_state(task_name, criterion)[0], query)


@st.cache_data(ttl=15, max_entries=8, show_spinner=False)
def split_votes(task_name: str, criterion: str | None, gold_version: str) -> dict:
    from labelgate.analysis import human_split

    task = task_state(task_name, criterion)[0]
    return human_split(task, gold_store.expert_labels(db, task.task_id, criterion=task.criterion_name))


@action("review")
def value_key(prefix: str, task_name: str, criterion: str | None, item_id: str) -> str:
    """A widget's key for one item (and criterion, on a task with several)."""
    return f"{prefix}_{task_name}_{item_id}" if criterion is None else f"{prefix}_{task_name}_{criterion}_{item_id}"


def on_adjudicate(task_name: str, criterion: str | None, item_id: str) -> None:
    task = task_state(task_name, criterion)[0]
    try:
        review.adjudicate(db, task, item_id, S.get(value_key("rev_value", task_name, criterion, item_id)),
                          decided_by=user.name,
                          reason=S.get(value_key("rev_reason", task_name, criterion, item_id), ""))
    except ValueError as exc:
        S["rev_message"] = ("error", f"Not recorded: {exc}")
        return
    for fn in (task_state, per_item, history, reliability, split_votes, rationale_hits):
        fn.clear()
    value = S.get(value_key("rev_value", task_name, criterion, item_id))
    S["rev_message"] = ("success", f"Recorded the gold of {item_id} as {value} "
                                   f"(decided by {user.name}). The experts' own labels are unchanged.")


def on_publish(task_name: str) -> None:
    task = get_task(db, task_name)
    try:
        rel = goldlib.publish(db, task, user=user, note=S.get(f"rev_note_{task_name}", ""))
    except (ValueError, PermissionError, RuntimeError) as exc:
        S["rev_release_message"] = ("error", f"Not published: {exc}")
        return
    S[f"rev_note_{task_name}"] = ""
    S["rev_release_message"] = ("success", f"Published gold release {rel.number} of {task.name}: {rel.n_items} gold "
                                           f"items, {rel.n_disputed} disputed left out.")


st.title("Review")
st.caption("Disagreements go to people: between the experts, between a labeler and the gold, and between "
           "labelers of different families. An adjudication records the final gold label, who decided and why; "
           "it never changes anybody's own labels.")

names = require_task_names()
focus = S.pop("review_focus", None)
if focus and focus[1] in names:  # sent here from Compare
    S["rev_task"], S["rev_queue"] = focus[1], focus[0]
    S[f"rev_item_{focus[1]}"] = S["rev_wanted"] = focus[2]
S.setdefault("rev_queue", review.QUEUES[0])
task_name = st.selectbox("Task", names, key="rev_task")
whole = task_state(task_name)[0]
criterion = criterion_picker(f"rev_criterion_{task_name}", whole, allow_all=False)
task, gold, refs = task_state(task_name, criterion)
show_message("rev_message")

tab_queue, tab_humans, tab_releases, tab_targeted = st.tabs(
    ["Queue", "Human reliability", "Gold releases", "Targeted review"], key="rev_tabs", on_change="rerun")

lab = S.get("rev_lab")   # sent from the Compare page's alignment lab: (task, variants, dev items)
with tab_queue:
    items = per_item(task_name, criterion, tuple(zip(refs["name"], refs["version"], strict=True)), gold.version)
    families = dict(zip(refs["name"], refs["family"], strict=True))
    kind = None
    if lab and lab[0] == task_name:
        st.info(plain(f"From the alignment lab: the dev items where {', '.join(lab[1])} disagree with the gold or "
                      "with each other."), icon=":material/science:")
        st.button("Back to the queues", key="rev_lab_clear", on_click=lambda: S.pop("rev_lab", None))
        queue = review.variant_disagreements(task, items, list(lab[1]), lab[2])
        empty = "These variants agree with the gold and with each other on every dev item."
    else:
        kind = st.segmented_control("Queue", review.QUEUES, key="rev_queue") or review.QUEUES[0]
    if kind is None:
        pass
    elif kind == "expert vs expert":
        queue = review.expert_vs_expert(gold)
        empty = "No expert disputes are open: every item's experts agree or it has been adjudicated."
    elif kind == "labeler vs gold":
        if refs.empty:
            st.info("This task has no labelers.")
            st.stop()
        labeler = st.selectbox("Labeler", list(refs["name"]), key="rev_labeler")
        queue = review.labeler_vs_gold(task, items, labeler)
        empty = f"{plain(labeler)} agrees with the gold on every item."
    else:
        queue = review.cross_family_disagreements(task, items, families)
        empty = "No item has labelers of different families disagreeing."
    query = st.text_input("Search rationales", key=f"rev_rationale_q_{task_name}",
                           placeholder="words a rationale holds (human or LLM; case-insensitive)")
    hits = rationale_hits(task_name, criterion, query.strip()) if query.strip() else None
    if hits is not None:
        if not queue.empty:
            queue = queue[queue["item_id"].isin(set(hits["item_id"]))]
        n_hit_items = int(hits["item_id"].nunique())
        st.caption(f"{len(hits)} rationales on {n_hit_items} items hold every word of "
                   f"“{plain(query.strip())}”; {len(queue)} of those items are in this queue.")
        if not hits.empty:
            st.dataframe(display_columns(hits), hide_index=True, key="rev_rationale_hits",
                         height=min(38 + 35 * len(hits), 250), column_config={"by": "rater or labeler",
                                        "rationale": st.column_config.TextColumn("rationale", width="large")})
    else:
        st.caption(f"{len(queue)} items in this queue.")
    ids = list(queue["item_id"]) if not queue.empty else []
    wanted = S.get("rev_wanted")
    if wanted and wanted not in ids and wanted in set(items["verdict"].index) | set(gold.labels["item_id"]):
        ids = [wanted, *ids]  # an item sent here stays reachable even if it left the queue
    if not ids and hits is not None:
        st.info("No item of this queue has a rationale holding those words.")
    elif not ids:
        st.success(empty)
    else:
        st.dataframe(display_columns(queue), hide_index=True, key="rev_table",
                     height=min(38 + 35 * len(queue), 250))
        item_id = st.selectbox("Item", ids, key=f"rev_item_{task_name}")
        h = history(task_name, criterion, item_id)
        vkey, rkey = (value_key(p, task_name, criterion, item_id) for p in ("rev_value", "rev_reason"))
        st.subheader(plain(item_id))
        for name, text in h["fields"].items():
            with st.container(border=True):
                st.caption(plain(name))
                st.text(str(text), width="stretch")
        g = gold.labels.set_index("item_id")
        current = g.loc[item_id, "value"] if item_id in g.index else None
        source = g.loc[item_id, "source"] if item_id in g.index else None
        st.markdown(f"**Gold:** {plain(current)} ({plain(source)})" if current is not None else
                    "**Gold:** none — " + ("in dispute" if item_id in set(gold.disputed["item_id"]) else
                                           "no expert labels"))
        # one above the other, each the page's width: side by side, the time and the confidence were cut off
        st.markdown("**Experts' labels** (revealed for review)")
        st.dataframe(history_columns(h["experts"]), hide_index=True, key="rev_experts")
        st.markdown("**Labelers' labels**")
        st.dataframe(history_columns(h["labelers"]), hide_index=True, key="rev_labelers_table")
        if not h["adjudications"].empty:
            st.markdown("**Adjudications** (newest first; the first is the gold)")
            st.dataframe(history_columns(h["adjudications"]), hide_index=True, key="rev_adjudications")
        with st.container(border=True):
            st.markdown("**Adjudicate**: the final gold label of this item")
            if task.kind == "continuous":
                lo, hi = task.spec["range"]
                st.number_input(f"Gold value ({lo:g} to {hi:g})", min_value=float(lo), max_value=float(hi),
                                value=None, key=vkey)
            else:
                st.selectbox("Gold label", task.labels, index=None, key=vkey,
                             placeholder="choose the final label")
            st.text_area("Why", key=rkey, placeholder="What decided it (required)")
            save_key = f"rev_save_{item_id}" if criterion is None else f"rev_save_{criterion}_{item_id}"
            st.button("Record adjudication", type="primary", key=save_key,
                      disabled=S.get(vkey) is None, on_click=on_adjudicate,
                      args=(task_name, criterion, item_id))

with tab_humans:
    rel = reliability(task_name, criterion, gold.version)
    st.caption("Experts are the people who label in this app. Imported human labels (a benchmark's majority, an "
               "earlier campaign) are not counted as experts here: they are measured apart, below.")
    if rel["n_raters"] < 2:
        st.info(f"{rel['n_raters']} expert(s) labeled this task in the app: agreement among experts needs at "
                "least two on the same items.")
    else:
        alpha = rel["alpha"]
        # the gate's rule: agreement among experts is judged from MIN_EXPERT_OVERLAP shared items, not from noise
        few = alpha is not None and alpha.n < MIN_EXPERT_OVERLAP
        st.metric("Krippendorff's alpha among experts",
                  "–" if alpha is None else "not evaluable yet" if few else f"{alpha.estimate:.3f}",
                  help=review.describe(alpha))
        if few:
            st.caption(f"The experts share {alpha.n} item{'s' if alpha.n != 1 else ''} so far; agreement counts "
                       f"from {MIN_EXPERT_OVERLAP} shared items (so far {review.describe(alpha)}).")
        elif alpha is not None:
            st.caption(f"95% CI {review.describe(alpha)} (bootstrap over {alpha.n} items labeled by two or more).")
        st.markdown("**Pairwise agreement between experts** (95% CI)")
        st.dataframe(rel["kappa"], hide_index=True, key="rev_kappa", column_config=PAIR_COLUMNS)
    st.markdown("**Each expert against the consensus** (gold of the items they labeled; Wilson 95% CI)")
    if rel["consensus"].empty:
        st.caption("No expert's answers overlap the gold yet.")
    else:
        st.dataframe(rel["consensus"], hide_index=True, key="rev_consensus", column_config=CONSENSUS_COLUMNS)
    st.markdown("**Test-retest**: each expert against their own earlier labels")
    if rel["retest"].empty:
        st.caption("No retests answered yet. About 10% of each expert's items come back to them, blind, after "
                   "they have answered 20 more items (or after 24 hours).")
    else:
        st.dataframe(rel["retest"], hide_index=True, key="rev_retest", column_config={
            "retested items": st.column_config.NumberColumn("retested items", format="%d"),
            "same label as before": st.column_config.NumberColumn("same label as before", format="%.3f"), **CI})
    if task.domain_column:
        by_domain = reliability_per_domain(task_name, criterion, gold.version)
        st.markdown(f"**Per domain** (routing by expertise on the items' {plain(task.domain_column)}): agreement "
                    "between experts, and each expert against the consensus, within each domain")
        if by_domain["kappa"].empty:
            st.caption("No two experts labeled the same items of one domain yet.")
        else:
            st.dataframe(by_domain["kappa"], hide_index=True, key="rev_domain_kappa", column_config={
                "items": st.column_config.NumberColumn("items (n)"),
                "estimate": st.column_config.NumberColumn("agreement", format="%.3f"), **CI})
        if not by_domain["consensus"].empty:
            st.dataframe(by_domain["consensus"], hide_index=True, key="rev_domain_consensus", column_config={
                "items": st.column_config.NumberColumn("items (n)"),
                "agreement": st.column_config.NumberColumn("agreement with consensus", format="%.3f"), **CI})
    split = split_votes(task_name, criterion, gold.version)
    if split["n_items"]:
        st.markdown(f"**Split human votes** (experts and imported raters): {split['n_split']} of "
                    f"{split['n_items']} items with two or more raters ({split['share']:.0%}, Wilson 95% CI "
                    f"{split['ci_low']:.0%} to {split['ci_high']:.0%}) have raters who did not all give the same "
                    "label. Export soft labels (Data page) to keep that disagreement as a training signal.")
    imported = rel["imported"]
    if imported["n_raters"]:
        st.markdown(f"**Imported human raters** ({imported['n_raters']}; their labels came in a file, so they are "
                    "not in the experts' agreement above): each against the consensus")
        st.dataframe(imported["consensus"], hide_index=True, key="rev_imported_consensus",
                     column_config=CONSENSUS_COLUMNS)
        if not imported["kappa"].empty:
            st.markdown("**Pairwise agreement between imported raters** (95% CI)")
            st.dataframe(imported["kappa"], hide_index=True, key="rev_imported_kappa", column_config=PAIR_COLUMNS)
    st.caption("Gold is the adjudicated label, else the agreed label of the item's raters (imported ones "
               "included); "
               f"{gold.n_disputed} items still in dispute are left out of gold.")

task, gold, refs = task_state(task_name)   # releases and targeted draws are of the whole task, as before

with tab_releases:
    st.caption("Expert answers and adjudications go into the live draft. A release freezes it: Calibrate, Compare, "
               "the Gate and exports measure against the latest release, so an approval stays fresh while experts "
               "go on labeling, until a newer release is published.")
    releases = goldlib.list_releases(db, task)
    latest = releases[-1] if releases else None
    progress = goldlib.draft_progress(db, task, latest)
    if latest is not None:
        change = goldlib.diff_gold(goldlib.release_gold(db, task, latest.number), gold)
        st.markdown(f"**Draft:** {progress.describe()} Against release {latest.number}: {change.summary()}; "
                    f"the draft has {gold.n_items} gold items and {gold.n_disputed} in dispute.")
    else:
        st.markdown(f"**Draft:** no release yet; the draft has {gold.n_items} gold items and {gold.n_disputed} in "
                    "dispute.")
    with st.container(border=True):
        st.text_input("Note (optional)", key=f"rev_note_{task_name}",
                      placeholder="What this release is about, e.g. 'first 50 expert items adjudicated'")
        st.button(f"Publish release {latest.number + 1 if latest else 1}", type="primary", key="rev_publish",
                  on_click=on_publish, args=(task_name,), icon=":material/new_releases:",
                  disabled=gold.n_items == 0 or (latest is not None and not progress.has_news))
        msg = S.pop("rev_release_message", None)
        if msg:
            getattr(st, msg[0])(msg[1])
    if releases:
        def alpha(r) -> str:
            a = r.expert_alpha
            return "not measurable" if a is None else f"{a.estimate:.3f} [{a.ci_low:.3f}, {a.ci_high:.3f}]"

        st.dataframe(pd.DataFrame([{"release": r.number, "published": r.created_at.strftime("%Y-%m-%d %H:%M"),
                                    "by": r.created_by, "gold items": r.n_items, "disputed": r.n_disputed,
                                    "expert alpha (95% CI)": alpha(r), "note": r.note or ""}
                                   for r in reversed(releases)]),
                     hide_index=True, width="stretch", key="rev_releases",
                     column_config={"note": st.column_config.TextColumn(width="large")})

with tab_targeted:
    if tab_targeted.open:   # the strategy comparison fits an error predictor: only when this tab is shown
        review_sets.render(task, refs, gold.version, can_draw=can_draw_review(user.role))
