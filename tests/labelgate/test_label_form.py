"""The rules of one item's answers on the Label page before they are stored (labelgate.ui.label_form)."""

from __future__ import annotations

import pytest

from labelgate.tasks import parse_criteria
from labelgate.ui import label_form as lf

CRITERIA = parse_criteria([
    {"name": "valid", "kind": "categorical", "labels": ["yes", "no"]},
    {"name": "first wrong step", "kind": "ordinal", "scale": [1, 9], "show_if": {"criterion": "valid", "equals": "no"},
     "rationale": "required"},
    {"name": "style", "kind": "ordinal", "scale": [1, 5], "required": False, "rationale": "optional"},
    {"name": "better", "kind": "pairwise", "labels": ["1", "2", "tie"]},
])


def names(criteria) -> list[str]:
    return [c.name for c in criteria]


def test_a_conditional_criterion_is_shown_only_while_its_trigger_has_the_named_answer():
    assert names(lf.shown_criteria(CRITERIA, {})) == ["valid", "style", "better"]
    assert names(lf.shown_criteria(CRITERIA, {"valid": "no"})) == ["valid", "first wrong step", "style", "better"]
    assert names(lf.shown_criteria(CRITERIA, {"valid": "yes"})) == ["valid", "style", "better"]


def test_changing_the_trigger_drops_the_answer_given_under_the_old_one():
    answers = lf.with_answer(CRITERIA, {}, "valid", "no")
    answers = lf.with_answer(CRITERIA, answers, "first wrong step", "3")
    assert answers == {"valid": "no", "first wrong step": "3"}
    assert lf.with_answer(CRITERIA, answers, "valid", "yes") == {"valid": "yes"}
    assert lf.with_answer(CRITERIA, answers, "valid", None) == {}


def test_the_focus_moves_to_the_next_criterion_shown_and_tab_wraps_around():
    assert lf.first_focus(CRITERIA, {}) == "valid"
    answers = {"valid": "no"}
    assert lf.focus_after_answer(CRITERIA, {"valid": "yes"}, {}, "valid") == "style"
    assert lf.focus_after_answer(CRITERIA, answers, {}, "valid") == "first wrong step"  # just revealed
    assert lf.moved_focus(CRITERIA, answers, "better", 1) == "valid"
    assert lf.moved_focus(CRITERIA, answers, "valid", -1) == "better"
    assert lf.moved_focus(CRITERIA, {}, "first wrong step", 1) == "valid"  # hidden now: start over
    # the last criterion keeps the focus once answered
    assert lf.focus_after_answer(CRITERIA, {"valid": "yes", "better": "1"}, {}, "better") == "better"
    # the keys start on the first criterion still unanswered (after a reload)
    assert lf.first_focus(CRITERIA, {"valid": "yes"}) == "style"


def test_a_required_rationale_keeps_the_focus_until_it_is_written():
    answers = {"valid": "no", "first wrong step": "4"}
    assert lf.needs_rationale(CRITERIA[1], answers, {})
    assert lf.focus_after_answer(CRITERIA, answers, {"first wrong step": "  "}, "first wrong step") == \
        "first wrong step"
    assert lf.focus_after_answer(CRITERIA, answers, {"first wrong step": "step 4 divides by 0"},
                                 "first wrong step") == "style"
    assert not lf.needs_rationale(CRITERIA[2], {"style": "2"}, {})  # optional


def test_missing_names_each_required_answer_and_rationale_in_screen_order():
    assert lf.missing(CRITERIA, {}, {}) == ["valid", "better"]  # style is optional
    assert lf.missing(CRITERIA, {"valid": "no"}, {}) == ["first wrong step", "better"]
    assert lf.missing(CRITERIA, {"valid": "no", "first wrong step": "2", "better": "tie"}, {}) == [
        "why for first wrong step"]
    assert lf.missing(CRITERIA, {"valid": "yes", "better": "2"}, {}) == []


def test_only_what_is_shown_and_asked_is_submitted():
    answers = {"valid": "yes", "better": "1", "first wrong step": "5", "style": "4"}  # a stale hidden answer
    rationales = {"first wrong step": "old", "style": "  nice  ", "valid": "ignored: not asked"}
    assert lf.submission(CRITERIA, answers, rationales) == ({"valid": "yes", "better": "1", "style": "4"},
                                                            {"style": "nice"})


@pytest.mark.parametrize(("order", "pressed", "stored"), [("12", "1", "1"), ("21", "1", "2"), ("21", "2", "1"),
                                                           ("21", "tie", "tie")])
def test_a_pairwise_key_names_the_output_as_shown_and_the_draft_keeps_the_original_numbering(order, pressed, stored):
    better = CRITERIA[3]
    assert lf.canonical_value(better, pressed, order) == stored
    assert lf.shown_value(better, stored, order) == pressed


def test_keys_are_the_scale_points_or_positions_and_never_a_reserved_letter():
    assert [k for _v, _t, k in lf.answer_options(CRITERIA[0])] == ["1", "2"]  # yes/no: positions
    assert [k for _v, _t, k in lf.answer_options(CRITERIA[2])] == list("12345")
    assert [(v, k) for v, _t, k in lf.answer_options(CRITERIA[3])] == [("1", "1"), ("2", "2"), ("tie", "t")]
    letters = parse_criteria([{"name": "x", "kind": "categorical", "labels": ["a", "b", "s"]}])[0]
    assert [k for _v, _t, k in lf.answer_options(letters)] == ["1", "2", "3"]  # s is skip
