"""report --json per criterion (issue 11) against the reference libraries, and gate criteria that name
a criterion: a labeler passes only when every named criterion passes."""

from __future__ import annotations

import json

import krippendorff
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from labelgate import gate
from labelgate.cli import main as cli
from labelgate.review import adjudicate
from labelgate.store.tasks import create_task, get_task
from labelgate.store.users import User
from labelgate.tasks import parse_criteria
from qc.gate import Criterion

NAMES = ["coherence", "empathy", "surprise"]
LEAD = User("lead", "lead")


def run(db, *args) -> int:
    return cli(["--db", str(db.path), *args])


@pytest.fixture
def stories(db, tmp_path):
    """80 stories, three 1-5 criteria, three human raters and two LLM labelers, imported in wide form.
    Good is close to the truth on every criterion; Mixed only on coherence (random on the others)."""
    rng = np.random.default_rng(11)
    n = 80
    create_task(db, "stories", criteria=parse_criteria([{"name": c, "kind": "ordinal", "scale": "1-5"}
                                                         for c in NAMES]))
    items = pd.DataFrame({"item_id": [f"s{i:03d}" for i in range(n)], "story": [f"story {i}" for i in range(n)]})
    (tmp_path / "items.csv").write_text(items.to_csv(index=False))
    assert run(db, "import", "items", str(tmp_path / "items.csv"), "--task", "stories") == 0
    truth = {c: rng.integers(1, 6, n) for c in NAMES}
    human = []
    for r in ("r1", "r2", "r3"):
        noisy = {c: np.clip(truth[c] + rng.choice([-1, 0, 0, 0, 1], n), 1, 5) for c in NAMES}
        human.append(pd.DataFrame({"item_id": items["item_id"], "rater": r, **noisy}))
    pd.concat(human).to_csv(tmp_path / "human.csv", index=False)
    assert run(db, "import", "labels", str(tmp_path / "human.csv"), "--task", "stories", "--source", "human") == 0
    good = {c: np.clip(truth[c] + rng.choice([-1, 0, 0, 1], n), 1, 5) for c in NAMES}
    mixed = {"coherence": good["coherence"], "empathy": rng.integers(1, 6, n), "surprise": rng.integers(1, 6, n)}
    llm = pd.concat([pd.DataFrame({"item_id": items["item_id"], "rater": "Good", **good}),
                     pd.DataFrame({"item_id": items["item_id"], "rater": "Mixed", **mixed})])
    llm.to_csv(tmp_path / "llm.csv", index=False)
    assert run(db, "import", "labels", str(tmp_path / "llm.csv"), "--task", "stories", "--source", "llm") == 0
    return db, get_task(db, "stories"), pd.concat(human), llm


def test_report_json_has_a_criteria_level_equal_to_scipy_and_krippendorff(stories, capsys):
    db, task, human, llm = stories
    assert run(db, "report", "--task", "stories", "--json", "--resamples", "50") == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in doc["criteria"]] == NAMES
    assert doc["labelers"] == doc["criteria"][0]["labelers"]    # the top level is the first criterion, as before
    for c in doc["criteria"]:
        name = c["name"]
        wide = human.pivot(index="item_id", columns="rater", values=name)
        # gold: a strict majority of the three raters (else disputed)
        mode = wide.apply(lambda row: row.value_counts().idxmax() if row.value_counts().max() >= 2 else np.nan,
                          axis=1).dropna()
        assert c["gold"]["n_items"] == len(mode) and c["gold"]["n_disputed"] == len(wide) - len(mode)
        alpha = krippendorff.alpha(reliability_data=wide.T.to_numpy(dtype=float), level_of_measurement="ordinal")
        assert c["humans"]["n_raters"] == 3
        assert c["humans"]["krippendorff_alpha"]["estimate"] == pytest.approx(alpha, abs=1e-9)
        split = (wide.nunique(axis=1) > 1).mean()
        assert c["human_split"]["share"] == pytest.approx(split, abs=1e-12)
        for lab in c["labelers"]:
            pred = llm[llm["rater"] == lab["name"]].set_index("item_id")[name].loc[mode.index].to_numpy(float)
            g = mode.to_numpy(float)
            m = lab["metrics"]
            assert lab["n"] == len(g)
            assert m["spearman"]["estimate"] == pytest.approx(stats.spearmanr(g, pred).statistic, abs=1e-9)
            assert m["kendall_tau"]["estimate"] == pytest.approx(stats.kendalltau(g, pred).statistic, abs=1e-9)
            ref = krippendorff.alpha(reliability_data=np.vstack([g, pred]), level_of_measurement="ordinal")
            assert m["krippendorff_alpha"]["estimate"] == pytest.approx(ref, abs=1e-9)
            assert m["spearman"]["ci_low"] <= m["spearman"]["estimate"] <= m["spearman"]["ci_high"]
    # the text report prints a table per criterion
    assert run(db, "report", "--task", "stories", "--resamples", "20") == 0
    out = capsys.readouterr().out
    assert all(f"criterion {n} (ordinal):" in out for n in NAMES)


