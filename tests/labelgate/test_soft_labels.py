"""Soft labels (issue 11, point 9): export --soft-labels writes each item's human label distribution
beside the hard gold, equal to a pandas groupby of the imported raw labels; the report's share of items
with split human votes, with its Wilson CI, equals a direct computation."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labelgate.cli import main as cli
from labelgate.store.tasks import create_task, get_task
from labelgate.tasks import parse_criteria

HANNA = Path(__file__).resolve().parents[2] / "data" / "demo_hanna"
SIX = ["relevance", "coherence", "empathy", "surprise", "engagement", "complexity"]


def run(db, *args) -> int:
    return cli(["--db", str(db.path), *args])


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@pytest.fixture
def demo_db(hanna_db):
    return hanna_db


def test_hanna_soft_labels_equal_a_groupby_of_the_raw_labels(hanna_db, tmp_path, capsys, monkeypatch):
    raw = pd.read_csv(HANNA / "hanna_human.csv", dtype={"item_id": str})
    for name in SIX:
        monkeypatch.setattr("sys.stdin", io.StringIO("lead-demo\n"))
        out = tmp_path / f"{name}.csv"
        assert run(hanna_db, "export", "--task", "hanna-stories", "--labeler", "ChatGPT", "--out", str(out),
                   "--criterion", name, "--soft-labels", "--human-weight", "--force", "--user", "lead",
                   "--password-stdin", "--reason", "soft label test") == 0, capsys.readouterr()
        table = pd.read_csv(out, dtype={"item_id": str})
        assert {"human_mean", "human_sd", "human_n_raters"} <= set(table.columns)
        assert not [c for c in table.columns if c.startswith("human_count_")]   # ordinal: mean and sd, no counts
        mine = raw[raw["criterion"] == name].groupby("item_id")["value"].agg(["mean", "std", "count"])
        per = table.drop_duplicates("item_id").set_index("item_id")
        assert set(per.index) <= set(mine.index) and len(per) >= 50
        ref = mine.loc[per.index]
        assert np.allclose(per["human_mean"], ref["mean"], atol=1e-12)
        assert np.allclose(per["human_sd"], ref["std"], atol=1e-12, equal_nan=True)
        assert (per["human_n_raters"] == ref["count"]).all() and set(per["human_n_raters"]) == {3}
        # beside the hard gold: the human rows still carry the gold value
        human = table[table["source"] == "human"]
        assert len(human) > 0 and human["value"].notna().all()


def test_categorical_soft_labels_count_each_option(db, tmp_path):
    create_task(db, "tox", criteria=parse_criteria([{"name": "toxic", "kind": "categorical",
                                                     "labels": ["yes", "no", "unsure"]}]))
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(30)], "text": [f"t{i}" for i in range(30)]})
    (tmp_path / "items.csv").write_text(items.to_csv(index=False))
    assert run(db, "import", "items", str(tmp_path / "items.csv"), "--task", "tox") == 0
    rng = np.random.default_rng(3)
    rows = [{"item_id": f"i{i}", "rater": f"r{r}", "value": rng.choice(["yes", "no", "yes"])}
            for i in range(30) for r in range(1 + i % 3)]
    human = pd.DataFrame(rows)
    human.to_csv(tmp_path / "h.csv", index=False)
    assert run(db, "import", "labels", str(tmp_path / "h.csv"), "--task", "tox", "--source", "human") == 0
    llm = pd.DataFrame({"item_id": items["item_id"], "rater": "J", "value": "yes"})
    llm.to_csv(tmp_path / "l.csv", index=False)
    assert run(db, "import", "labels", str(tmp_path / "l.csv"), "--task", "tox", "--source", "llm") == 0
    from labelgate import export
    from labelgate.store.users import User

    table, _ = export.prepare(db, get_task(db, "tox"), "J", force=True, user=User("lead", "lead"),
                              force_reason="test", human_weight=True, soft_labels=True)
    cols = ["human_count_yes", "human_count_no", "human_count_unsure", "human_n_raters"]
    assert [c for c in table.columns if c.startswith("human_")] == cols
    ref = human.groupby("item_id")["value"].value_counts().unstack(fill_value=0)
    per = table.drop_duplicates("item_id").set_index("item_id")
    assert len(per) >= 20
    for opt in ("yes", "no"):
        assert (per[f"human_count_{opt}"] == ref.loc[per.index, opt]).all()
    assert (per["human_count_unsure"] == 0).all()
    assert (per["human_n_raters"] == human.groupby("item_id")["rater"].nunique().loc[per.index]).all()
    # without the option the columns are not there
    plain_table, _ = export.prepare(db, get_task(db, "tox"), "J", force=True, user=User("lead", "lead"),
                                    force_reason="test", human_weight=True)
    assert not [c for c in plain_table.columns if c.startswith("human_")]


def test_report_split_share_has_a_wilson_ci_equal_to_a_direct_computation(hanna_db, capsys):
    raw = pd.read_csv(HANNA / "hanna_human.csv", dtype={"item_id": str})
    assert run(hanna_db, "report", "--task", "hanna-stories", "--json", "--resamples", "20") == 0
    doc = json.loads(capsys.readouterr().out)
    seen = 0
    for c in doc["criteria"]:
        mine = raw[raw["criterion"] == c["name"]].groupby("item_id")["value"]
        multi = mine.count() >= 2
        split = (mine.nunique() > 1)[multi]
        k, n = int(split.sum()), int(multi.sum())
        s = c["human_split"]
        assert (s["n_split"], s["n_items"]) == (k, n) and 0 < k < n
        lo, hi = wilson(k, n)
        assert s["share"] == pytest.approx(k / n, abs=1e-12)
        assert s["ci_low"] == pytest.approx(lo, abs=1e-9) and s["ci_high"] == pytest.approx(hi, abs=1e-9)
        seen += 1
    assert seen == 6


def test_export_has_a_rationale_column_when_labels_have_one(db, tmp_path):
    from labelgate import export
    from labelgate.store.users import User

    create_task(db, "tox", criteria=parse_criteria([{"name": "toxic", "kind": "categorical", "labels": ["yes", "no"],
                                                     "rationale": "optional"}]))
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(40)], "text": [f"t{i}" for i in range(40)]})
    (tmp_path / "items.csv").write_text(items.to_csv(index=False))
    assert run(db, "import", "items", str(tmp_path / "items.csv"), "--task", "tox") == 0
    human = pd.DataFrame([{"item_id": f"i{i}", "rater": r, "value": "yes" if i % 2 else "no",
                           "rationale": f"{r} on {i}" if i < 3 else None} for i in range(10) for r in ("ann", "bo")])
    human.to_csv(tmp_path / "h.csv", index=False)
    assert run(db, "import", "labels", str(tmp_path / "h.csv"), "--task", "tox", "--source", "human") == 0
    llm = pd.DataFrame({"item_id": items["item_id"], "rater": "J", "value": ["yes", "no"] * 20,
                        "rationale": [f"slur in {i}" if i == 20 else None for i in range(40)]})
    llm.to_csv(tmp_path / "l.csv", index=False)
    assert run(db, "import", "labels", str(tmp_path / "l.csv"), "--task", "tox", "--source", "llm") == 0
    table, _ = export.prepare(db, get_task(db, "tox"), "J", force=True, user=User("lead", "lead"),
                              force_reason="test", human_weight=True)
    assert "rationale" in table.columns
    rows = table.set_index("item_id")
    assert rows.loc["i1", "rationale"] == "ann: ann on 1 | bo: bo on 1" and rows.loc["i1", "source"] == "human"
    assert rows.loc["i20", "rationale"] == "slur in 20" and rows.loc["i20", "source"] == "llm"
    assert pd.isna(rows.loc["i5", "rationale"]) and pd.isna(rows.loc["i21", "rationale"])
    # no label with a rationale: no column
    human.assign(rationale=None, rater=human["rater"] + "2").to_csv(tmp_path / "h2.csv", index=False)
    create_task(db, "tox2", criteria=parse_criteria([{"name": "toxic", "kind": "categorical",
                                                      "labels": ["yes", "no"]}]))
    assert run(db, "import", "items", str(tmp_path / "items.csv"), "--task", "tox2") == 0
    assert run(db, "import", "labels", str(tmp_path / "h2.csv"), "--task", "tox2", "--source", "human") == 0
    llm.assign(rationale=None).to_csv(tmp_path / "l2.csv", index=False)
    assert run(db, "import", "labels", str(tmp_path / "l2.csv"), "--task", "tox2", "--source", "llm") == 0
    bare, _ = export.prepare(db, get_task(db, "tox2"), "J", force=True, user=User("lead", "lead"),
                             force_reason="test", human_weight=True)
    assert "rationale" not in bare.columns


def test_an_adjudicated_human_row_carries_the_adjudicators_reason_before_the_experts_rationales(db, tmp_path):
    from labelgate import export, review
    from labelgate.store.users import User

    create_task(db, "tox", criteria=parse_criteria([{"name": "toxic", "kind": "categorical", "labels": ["yes", "no"],
                                                     "rationale": "optional"}]))
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(20)], "text": [f"t{i}" for i in range(20)]})
    (tmp_path / "items.csv").write_text(items.to_csv(index=False))
    assert run(db, "import", "items", str(tmp_path / "items.csv"), "--task", "tox") == 0
    # ann and bo split on i3 (with a rationale each) and on i4 (without); they agree elsewhere
    human = pd.DataFrame([{"item_id": f"i{i}", "rater": r, "value": ("yes" if r == "ann" else "no") if i in (3, 4)
                           else "yes", "rationale": f"{r} on {i}" if i == 3 else None}
                          for i in range(10) for r in ("ann", "bo")])
    human.to_csv(tmp_path / "h.csv", index=False)
    assert run(db, "import", "labels", str(tmp_path / "h.csv"), "--task", "tox", "--source", "human") == 0
    llm = pd.DataFrame({"item_id": items["item_id"], "rater": "J", "value": "yes"})
    llm.to_csv(tmp_path / "l.csv", index=False)
    assert run(db, "import", "labels", str(tmp_path / "l.csv"), "--task", "tox", "--source", "llm") == 0
    task = get_task(db, "tox")
    review.adjudicate(db, task, "i3", "no", decided_by="lead", reason="quoted, not used")
    review.adjudicate(db, task, "i4", "yes", decided_by="lead", reason="first try")
    review.adjudicate(db, task, "i4", "no", decided_by="boss", reason="  a slur aimed at the reader  ")
    table, _ = export.prepare(db, task, "J", force=True, user=User("lead", "lead"), force_reason="test",
                              human_weight=True)
    rows = table.set_index("item_id")
    assert rows.loc["i3", ["source", "value"]].tolist() == ["human", "no"]
    assert rows.loc["i3", "rationale"] == "adjudicated by lead: quoted, not used | ann: ann on 3 | bo: bo on 3"
    assert rows.loc["i4", "rationale"] == "adjudicated by boss: a slur aimed at the reader"   # the latest decides
    assert pd.isna(rows.loc["i1", "rationale"])
    assert table.loc[table["source"] == "llm", "rationale"].isna().all()
