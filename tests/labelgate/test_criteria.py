"""Tasks of several criteria (issue 11): the model, its checks, and one expert answer per item."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from labelgate import gold as goldlib
from labelgate.labeling import (
    AnswerError,
    draw_calibration_set,
    item_answers,
    next_item,
    queue,
    submit_answer,
    submit_item,
    undo_last_answer,
)
from labelgate.store.labels import AnswerRow, append_human_answer, human_labels
from labelgate.store.tasks import create_task, get_task, revise_task
from labelgate.tasks import Criterion, TaskSpecError, make_spec, parse_criteria
from tests.synthetic import _import

CRITERIA = [
    {"name": "accurate", "kind": "categorical", "labels": ["yes", "no"], "rate": "yes",
     "rubric": "Every claim is true."},
    {"name": "fluency", "kind": "ordinal", "scale": "1-5", "anchors": {1: "broken", 5: "native"},
     "rationale": "optional"},
    {"name": "first wrong step", "kind": "ordinal", "scale": [1, 9], "required": True, "rationale": "required",
     "show_if": {"criterion": "accurate", "equals": "no"}},
    {"name": "score", "kind": "continuous", "range": "0,1", "required": False},
]


@pytest.fixture
def multi(db):
    task = create_task(db, "judge", criteria=parse_criteria(CRITERIA), rubric="Judge the answer.",
                       text_columns=["story"], experts_per_item=2)
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(6)], "story": [f"answer {k}" for k in range(6)]})
    _import(db, task, items, "items.csv", what="items")
    task = get_task(db, "judge")
    draw_calibration_set(db, task, size=6, seed=0)
    return db, get_task(db, "judge")


@pytest.mark.parametrize("entries, message", [
    ([], "non-empty list"),
    ([{"name": "a", "kind": "ordinal", "scale": "1-5"}, {"name": "A", "kind": "ordinal", "scale": "1-3"}],
     r"criterion 2 \('A'\): name: another criterion is already called 'a'"),
    ([{"name": "a", "kind": "ordinal", "scale": "1-5", "show_if": {"criterion": "b", "equals": 1}},
      {"name": "b", "kind": "ordinal", "scale": "1-5", "show_if": {"criterion": "a", "equals": 1}}],
     r"criterion 1 \('a'\): show_if: 'b' comes later.*no cycle"),
    ([{"name": "a", "kind": "categorical", "labels": "x,y"},
      {"name": "b", "kind": "ordinal", "scale": "1-3", "show_if": {"criterion": "a", "in": ["x", "z"]}}],
     r"criterion 2 \('b'\): show_if: 'z' is not an option of 'a'; options are x, y"),
    ([{"name": "a", "kind": "continuous", "range": "0,1"},
      {"name": "b", "kind": "ordinal", "scale": "1-3", "show_if": {"criterion": "a", "equals": 1}}],
     r"criterion 2 \('b'\): show_if: 'a' is continuous"),
    ([{"name": "a", "kind": "categorical", "labels": "x,y"},
      {"name": "b", "kind": "ordinal", "scale": "1-3", "show_if": {"criterion": "nope", "equals": "x"}}],
     r"criterion 2 \('b'\): show_if: 'nope' is not a criterion of this task; earlier criteria: a"),
    ([{"name": "a", "kind": "ordinal", "scale": "5-1"}], r"criterion 1 \('a'\): scale: .*low < high; got 5-1"),
    ([{"name": "a", "kind": "categorical", "labels": "x"}], r"criterion 1 \('a'\): labels: .*at least two"),
    ([{"name": "a", "kind": "ranking"}], r"criterion 1 \('a'\): kind must be one of"),
    ([{"name": "value", "kind": "ordinal", "scale": "1-5"}], r"criterion 1 \('value'\): name 'value' is reserved"),
    ([{"name": " a", "kind": "ordinal", "scale": "1-5"}], r"criterion 1 \('a'\): name must be.*got ' a'"),
    ([{"name": "a", "kind": "ordinal", "scale": "1-5", "rationale": "always"}], r"rationale must be one of"),
    ([{"name": "a", "kind": "ordinal", "scale": "1-5", "required": "yes"}], r"required must be true or false"),
    ([{"name": "a", "kind": "categorical", "labels": "x,y", "rate": "z"}], r"rate: 'z' is not an option"),
    ([{"name": "a", "kind": "ordinal", "scale": "1-5", "colour": "red"}], r"unknown field 'colour'"),
])
def test_criteria_that_cannot_work_are_refused_naming_the_criterion_and_field(entries, message):
    with pytest.raises(TaskSpecError, match=message):
        parse_criteria(entries)


def test_a_task_of_several_criteria_round_trips_and_a_criterion_change_is_a_new_revision(multi):
    db, task = multi
    assert task.criterion_names == ["accurate", "fluency", "first wrong step", "score"]
    assert (task.kind, task.labels, task.criterion_name) == ("categorical", ["yes", "no"], "accurate")
    assert task.criteria[0].rate == "yes" and task.criteria[1].spec["anchors"] == {"1": "broken", "5": "native"}
    assert task.criteria[2].show_if == {"criterion": "accurate", "equals": "no"}
    view = task.criterion("first wrong step")
    assert (view.task_id, view.kind, view.labels[-1], view.criterion_name) == (task.task_id, "ordinal", "9",
                                                                               "first wrong step")
    assert task.criterion("accurate").rubric == "Judge the answer.\n\nEvery claim is true."
    with pytest.raises(KeyError, match="no criterion 'tone'"):
        task.criterion("tone")
    before = task.spec_hash()
    changed = [*task.criteria[:3], Criterion("score", "continuous", make_spec("continuous", value_range=(0, 10)),
                                             required=False)]
    task2 = revise_task(db, "judge", criteria=changed, created_by="lead")
    assert task2.revision == task.revision + 1 and task2.spec_hash() != before
    assert get_task(db, "judge").criteria[3].spec == {"range": [0.0, 10.0]}
    with pytest.raises(ValueError, match="several criteria"):
        revise_task(db, "judge", spec=make_spec("categorical", labels=["a", "b"]))


def test_a_one_question_task_is_one_criterion_named_label_with_the_old_fingerprint(db):
    task = create_task(db, "sent", "categorical", make_spec("categorical", labels=["pos", "neg"]), rubric="r")
    assert [c.name for c in task.criteria] == ["label"] and task.criteria[0].is_default
    import hashlib
    import json
    old = hashlib.sha256(json.dumps({"kind": "categorical", "spec": {"labels": ["pos", "neg"]}, "rubric": "r"},
                                    sort_keys=True).encode()).hexdigest()[:16]
    assert task.spec_hash() == old == task.criterion("label").spec_hash()


def test_an_item_is_answered_whole_in_one_transaction_and_undone_whole(multi):
    db, task = multi
    item = next_item(db, task, "ann", retest_share=0)
    # nothing is stored while an answer is incomplete or answers a hidden criterion
    with pytest.raises(AnswerError, match="fluency: an answer is required") as e:
        submit_item(db, task, "ann", item, answers={"accurate": "yes"})
    assert e.value.criterion == "fluency"
    with pytest.raises(AnswerError, match="first wrong step: not shown for this item"):
        submit_item(db, task, "ann", item, answers={"accurate": "yes", "fluency": 4, "first wrong step": 2})
    with pytest.raises(AnswerError, match="first wrong step: a rationale .* is required"):
        submit_item(db, task, "ann", item, answers={"accurate": "no", "fluency": 4, "first wrong step": 2})
    with pytest.raises(AnswerError, match="accurate: this criterion asks for no rationale"):
        submit_item(db, task, "ann", item, answers={"accurate": "yes", "fluency": 4}, rationales={"accurate": "x"})
    with pytest.raises(AnswerError, match=r"fluency: '7' is not a valid answer: expected a whole number from 1 to 5"):
        submit_item(db, task, "ann", item, answers={"accurate": "yes", "fluency": "7"})
    assert human_labels(db, task.task_id).empty
    submit_item(db, task, "ann", item, answers={"accurate": "no", "fluency": "4", "first wrong step": "3",
                                                "score": "0.25"},
                rationales={"first wrong step": "step 3 divides by zero", "fluency": " fine "}, comment=" ok ")
    rows = human_labels(db, task.task_id)
    rows = rows.astype(object).where(rows.notna(), None)
    assert rows[["criterion", "value", "rationale", "comment"]].values.tolist() == [
        ["accurate", "no", None, "ok"], ["fluency", "4", "fine", "ok"],
        ["first wrong step", "3", "step 3 divides by zero", "ok"], ["score", "0.25", None, "ok"]]
    assert item_answers(db, task, "ann", item.item_id) == {
        "status": "label", "comment": "ok",
        "answers": {"accurate": "no", "fluency": "4", "first wrong step": "3", "score": "0.25"},
        "rationales": {"fluency": "fine", "first wrong step": "step 3 divides by zero"}}
    # the next item; then undo: the whole answer goes, and the item comes back first
    nxt = next_item(db, task, "ann", retest_share=0)
    assert nxt.item_id != item.item_id and nxt.done == 1
    assert undo_last_answer(db, task, "ann") == item.item_id
    assert human_labels(db, task.task_id).empty
    q = queue(db, task, "ann", retest_share=0)
    assert q.item.item_id == item.item_id and not q.can_undo
    # answered again (accurate: the dependant is hidden, the optional score left out): only the shown ones
    submit_item(db, task, "ann", q.item, answers={"accurate": "yes", "fluency": 5})
    rows = human_labels(db, task.task_id)
    assert rows[["criterion", "value"]].values.tolist() == [["accurate", "yes"], ["fluency", "5"]]
    with duckdb.connect(str(db.path), read_only=True) as con:
        chain = con.execute("SELECT revision, status, count(*) FROM human_label_rows WHERE item_id = ?"
                            " GROUP BY ALL ORDER BY 1", [item.item_id]).fetchall()
    assert chain == [(1, "label", 4), (2, "undo", 4), (3, "label", 2)]   # every row kept, append-only


def test_a_failing_row_stores_none_of_the_answer(multi):
    db, task = multi
    item = next_item(db, task, "ann", retest_share=0)
    with pytest.raises(duckdb.ConstraintException):
        append_human_answer(db, task_id=task.task_id, item_id=item.item_id, rater="ann",
                            rows=[AnswerRow("accurate", "label", "yes"), AnswerRow(None, "label", "4")])
    assert human_labels(db, task.task_id).empty


def test_skip_and_flag_cover_the_item_and_gold_is_per_criterion(multi):
    db, task = multi
    answers = {"ann": {"accurate": "no", "fluency": 4, "first wrong step": 2},
               "bob": {"accurate": "no", "fluency": 2, "first wrong step": 2}}
    for rater, a in answers.items():
        item = next_item(db, task, rater, retest_share=0)
        submit_item(db, task, rater, item, answers=a, rationales={"first wrong step": "because"})
        submit_item(db, task, rater, next_item(db, task, rater, retest_share=0), status="flag", comment="odd")
    flagged = human_labels(db, task.task_id).query("status == 'flag'")
    assert len(flagged) == 2 * len(task.criteria) and set(flagged["comment"]) == {"odd"}
    first = next_item(db, task, "cat", retest_share=0)
    assert first is not None
    gold = {c: goldlib.load_gold(db, task.criterion(c)) for c in task.criterion_names}
    assert gold["accurate"].labels["value"].tolist() == ["no"]
    assert gold["first wrong step"].labels["value"].tolist() == ["2"]
    assert gold["fluency"].n_items == 0 and gold["fluency"].n_disputed == 2   # 4 vs 2; and the flagged item
    assert gold["score"].n_items == 0
    # one-question calls still work on a multi-criterion task: they answer its first criterion
    with pytest.raises(AnswerError, match="fluency: an answer is required"):
        submit_answer(db, task, "cat", first, answer="yes")


def test_a_published_release_freezes_every_criterion(multi):
    from labelgate.store.users import User

    db, task = multi
    for rater, fl in (("ann", 4), ("bob", 4)):
        item = next_item(db, task, rater, retest_share=0)
        submit_item(db, task, rater, item, answers={"accurate": "yes", "fluency": fl})
    rel = goldlib.publish(db, task, user=User("eng", "engineer"))
    for name, value in (("accurate", ["yes"]), ("fluency", ["4"]), ("score", [])):
        frozen = goldlib.release_gold(db, task.criterion(name), rel.number)
        assert frozen.labels["value"].tolist() == value, name
    assert set(rel.expert_agreement["criteria"]) == set(task.criterion_names)


@pytest.mark.parametrize("kind, spec", [
    ("ordinal", make_spec("ordinal", scale=(1, 5))),
    ("continuous", make_spec("continuous", value_range=(0, 1))),
    ("categorical", make_spec("categorical", labels=["yes", "no"])),
    ("pairwise", make_spec("pairwise", labels=["1", "2", "tie"])),
])
def test_one_answer_is_normalized_exactly_as_a_column_of_answers_is(db, kind, spec):
    # the Label page checks each answer on its own (a fast path without pandas); an import checks a
    # column at once: the same value must get the same text and number, or be refused by both
    task = create_task(db, f"norm-{kind}", kind, spec)
    values = ["3", " 3 ", "3.0", "3.5", "0", "6", "-1", "1e0", ".5", "0.25", "1", "0.", "+1", "nan", "inf", "",
              "x", "abc", "yes", " Yes", "no", "YES", "tie", "TIE", "2", "1_0", "0x1", "１", 3, 3.0, 2.5, 0.5, 1, 0,
              float("nan"), True, None]
    for value in values:
        text, num, bad = task.normalize_values(pd.Series([value]))
        if bad.iloc[0]:
            with pytest.raises(ValueError, match="is not a valid label"):
                task.normalize_value(value)
            continue
        want = (text.iloc[0], None if pd.isna(num.iloc[0]) else float(num.iloc[0]))
        assert task.normalize_value(value) == want, (kind, value)