def test_gate_criteria_naming_criteria_pass_only_when_every_named_criterion_passes(stories):
    db, task, _, _ = stories
    crit = [Criterion("alpha", ">=", 0.5, criterion="coherence", label="coherence alpha"),
            Criterion("spearman", ">=", 0.5, criterion="empathy", label="empathy spearman")]
    good = gate.evaluate(db, task, "Good", criteria=crit, n_resamples=50)
    mixed = gate.evaluate(db, task, "Mixed", criteria=crit, n_resamples=50)
    assert good.verdict == "pass"
    assert mixed.verdict == "fail"
    table = mixed.evidence().set_index("criterion")
    assert table.loc["coherence alpha (coherence)", "result"] == "pass"
    assert table.loc["empathy spearman (empathy)", "result"] == "fail"
    assert "spearman (empathy)" in table.loc["empathy spearman (empathy)", "reason"]
    assert "alpha@coherence" in mixed.metrics and "spearman@empathy" in mixed.metrics
    with pytest.raises(ValueError, match="names 'tone', which is not a criterion of task stories"):
        gate.evaluate(db, task, "Good", criteria=[Criterion("alpha", ">=", 0.5, criterion="tone")])

    # an approval on the draft goes stale when the gold of any criterion changes, and says which part
    gate.save_criteria(db, task, crit, user=LEAD)
    gate.decide(db, task, "Good", user=LEAD, decision="approve", comment="both criteria hold")
    assert gate.status(db, task, "Good").state == "approved"
    disputed = gate.resolve_gold(db, task.criterion("surprise")).disputed["item_id"].iloc[0]
    adjudicate(db, task.criterion("surprise"), disputed, "3", decided_by="lead", reason="re-read")
    st = gate.status(db, task, "Good")
    assert st.state == "stale" and any("draft gold changed" in r for r in st.stale_reasons)
    # saved criteria keep the criterion they name; the fingerprint of criteria without one is as before
    assert [c.criterion for c in gate.criteria_for(db, task)] == ["coherence", "empathy"]
    assert "criterion" not in Criterion("alpha", ">=", 0.5).to_dict()
    assert gate.criteria_key([Criterion("alpha", ">=", 0.5)]) != gate.criteria_key(crit[:1])


def test_a_new_release_says_what_changed_in_each_criterion(stories, capsys):
    from labelgate import gold as goldlib

    db, task, _, _ = stories
    engineer = User("eng", "engineer")
    crit = [Criterion("alpha", ">=", 0.5, criterion="coherence")]
    gate.save_criteria(db, task, crit, user=LEAD)
    goldlib.publish(db, task, user=engineer)
    gate.decide(db, task, "Good", user=LEAD, decision="approve", comment="coherence holds")
    assert gate.status(db, task, "Good").state == "approved"
    disputed = goldlib.load_gold(db, task.criterion("empathy")).disputed["item_id"].iloc[0]
    adjudicate(db, task.criterion("empathy"), disputed, "2", decided_by="lead", reason="re-read")
    goldlib.publish(db, task, user=engineer)
    st = gate.status(db, task, "Good")
    assert st.state == "stale"
    (reason,) = [r for r in st.stale_reasons if "gold release 2" in r]
    assert "coherence: +0 items, 0 relabeled, 0 removed; empathy: +1 items" in reason
    assert run(db, "gold", "diff", "--task", "stories", "--from", "1", "--to", "2", "--criterion", "empathy") == 0
    assert f"  + {disputed}: 2" in capsys.readouterr().out
    assert run(db, "gold", "diff", "--task", "stories", "--from", "1", "--to", "2", "--criterion", "tone") == 2
    assert "no criterion 'tone'" in capsys.readouterr().err


