"""Review on the HANNA demo task: the share of split human votes (issue 11, point 9) and rationales
beside each label, searchable (point 8)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from labelgate.analysis import human_split
from labelgate.store.gold import expert_labels
from labelgate.store.tasks import get_task


@pytest.fixture
def demo_db(hanna_db):
    return hanna_db


def test_human_reliability_shows_the_share_of_split_votes_with_its_ci(app_for, demo_db):
    at = app_for("lead", page="pages/review.py")
    assert not at.exception, at.exception
    task = get_task(demo_db, "hanna-stories")
    s = human_split(task, expert_labels(demo_db, task.task_id, criterion=task.criterion_name))
    raw = pd.read_csv("data/demo_hanna/hanna_human.csv", dtype={"item_id": str})
    first = raw[raw["criterion"] == task.criterion_name].groupby("item_id")["value"].nunique()
    assert s["n_split"] == int((first > 1).sum()) and s["n_items"] == len(first)
    shown = [m.value for m in at.markdown if m.value.startswith("**Split human votes**")]
    assert len(shown) == 1
    assert f"{s['n_split']} of {s['n_items']} items with two or more raters ({s['share']:.0%}, Wilson 95% CI " \
           f"{s['ci_low']:.0%} to {s['ci_high']:.0%})" in shown[0]


def table(at, *columns: str) -> pd.DataFrame:
    """The first dataframe shown with these columns."""
    for d in at.dataframe:
        if set(columns) <= set(d.value.columns):
            return d.value
    raise AssertionError(f"no dataframe with columns {columns}")


def add_rationales(db, tmp_path):
    """A fourth human rater and an LLM labeler write rationales on two disputed stories (relevance); the
    human's value is one nobody gave there, so the items stay in dispute."""
    from labelgate.cli import main as cli
    from labelgate.gold import load_gold

    task = get_task(db, "hanna-stories")
    gold = load_gold(db, task)
    raw = pd.read_csv("data/demo_hanna/hanna_human.csv", dtype={"item_id": str})
    rel = raw[raw["criterion"] == "relevance"]
    disputed = sorted(gold.disputed["item_id"])
    d1, d2 = disputed[0], disputed[1]
    unused = sorted(set(range(1, 6)) - set(rel.loc[rel["item_id"] == d1, "value"]))[0]
    other = sorted(gold.labels["item_id"])[0]
    pd.DataFrame([{"item_id": d1, "rater": "critic", "criterion": "relevance", "value": unused,
                   "rationale": "The ENDING feels rushed and off-prompt"}]).to_csv(tmp_path / "h.csv", index=False)
    assert cli(["--db", str(db.path), "import", "labels", str(tmp_path / "h.csv"), "--task", "hanna-stories",
                "--source", "human"]) == 0
    # Judge labels every story near the raters' mean (a healthy batch the monitor does not block)
    judge = rel.groupby("item_id")["value"].mean().round().astype(int).rename("value").reset_index()
    judge = judge.assign(rater="Judge", criterion="relevance", rationale=None)
    judge.loc[judge["item_id"] == d2, "rationale"] = "a rushed ending; the prompt is half ignored"
    judge.loc[judge["item_id"] == other, "rationale"] = "on prompt, ending earned"
    judge.to_csv(tmp_path / "l.csv", index=False)
    assert cli(["--db", str(db.path), "import", "labels", str(tmp_path / "l.csv"), "--task", "hanna-stories",
                "--source", "llm"]) == 0
    assert d1 in set(load_gold(db, task).disputed["item_id"])
    return d1, d2, other


def test_rationales_are_shown_beside_labels_and_search_filters_the_queue(app_for, demo_db, tmp_path):
    d1, d2, other = add_rationales(demo_db, tmp_path)
    at = app_for("lead", page="pages/review.py")
    assert not at.exception, at.exception
    n_queue = len(table(at, "expert labels"))
    search = at.text_input(key="rev_rationale_q_hanna-stories")
    search.input("ending RUSHED").run()   # every word, in any case and order
    assert not at.exception, at.exception
    hits = table(at, "by", "rationale")
    assert sorted(zip(hits["item"], hits["by"], hits["source"], strict=True)) == \
        sorted([(d1, "critic", "human"), (d2, "Judge", "llm")])
    assert set(table(at, "expert labels")["item"]) == {d1, d2} and n_queue > 2
    assert any("2 rationales on 2 items hold every word" in c.value for c in at.caption)
    at.selectbox(key="rev_item_hanna-stories").select(d2).run()
    labelers = table(at, "labeler", "sample")
    judge = labelers[labelers["labeler"] == "Judge"].iloc[0]
    assert judge["rationale"] == "a rushed ending; the prompt is half ignored"
    at.selectbox(key="rev_item_hanna-stories").select(d1).run()
    experts = table(at, "rater", "round")
    assert experts.set_index("rater").loc["critic", "rationale"] == "The ENDING feels rushed and off-prompt"
    # words no rationale holds: nothing in the queue, said so
    at.text_input(key="rev_rationale_q_hanna-stories").input("dragon").run()
    assert "No item of this queue has a rationale holding those words." in [i.value for i in at.info]
    # cleared: the whole queue again
    at.text_input(key="rev_rationale_q_hanna-stories").input("").run()
    assert len(table(at, "expert labels")) == n_queue


