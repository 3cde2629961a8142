"""LLM judge values outside the task's scale, on real data (HANNA, tests/data/hanna): the three
--invalid policies, what the database holds after each, and the invalid rate in `report`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from labelgate.cli import main as cli

HANNA = Path(__file__).resolve().parents[1] / "data" / "hanna"
SOURCE = pd.read_csv(HANNA / "llm_relevance.csv", dtype=str)
MISTRAL = SOURCE[SOURCE["rater"] == "Mistral-7B"]
OUT_OF_SCALE = MISTRAL[~MISTRAL["value"].astype(float).between(1, 5)]


def run(db, *args) -> int:
    return cli(["--db", str(db.path), *args])


def count(db, sql: str) -> int:
    with db.connect() as con:
        return con.execute(sql).fetchone()[0]


@pytest.fixture
def hanna(db):
    assert run(db, "task", "create", "relevance", "--kind", "ordinal", "--scale", "1-5") == 0
    assert run(db, "import", "items", str(HANNA / "items.csv"), "--task", "relevance", "--text-columns", "story") == 0
    return db


def test_the_extract_holds_out_of_scale_judge_values():
    assert len(MISTRAL) == 100 and len(OUT_OF_SCALE) == 13
    assert set(OUT_OF_SCALE["item_id"]) >= {"s203", "s240"}


def test_by_default_out_of_scale_values_are_stored_as_invalid_outputs(hanna, capsys):
    capsys.readouterr()
    assert run(hanna, "import", "labels", str(HANNA / "llm_relevance.csv"), "--task", "relevance",
               "--source", "llm") == 0
    out = capsys.readouterr().out
    assert "added 187 llm labels" in out and "13 invalid judge outputs" in out
    with hanna.connect() as con:
        stored = dict(con.execute("SELECT item_id, raw_value FROM llm_invalid_labels WHERE labeler = 'Mistral-7B'")
                      .fetchall())
        n_labels = con.execute("SELECT labeler, count(*) FROM llm_labels GROUP BY 1 ORDER BY 1").fetchall()
        imports = con.execute("SELECT n_rows, n_added, n_invalid FROM imports WHERE kind = 'labels'").fetchall()
    assert stored == dict(zip(OUT_OF_SCALE["item_id"], OUT_OF_SCALE["value"], strict=True))  # kept as given
    assert stored["s240"] == "-0.3333333333333333"
    assert n_labels == [("ChatGPT", 100), ("Mistral-7B", 87)]
    assert imports == [(200, 187, 13)]
    # importing the same file again adds nothing, invalid outputs included
    assert run(hanna, "import", "labels", str(HANNA / "llm_relevance.csv"), "--task", "relevance",
               "--source", "llm") == 0
    assert "nothing added" in capsys.readouterr().out
    assert count(hanna, "SELECT count(*) FROM llm_invalid_labels") == 13


def test_refuse_names_the_rows_and_their_values_and_changes_nothing(hanna, capsys):
    capsys.readouterr()
    assert run(hanna, "import", "labels", str(HANNA / "llm_relevance.csv"), "--task", "relevance",
               "--source", "llm", "--invalid", "refuse") == 2
    err = capsys.readouterr().err
    first = OUT_OF_SCALE.index[0] + 1  # 1-based data row
    assert "column value: not a whole number from 1 to 5" in err
    assert f"rows {first} ('0.6666666666666666')" in err and "and 5 more" in err   # 8 shown of 13
    assert count(hanna, "SELECT count(*) FROM llm_labels") == 0
    assert count(hanna, "SELECT count(*) FROM llm_invalid_labels") == 0
    assert count(hanna, "SELECT count(*) FROM imports WHERE kind = 'labels'") == 0


def test_clip_moves_numbers_to_the_nearest_end_of_the_scale(hanna, capsys):
    capsys.readouterr()
    assert run(hanna, "import", "labels", str(HANNA / "llm_relevance.csv"), "--task", "relevance",
               "--source", "llm", "--invalid", "clip") == 0
    assert "added 200 llm labels (13 clipped to the range)" in capsys.readouterr().out
    with hanna.connect() as con:
        got = dict(con.execute("SELECT item_id, value_num FROM llm_labels WHERE labeler = 'Mistral-7B'").fetchall())
    assert {got[i] for i in OUT_OF_SCALE["item_id"]} == {1.0}          # all were below 1
    inside = MISTRAL[~MISTRAL["item_id"].isin(OUT_OF_SCALE["item_id"])]
    assert all(got[i] == pytest.approx(float(v)) for i, v in zip(inside["item_id"], inside["value"], strict=True))
    assert count(hanna, "SELECT count(*) FROM llm_invalid_labels") == 0


def test_clip_stores_what_cannot_be_clipped_and_human_imports_stay_strict(hanna, tmp_path, capsys):
    path = tmp_path / "mixed.csv"
    path.write_text("item_id,rater,value\ns200,judge,7\ns201,judge,four\ns202,judge,\ns203,judge,3\n")
    capsys.readouterr()
    assert run(hanna, "import", "labels", str(path), "--task", "relevance", "--source", "llm", "--invalid", "clip") == 0
    assert "added 2 llm labels (1 clipped to the range); 2 invalid judge outputs" in capsys.readouterr().out
    with hanna.connect() as con:
        assert con.execute("SELECT item_id, raw_value FROM llm_invalid_labels ORDER BY 1").fetchall() == \
            [("s201", "four"), ("s202", "")]
    human = tmp_path / "human.csv"
    human.write_text("item_id,rater,value\ns200,ann,3\ns201,ann,6\n")
    assert run(hanna, "import", "labels", str(human), "--task", "relevance", "--source", "human") == 2
    assert "not a whole number from 1 to 5 in row 2 ('6')" in capsys.readouterr().err
    assert run(hanna, "import", "labels", str(human), "--task", "relevance", "--source", "human",
               "--invalid", "store") == 2
    assert "--invalid is for LLM labels" in capsys.readouterr().err
    assert count(hanna, "SELECT count(*) FROM human_labels") == 0


def test_an_invalid_output_cannot_later_become_a_label_under_the_same_key(hanna, tmp_path, capsys):
    first = tmp_path / "a.csv"
    first.write_text("item_id,rater,value\ns200,judge,9\n")
    assert run(hanna, "import", "labels", str(first), "--task", "relevance", "--source", "llm") == 0
    second = tmp_path / "b.csv"
    second.write_text("item_id,rater,value\ns200,judge,4\n")
    capsys.readouterr()
    assert run(hanna, "import", "labels", str(second), "--task", "relevance", "--source", "llm") == 2
    assert "row 1 ('4') give a different value for labels that are already stored (stored: 'invalid 9')" in \
        capsys.readouterr().err
    assert count(hanna, "SELECT count(*) FROM llm_labels") == 0


def test_report_gives_the_invalid_rate_and_leaves_invalid_outputs_out_of_the_metrics(hanna, capsys):
    assert run(hanna, "import", "labels", str(HANNA / "human_relevance.csv"), "--task", "relevance",
               "--source", "human") == 0
    assert run(hanna, "import", "labels", str(HANNA / "llm_relevance.csv"), "--task", "relevance",
               "--source", "llm") == 0
    capsys.readouterr()
    assert run(hanna, "report", "--task", "relevance", "--resamples", "100", "--json") == 0
    doc = {lab["name"]: lab for lab in json.loads(capsys.readouterr().out)["labelers"]}
    assert doc["Mistral-7B"]["invalid_outputs"] == {"n_invalid": 13, "n_outputs": 100, "rate": 0.13}
    assert doc["ChatGPT"]["invalid_outputs"] == {"n_invalid": 0, "n_outputs": 100, "rate": 0.0}
    assert doc["Mistral-7B"]["n"] == 87 and doc["ChatGPT"]["n"] == 100    # metrics on the valid labels only
    # MAE on the 87 valid labels, from the source files
    human = pd.read_csv(HANNA / "human_relevance.csv").set_index("item_id")["value"]
    valid = MISTRAL[~MISTRAL["item_id"].isin(OUT_OF_SCALE["item_id"])]
    mae = (valid["value"].astype(float) - valid["item_id"].map(human)).abs().mean()
    assert doc["Mistral-7B"]["metrics"]["mae"]["estimate"] == pytest.approx(mae, abs=1e-12)
    assert run(hanna, "report", "--task", "relevance", "--resamples", "100") == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("Mistral-7B"))
    assert "13/100 (13.0%)" in line