def test_export_writes_one_criterion_on_the_whole_task_s_approval(stories):
    from labelgate.export import prepare

    db, task, _, llm = stories
    gate.save_criteria(db, task, [Criterion("alpha", ">=", 0.5, criterion="coherence")], user=LEAD)
    gate.decide(db, task, "Good", user=LEAD, decision="approve", comment="coherence holds")
    for name in ("empathy", None):
        table, report = prepare(db, task, "Good", criterion=name)
        crit = name or "coherence"
        gold = gate.resolve_gold(db, task.criterion(crit))
        human = table[table["source"] == "human"].set_index("item_id")["value"]
        assert human.to_dict() == gold.labels.set_index("item_id")["value"].to_dict()
        rows = table[table["source"] == "llm"].set_index("item_id")["value"]
        given = llm[llm["rater"] == "Good"].set_index("item_id")[crit].astype(int).astype(str)
        assert len(rows) > 0 and (rows == given.loc[rows.index]).all()
        assert set(rows.index).isdisjoint(human.index)
        assert not report.forced and report.to_dict().get("criterion") == name
    with pytest.raises(ValueError, match="criterion: .*no criterion 'tone'"):
        prepare(db, task, "Good", criterion="tone")


def test_a_rate_criterion_reports_the_gold_share_each_labeler_s_share_bias_and_ppi(db, tmp_path, capsys):
    from qc.inference import ppi_proportion_ci
    from qc.uncertainty import wilson_interval

    rng = np.random.default_rng(5)
    create_task(db, "facts", criteria=parse_criteria([
        {"name": "accurate", "kind": "categorical", "labels": ["yes", "no"], "rate": "yes"},
        {"name": "fluency", "kind": "ordinal", "scale": "1-5"}]))
    ids = [f"i{k:02d}" for k in range(60)]
    pd.DataFrame({"item_id": ids, "story": ids}).to_csv(tmp_path / "items.csv", index=False)
    assert run(db, "import", "items", str(tmp_path / "items.csv"), "--task", "facts") == 0
    truth = np.where(rng.random(60) < 0.6, "yes", "no")
    human = pd.DataFrame({"item_id": ids[:30], "rater": "r1", "accurate": truth[:30], "fluency": 3})
    human.to_csv(tmp_path / "h.csv", index=False)
    assert run(db, "import", "labels", str(tmp_path / "h.csv"), "--task", "facts", "--source", "human") == 0
    said = np.where(rng.random(60) < 0.8, truth, "yes")     # a judge that says yes too often
    pd.DataFrame({"item_id": ids, "rater": "Judge", "accurate": said, "fluency": 3}).to_csv(tmp_path / "l.csv",
                                                                                         index=False)
    assert run(db, "import", "labels", str(tmp_path / "l.csv"), "--task", "facts", "--source", "llm") == 0
    capsys.readouterr()
    assert run(db, "report", "--task", "facts", "--json", "--resamples", "20") == 0
    doc = json.loads(capsys.readouterr().out)
    acc = next(c for c in doc["criteria"] if c["name"] == "accurate")
    assert "rates" not in next(c for c in doc["criteria"] if c["name"] == "fluency")
    r = acc["rates"]
    assert r["option"] == "yes"
    assert r["gold"]["estimate"] == pytest.approx((truth[:30] == "yes").mean(), abs=1e-12)
    assert r["gold"]["ci_low"] == pytest.approx(wilson_interval(int((truth[:30] == "yes").sum()), 30).ci_low)
    j = r["labelers"]["Judge"]
    assert j["n_items"] == 60 and j["rate"]["estimate"] == pytest.approx((said == "yes").mean(), abs=1e-12)
    assert j["bias"] == pytest.approx((said[:30] == "yes").mean() - (truth[:30] == "yes").mean(), abs=1e-12)
    assert j["bias"] > 0
    ref = ppi_proportion_ci(truth[:30].astype(object), said[:30].astype(object), said[30:].astype(object),
                            positive="yes")
    assert j["ppi"]["estimate"] == pytest.approx(ref.estimate, abs=1e-12)
    assert j["ppi"]["ci_low"] == pytest.approx(ref.ci_low, abs=1e-12)