def test_the_criterion_picker_reviews_and_adjudicates_the_criterion_picked(app_for, demo_db):
    from labelgate.gold import load_gold
    from labelgate.store.gold import latest_adjudications

    task = get_task(demo_db, "hanna-stories")
    at = app_for("lead", page="pages/review.py")
    picker = at.selectbox(key="rev_criterion_hanna-stories")
    assert picker.value == "relevance" and picker.options[:2] == ["relevance", "coherence"]
    assert "all criteria" not in picker.options
    picker.select("empathy").run()
    assert not at.exception, at.exception
    empathy = load_gold(demo_db, task.criterion("empathy"))
    assert set(table(at, "expert labels")["item"]) == set(empathy.disputed["item_id"])
    assert set(empathy.disputed["item_id"]) != set(load_gold(demo_db, task).disputed["item_id"])
    s = human_split(task, expert_labels(demo_db, task.task_id, criterion="empathy"))
    assert any(f"{s['n_split']} of {s['n_items']} items" in m.value for m in at.markdown
               if m.value.startswith("**Split human votes**"))
    item = at.selectbox(key="rev_item_hanna-stories").value
    at.selectbox(key=f"rev_value_hanna-stories_empathy_{item}").set_value("3").run()
    at.text_area(key=f"rev_reason_hanna-stories_empathy_{item}").input("the rubric's middle").run()
    at.button(key=f"rev_save_empathy_{item}").click().run()
    assert not at.exception, at.exception
    adj = latest_adjudications(demo_db, task.task_id, criterion="empathy").set_index("item_id")
    assert adj.loc[item, "value"] == "3"
    assert latest_adjudications(demo_db, task.task_id, criterion="relevance").empty


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")  # a domain of one value
def test_per_domain_agreement_follows_the_criterion_picked(app_for, demo_db):
    """hanna-stories routed by the story's system: two app experts who agree on every relevance answer
    and differ on coherence; the per-domain table shows each criterion's own agreement."""
    from labelgate.store.items import item_meta_frame
    from labelgate.store.labels import AnswerRow, append_human_answer
    from labelgate.store.tasks import set_task_routing

    task = set_task_routing(demo_db, "hanna-stories", domain_column="system", created_by="lead")
    meta = item_meta_frame(demo_db, task.task_id).set_index("item_id")["system"]
    rng = np.random.default_rng(2)
    ids = list(meta.index[:40])
    a_rel, a_coh = rng.integers(1, 6, 40), rng.integers(1, 6, 40)
    b_coh = np.clip(a_coh + rng.integers(-2, 3, 40), 1, 5)
    for k, item in enumerate(ids):
        for rater, coh in (("expert", a_coh[k]), ("expert2", b_coh[k])):
            append_human_answer(demo_db, task_id=task.task_id, item_id=item, rater=rater, rows=[
                AnswerRow(c, "label", str(v), float(v)) for c, v in (("relevance", a_rel[k]), ("coherence", coh))])
    at = app_for("engineer", page="pages/review.py")
    for name, b in (("relevance", a_rel), ("coherence", b_coh)):
        at.selectbox(key="rev_criterion_hanna-stories").set_value(name).run()
        assert not at.exception, at.exception
        kappa = table(at, "domain", "expert a", "expert b", "estimate").set_index("domain")
        first = a_rel if name == "relevance" else a_coh
        for dom, row in kappa.iterrows():
            mine = np.array([meta[i].strip().lower() == dom for i in ids])
            assert row["items"] == mine.sum()
            ref = cohen_kappa_score(first[mine].astype(str), b[mine].astype(str), weights="quadratic",
                                    labels=["1", "2", "3", "4", "5"])
            assert row["estimate"] == pytest.approx(ref, abs=1e-9, nan_ok=True), (name, dom)
        if name == "relevance":
            assert kappa["estimate"].dropna().eq(1.0).all()   # the experts agree on every relevance answer
        else:
            assert (kappa["estimate"].dropna() < 1.0).any()
