"""Prompt rendering and the answer parser: placeholders, both pairwise orders, tolerant parsing."""

from __future__ import annotations

import math

import pytest

from labelgate.labelers import LabelerConfig
from labelgate.llm.parse import logprob_confidence, parse_answer
from labelgate.llm.prompts import (
    PromptTemplateError,
    check_template,
    label_schema,
    render,
    shown_orders,
)
from labelgate.tasks import Task

CAT = Task(1, "sentiment", "categorical", {"labels": ["positive", "negative", "neutral"]}, "Be fair.", ("text",))
ORD = Task(2, "quality", "ordinal", {"scale": [1, 5], "anchors": {"1": "awful", "5": "perfect"}}, "", ("text",))
CONT = Task(3, "score", "continuous", {"range": [0.0, 10.0]}, "", ("text",))
PAIR = Task(4, "helpful", "pairwise", {"labels": ["1", "2", "tie"]}, "Prefer helpful answers.",
            ("input", "output_1", "output_2"))
PAIR_ITEM = {"input": "How do I boil an egg?", "output_1": "FIRST answer", "output_2": "SECOND answer"}


def test_fields_rubric_and_labels_are_filled_in():
    out = render("Rate: {text}\nRubric: {rubric}\nOne of: {labels}\n{options}", CAT, {"text": "Great film"})
    assert out.splitlines() == ["Rate: Great film", "Rubric: Be fair.", "One of: positive, negative, neutral",
                                "- positive", "- negative", "- neutral"]


def test_ordinal_options_show_the_anchors():
    out = render("{options}", ORD, {"text": "x"})
    assert out.splitlines() == ["1 = awful", "2", "3", "4", "5 = perfect"]


def test_an_unknown_placeholder_is_named_with_the_known_ones():
    with pytest.raises(PromptTemplateError, match=r"unknown placeholder \{body\}.*available: .*\{text\}"):
        render("Item: {body}", CAT, {"text": "x"})
    with pytest.raises(PromptTemplateError, match=r"\{review\}"):
        check_template("{review} {rubric}", CAT, ["text"])
    check_template("{text} {item} {task} {labels}", CAT, ["text"])  # all known: no error


def test_json_examples_and_doubled_braces_pass_through():
    out = render('Answer like {"label": "positive"} for {text}; literal {{text}}', CAT, {"text": "t"})
    assert out == 'Answer like {"label": "positive"} for t; literal {text}'


def test_pairwise_both_orders_swap_the_outputs():
    cfg = LabelerConfig(name="j", provider="openai", model="gpt-4o", both_orders=True)
    assert shown_orders(PAIR, cfg) == ["12", "21"]
    assert shown_orders(PAIR, cfg.with_changes(both_orders=False)) == ["12"]
    assert shown_orders(CAT, cfg) == [None]
    first = render("", PAIR, PAIR_ITEM, shown_order="12")
    second = render("", PAIR, PAIR_ITEM, shown_order="21")
    assert first.index("FIRST") < first.index("SECOND")
    assert second.index("SECOND") < second.index("FIRST")
    assert render("{first} vs {output_2}", PAIR, PAIR_ITEM, shown_order="21") == "SECOND answer vs FIRST answer"


def test_the_schema_enumerates_the_options():
    schema = label_schema(CAT)
    assert schema["properties"]["label"]["enum"] == ["positive", "negative", "neutral"]
    assert schema["required"] == ["label", "confidence"] and schema["additionalProperties"] is False
    assert label_schema(CONT)["properties"]["label"]["type"] == "number"
    assert label_schema(ORD)["properties"]["label"]["enum"] == ["1", "2", "3", "4", "5"]


@pytest.mark.parametrize("text, label, conf", [
    ('{"label": "negative", "confidence": 0.7}', "negative", 0.7),
    ('Sure! ```json\n{"label": "Neutral", "confidence": 85}\n``` hope it helps', "neutral", 0.85),
    ('My reasoning... final: {"answer": "positive", "confidence": "0.6"} done', "positive", 0.6),
    ("positive", "positive", None),
    ("  'Negative'. ", "negative", None),
    ("After reading it, I think the review is neutral overall. Confidence: 90%", "neutral", 0.9),
])
def test_tolerant_parsing_of_categorical_answers(text, label, conf):
    got = parse_answer(text, CAT)
    assert got.error is None and got.value == label
    assert got.conf_verbalized == (pytest.approx(conf) if conf is not None else None)


@pytest.mark.parametrize("text, error", [
    ('{"label": "mixed", "confidence": 0.9}', "'mixed' is not valid: expected one of positive, negative, neutral"),
    ("It could be positive or negative.", "no label found"),
    ("", "empty response"),
    ('{"label": "positive", "confidence": ', None),   # broken JSON, but the prose names one option
])
def test_answers_without_a_valid_label_say_why(text, error):
    got = parse_answer(text, CAT)
    if error is None:
        assert got.value == "positive"
    else:
        assert got.value is None and error in got.error


@pytest.mark.parametrize("text, order, expected", [
    ("Output (a) is better.", "12", "1"),
    ("Output (a) is better.", "21", "2"),
    ("[[B]]", "12", "2"),
    ("[[B]]", "21", "1"),
    ('{"label": "2", "confidence": 0.6}', "21", "1"),
    ("Response 2 is clearly more helpful.", "12", "2"),
    ("They are equally good: tie.", "21", "tie"),
    ("b", "12", "2"),
])
def test_pairwise_verdicts_map_back_to_the_original_numbering(text, order, expected):
    got = parse_answer(text, PAIR, shown_order=order)
    assert got.value == expected, got.error


def test_numeric_kinds_are_validated_by_the_task():
    assert parse_answer('{"label": 4, "confidence": 0.5}', ORD).value == "4"
    assert parse_answer("My rating: 3", ORD).value == "3"
    assert "not valid" in parse_answer('{"label": 7}', ORD).error
    assert "not valid" in parse_answer('{"label": 3.5}', ORD).error
    got = parse_answer('{"label": 7.25, "confidence": 1}', CONT)
    assert (got.value_num, got.conf_verbalized) == (7.25, 1.0)


def test_logprob_confidence_is_the_probability_of_the_label_tokens():
    text = '{"label": "negative", "confidence": 0.7}'
    tokens = [('{"', 0.0), ("label", 0.0), ('":', 0.0), (' "', 0.0), ("neg", math.log(0.8)), ("ative", math.log(0.9)),
              ('",', 0.0), (' "confidence": 0.7}', -0.01)]
    assert logprob_confidence(tokens, text, "negative") == pytest.approx(0.72)
    got = parse_answer(text, CAT, logprobs=tokens)
    assert got.confidence == (pytest.approx(0.72), "logprob")
    assert parse_answer(text, CAT).confidence == (0.7, "verbalized")
