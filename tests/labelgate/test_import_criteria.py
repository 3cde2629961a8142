"""Importing labels of a task with several criteria (issue 11): long form with a criterion column,
wide form with one column per criterion; all or nothing, errors naming the row and the column."""

from __future__ import annotations

import pytest

from labelgate.cli import main as cli
from labelgate.store.gold import llm_judgments
from labelgate.store.labels import human_labels
from labelgate.store.tasks import create_task, get_task
from labelgate.tasks import parse_criteria

ITEMS = "item_id,story\ns1,Once upon a time\ns2,The end came first\ns3,A dragon slept\n"
CRITERIA = [{"name": "coherence", "kind": "ordinal", "scale": "1-5"},
            {"name": "empathy", "kind": "ordinal", "scale": "1-5"},
            {"name": "genre", "kind": "categorical", "labels": "fable,myth"}]


@pytest.fixture
def hanna(db, tmp_path):
    create_task(db, "stories", criteria=parse_criteria(CRITERIA))
    assert run(db, "import", "items", str(write(tmp_path, "items.csv", ITEMS)), "--task", "stories") == 0
    return db, get_task(db, "stories")


def run(db, *args) -> int:
    return cli(["--db", str(db.path), *args])


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def counts(db) -> tuple[int, int, int, int]:
    with db.connect() as con:
        return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                     for t in ("human_label_rows", "llm_labels", "llm_invalid_labels", "imports"))


def test_long_form_with_a_criterion_column_and_rationales(hanna, tmp_path, capsys):
    db, task = hanna
    f = write(tmp_path, "long.csv", "item_id,rater,criterion,value,rationale\n"
                                    "s1,r1,coherence,4,flows well\ns1,r1,empathy,2,\ns1,r1,genre,fable,\n"
                                    "s2,r1,coherence,1,\ns2,r2,coherence,2,jumps around\n")
    assert run(db, "import", "labels", str(f), "--task", "stories", "--source", "human") == 0
    rows = human_labels(db, task.task_id).sort_values("label_id")
    assert rows[["item_id", "rater", "criterion", "value"]].values.tolist() == [
        ["s1", "r1", "coherence", "4"], ["s1", "r1", "empathy", "2"], ["s1", "r1", "genre", "fable"],
        ["s2", "r1", "coherence", "1"], ["s2", "r2", "coherence", "2"]]
    assert rows["rationale"].tolist()[0] == "flows well" and rows["rationale"].tolist()[4] == "jumps around"
    # the same file again adds nothing; a conflicting value for one criterion is refused
    assert run(db, "import", "labels", str(f), "--task", "stories", "--source", "human") == 0
    assert counts(db)[0] == 5
    g = write(tmp_path, "clash.csv", "item_id,rater,criterion,value\ns1,r1,empathy,5\n")
    assert run(db, "import", "labels", str(g), "--task", "stories", "--source", "human") == 2
    assert "give a different value for labels that are already stored" in capsys.readouterr().err


def test_wide_form_one_column_per_criterion_for_llm_labels(hanna, tmp_path, capsys):
    db, task = hanna
    f = write(tmp_path, "wide.csv", "item_id,rater,coherence,empathy,genre,empathy_rationale,confidence\n"
                                    "s1,ChatGPT,4,3,myth,kind,0.9\ns2,ChatGPT,5,,fable,,0.8\n"
                                    "s3,ChatGPT,6,1,fable,,\n")
    assert run(db, "import", "labels", str(f), "--task", "stories", "--source", "llm") == 0
    out = capsys.readouterr().out
    j = llm_judgments(db, task.task_id, criterion=None)
    got = sorted(zip(j["item_id"], j["criterion"], j["value"], strict=True))
    assert got == [("s1", "coherence", "4"), ("s1", "empathy", "3"), ("s1", "genre", "myth"),
                   ("s2", "coherence", "5"), ("s2", "genre", "fable"),
                   ("s3", "empathy", "1"), ("s3", "genre", "fable")]
    assert j.set_index(["item_id", "criterion"]).loc[("s1", "empathy"), "rationale"] == "kind"
    assert j.set_index(["item_id", "criterion"]).loc[("s1", "coherence"), "confidence"] == 0.9
    # the 6 on a 1-5 scale is the judge's error on that criterion only: stored as invalid, the rest kept
    with db.connect() as con:
        assert con.execute("SELECT item_id, criterion, raw_value FROM llm_invalid_labels").fetchall() == [
            ("s3", "coherence", "6")]
    assert "1 invalid" in out or "invalid" in out


BAD = {
    "unknown criterion": ("item_id,rater,criterion,value\ns1,r1,coherence,3\ns1,r1,tone,2\n",
                          "column criterion: not a criterion of task stories (coherence, empathy, genre) in row 2 "
                          "('tone')"),
    "bad long value": ("item_id,rater,criterion,value\ns1,r1,coherence,3\ns2,r1,genre,epic\n",
                       "column value (genre): not one of fable, myth in row 2 ('epic')"),
    "bad wide value": ("item_id,rater,coherence,empathy\ns1,r1,3,4\ns2,r1,3,9\ns3,r1,0,2\n",
                       "column empathy: not a whole number from 1 to 5 in row 2 ('9')"),
    "bad wide value 2": ("item_id,rater,coherence,empathy\ns1,r1,3,4\ns2,r1,3,9\ns3,r1,0,2\n",
                         "column coherence: not a whole number from 1 to 5 in row 3 ('0')"),
    "wide unknown column": ("item_id,rater,coherence,tone\ns1,r1,3,4\n", "unexpected column tone"),
    "wide rationale alone": ("item_id,rater,coherence,empathy,empathy_rationale\ns1,r1,3,,why\n",
                             "column empathy_rationale: a rationale without an answer in column empathy in row 1"),
    "wide unknown item": ("item_id,rater,coherence,empathy\ns1,r1,3,4\nzz,r1,3,3\n",
                          "column item_id: unknown item ids in row 2 ('zz')"),
    "duplicate": ("item_id,rater,criterion,value\ns1,r1,coherence,3\ns1,r1,coherence,3\n",
                  "duplicate rows for the same item_id + rater + criterion in rows 1 ('s1 / r1'), 2 ('s1 / r1')"),
    "no value": ("item_id,rater,criterion\ns1,r1,coherence\n", "missing column value"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_are_refused_whole_naming_row_and_column(hanna, tmp_path, capsys, case):
    db, _ = hanna
    text, message = BAD[case]
    before = counts(db)
    assert run(db, "import", "labels", str(write(tmp_path, "bad.csv", text)), "--task", "stories",
               "--source", "human") == 2
    assert message in capsys.readouterr().err
    assert counts(db) == before


def test_a_one_question_task_imports_as_before(db, tmp_path, capsys):
    from labelgate.tasks import make_spec

    create_task(db, "one", "ordinal", make_spec("ordinal", scale=(1, 5)))
    assert run(db, "import", "items", str(write(tmp_path, "items.csv", ITEMS)), "--task", "one") == 0
    f = write(tmp_path, "l.csv", "item_id,rater,value\ns1,r1,3\ns2,r1,7\n")
    assert run(db, "import", "labels", str(f), "--task", "one", "--source", "human") == 2
    assert "column value: not a whole number from 1 to 5 in row 2 ('7')" in capsys.readouterr().err
    f = write(tmp_path, "l2.csv", "item_id,rater,value\ns1,r1,3\n")
    assert run(db, "import", "labels", str(f), "--task", "one", "--source", "human") == 0
    assert human_labels(db, get_task(db, "one").task_id)["criterion"].tolist() == ["label"]
