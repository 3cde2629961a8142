"""The alignment lab's "Propose rewrites from the train errors" (labelgate.align.propose): a model rewrites a
labeler's instructions from its mistakes on the train split; the rewrites land in the variants box, to run on
dev like any other variant."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from labelgate.llm.pricing import cost_text, is_priced
from labelgate.store.tasks import get_task
from labelgate.ui import format as fmt
from labelgate.ui.session import action, current_user, get_db
from labelgate.ui.widgets import show_message

S = st.session_state
SAME = "as the base labeler"


@st.cache_data(ttl=15, max_entries=16, show_spinner=False)
def runnable(task_name: str, versions: tuple[tuple[str, str], ...]) -> list[str]:
    """The task's labelers that can be run (not imported), in name order: keyed by labeler versions."""
    from labelgate.store.labelers import current_labelers

    db = get_db()
    return sorted(c.name for c in current_labelers(db, get_task(db, task_name).task_id) if c.provider != "import")


@st.cache_data(ttl=15, max_entries=16, show_spinner=False)
def history(task_name: str, n: int) -> pd.DataFrame:
    from labelgate.store import align as align_store

    db = get_db()
    return align_store.proposals(db, get_task(db, task_name).task_id)


@action("compare")
def on_propose(task_name: str, criterion: str | None, release: int | None, refresh=None) -> None:
    """Ask the proposer for rewrites from the base labeler's train errors; put them in the variants box."""
    from labelgate import gold as goldlib
    from labelgate.align.propose import ProposalError, propose
    from labelgate.labelers import LabelerConfig
    from labelgate.llm.secrets import MissingApiKeyError
    from labelgate.store.labelers import get_labeler

    user = current_user()   # an engineer or a lead: the only roles that open the Compare page (action checks)
    db = get_db()
    task = get_task(db, task_name)
    task = task.criterion(criterion) if criterion else task
    k = f"cmp_propose_{task_name}"
    model = (S.get(f"{k}_model") or "").strip()
    if not model:
        S["cmp_propose_message"] = ("error", "Not asked: name the proposer's model")
        return
    try:
        base = get_labeler(db, task.task_id, S.get(f"{k}_base") or "")
        chosen = S.get(f"{k}_provider") or SAME
        provider = base.provider if chosen == SAME else chosen
        same = provider == base.provider
        proposer = LabelerConfig(name="proposer", provider=provider, model=model,
                                 base_url=(S.get(f"{k}_url") or "").strip() or (base.base_url if same else None),
                                 api_key_env=base.api_key_env if same else None, temperature=0.7, max_tokens=4000)
        out = propose(db, task, base.name, proposer=proposer, n=int(S.get(f"{k}_n") or 3),
                      gold_release=goldlib.chosen_gold(db, task, release).release, created_by=user.name)
    except (ProposalError, MissingApiKeyError, LookupError, ValueError) as exc:
        S["cmp_propose_message"] = ("error", f"Nothing stored: {exc}")
        return
    for fn in (runnable, history):
        fn.clear()
    if refresh is not None:
        refresh()
    S[f"cmp_run_variants_{task_name}"] = out["variants_file"]     # "Run on dev" runs them
    names = ", ".join(v["name"] for v in out["variants"])
    skipped = "".join(f" Proposal {r['index']} not used: {r['reason']}." for r in out["rejected"])
    S["cmp_propose_message"] = (
        "success", f"Proposal {out['proposal_id']}: {base.name} got {out['n_errors']} of {out['n_train_items']} train "
                   f"items wrong; {out['n_errors_shown']} were shown to {model} (no dev or test item). Saved "
                   f"{len(out['variants'])} variant(s): {names}.{skipped} They are in the variants box: Run on dev to "
                   f"compare them. Cost: train run {cost_text(out['train_run']['cost_usd'], out['base']['model'])} "
                   f"({out['train_run']['requests']} requests, {out['train_run']['cached_calls']} cached), proposer "
                   f"{cost_text(out['proposer']['cost_usd'], model)}.")


def render(task_name: str, criterion: str | None, release: int | None, versions, *, refresh=None) -> None:
    """The expander of the lab (under "Run variants on the dev split")."""
    from labelgate.labelers import PROVIDERS

    k = f"cmp_propose_{task_name}"
    with st.expander("Propose rewrites of a labeler's instructions from its train errors"):
        st.caption("The base labeler labels the train items (through the runner and its cache); the items it got "
                   "wrong, with the gold label, go to the proposer model, which writes rewritten instructions. Each "
                   "becomes a variant with the same model and settings. Only train items are shown: a rewrite "
                   "written from dev errors would look better on dev for that reason alone.")
        names = runnable(task_name, versions)
        if not names:
            st.info("No labeler of this task can be run (imported labels only): add one on the Labelers page.")
            return
        c1, c2, c3, c4 = st.columns([2, 2, 2, 1], vertical_alignment="bottom")
        c1.selectbox("Base labeler", names, key=f"{k}_base")
        c2.text_input("Proposer model", key=f"{k}_model", placeholder="gpt-4o")
        c3.selectbox("Proposer provider", [SAME, *(p for p in PROVIDERS if p != "import")], key=f"{k}_provider")
        c4.number_input("Rewrites", min_value=1, max_value=10, value=3, step=1, key=f"{k}_n")
        b1, b2 = st.columns([3, 1], vertical_alignment="bottom")
        b1.text_input("Proposer base URL (optional)", key=f"{k}_url",
                      help="Empty: the base labeler's when the provider is the same, else the provider's API.")
        b2.button("Propose rewrites", key="cmp_propose", on_click=on_propose,
                  args=(task_name, criterion, release, refresh), icon=":material/auto_fix_high:")
        show_message("cmp_propose_message")
        past = history(task_name, len(versions))
        if not past.empty:
            st.caption("Every proposal (the prompt sent and the answer are recorded with it):")
            fmt.text_table(pd.DataFrame({
                "Proposal": past["proposal_id"].map(fmt.count),
                "When": past["created_at"].map(lambda t: f"{pd.Timestamp(t):%Y-%m-%d %H:%M}"),
                "By": past["created_by"], "Base labeler": past["base_labeler"], "Proposer": past["proposer_model"],
                "Train errors shown": [f"{len(json.loads(ids))} of {fmt.count(n)}"
                                       for ids, n in zip(past["error_item_ids"], past["n_errors"], strict=True)],
                "Proposer cost": [cost_text(x if is_priced(m, p) else None, m) for x, m, p in zip(
                    past["cost_usd"], past["proposer_model"], past["proposer_provider"], strict=True)],
                "Variants": past["variants"].map(lambda v: ", ".join(x["name"] for x in json.loads(v)))}))
