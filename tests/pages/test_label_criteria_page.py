"""The Label page on a task with several criteria (the HANNA demo task), as an expert uses it."""

from __future__ import annotations

import json

import pytest

from labelgate.demo import HANNA_DIR, HANNA_TASK
from labelgate.store.tasks import get_task, revise_task
from labelgate.tasks import parse_criteria

SIX = ["relevance", "coherence", "empathy", "surprise", "engagement", "complexity"]
SEVEN = ["relevance", "coherence", "empathy", "surprise", "twist", "engagement", "complexity"]


@pytest.fixture
def demo_db(hanna_db):
    """app_for's database: the HANNA task alone, with the demo accounts."""
    return hanna_db


def with_why_and_twist(db) -> None:
    """The demo's criteria, with a required rationale on coherence and a conditional criterion after
    surprise (asked only when the ending surprised: 4 or 5)."""
    entries = json.loads((HANNA_DIR / "criteria.json").read_text())
    entries[1]["rationale"] = "required"
    entries.insert(4, {"name": "twist", "kind": "categorical", "labels": ["earned", "cheap"],
                       "show_if": {"criterion": "surprise", "in": [4, 5]}, "rubric": "Was the surprise earned?"})
    revise_task(db, HANNA_TASK, criteria=parse_criteria(entries), created_by="test")


def open_hanna(app_for):
    return app_for("expert", page="pages/label.py")  # the only task: no picker


def shown_item_id(at) -> str:
    (text,) = [c.value for c in at.caption if c.value.startswith("Item id: ")]
    return text.removeprefix("Item id: ")


def key(at, k: str):
    at.button(key=f"label_key_{k}").click().run()
    assert not at.exception
    return at


def chosen(at, item_id: str, names=SIX) -> dict[str, str]:
    """Which button of each criterion is drawn as chosen (primary)."""
    out = {}
    for b in at.button:
        if b.key and b.key.startswith("label_c") and b.key.endswith(f"_{item_id}") and b.proto.type == "primary":
            i, value = b.key.removeprefix("label_c").removesuffix(f"_{item_id}").split("_", 1)
            out[names[int(i)]] = value
    return out


def stored(db, item_id: str) -> list[tuple]:
    with db.connect() as con:
        return con.execute("SELECT criterion, status, value, rationale FROM human_labels WHERE rater = 'expert'"
                           " AND item_id = ? ORDER BY criterion", [item_id]).fetchall()


def test_all_six_criteria_are_answered_with_keys_and_stored_at_once_on_submit(app_for, demo_db):
    at = open_hanna(app_for)
    item_id = shown_item_id(at)
    for k in "34521":
        key(at, k)
    assert chosen(at, item_id) == dict(zip(SIX, "34521", strict=False))
    assert stored(demo_db, item_id) == []  # nothing is stored before the item is submitted
    at.button(key="label_submit").click().run()
    assert "Still to answer: complexity." in at.warning[0].value  # Enter with one missing
    key(at, "4")
    at.button(key="label_submit").click().run()
    assert not at.exception
    assert stored(demo_db, item_id) == sorted((name, "label", v, None) for name, v in zip(SIX, "345214", strict=True))
    assert shown_item_id(at) != item_id and chosen(at, shown_item_id(at)) == {}
    assert "Item 2 of 200" in at.get("progress")[0].proto.text


def test_tab_moves_between_criteria_and_a_click_answers_any_of_them(app_for, demo_db):
    at = open_hanna(app_for)
    item_id = shown_item_id(at)
    at.button(key="label_next").click().run()   # Tab: the keys now answer coherence
    key(at, "2")
    at.button(key="label_prev").click().run()   # Shift+Tab: back to coherence
    key(at, "5")                                # coherence again: its answer changes
    at.button(key=f"label_c0_1_{item_id}").click().run()  # a click answers relevance, wherever the focus is
    assert chosen(at, item_id) == {"relevance": "1", "coherence": "5"}


def test_a_required_rationale_and_a_conditional_criterion(app_for, demo_db):
    with_why_and_twist(demo_db)
    at = open_hanna(app_for)
    item_id = shown_item_id(at)

    def has_twist() -> bool:
        return any(b.key == f"label_c4_earned_{item_id}" for b in at.button)

    key(at, "3")
    key(at, "4")  # coherence: its "why" opens, and the keys stay on it until it is written
    why = at.text_input(key=f"label_why_1_{item_id}")
    assert why.label == "Why (required)"
    key(at, "2")  # still coherence
    assert chosen(at, item_id, SEVEN)["coherence"] == "2"
    at.button(key="label_submit").click().run()
    assert "why for coherence" in at.warning[0].value
    at.text_input(key=f"label_why_1_{item_id}").input("the middle contradicts the start").run()
    key(at, "3")  # empathy
    assert not has_twist()
    key(at, "5")  # surprise 5: twist appears, and the keys answer it next
    assert has_twist()
    key(at, "2")  # twist: cheap (the second option)
    assert chosen(at, item_id, SEVEN)["twist"] == "cheap"
    at.button(key=f"label_c3_2_{item_id}").click().run()  # surprise 2: twist goes, with its answer
    assert not has_twist()
    at.button(key=f"label_c3_5_{item_id}").click().run()  # and comes back unanswered
    assert "twist" not in chosen(at, item_id, SEVEN)
    at.button(key=f"label_c4_earned_{item_id}").click().run()
    for name, value in (("engagement", "1"), ("complexity", "2")):
        at.button(key=f"label_c{SEVEN.index(name)}_{value}_{item_id}").click().run()
    at.button(key="label_submit").click().run()
    assert not at.exception
    assert stored(demo_db, item_id) == [
        ("coherence", "label", "2", "the middle contradicts the start"), ("complexity", "label", "2", None),
        ("empathy", "label", "3", None), ("engagement", "label", "1", None), ("relevance", "label", "3", None),
        ("surprise", "label", "5", None), ("twist", "label", "earned", None)]


def test_skip_undo_and_resume_keep_the_item_whole(app_for, demo_db):
    at = open_hanna(app_for)
    first = shown_item_id(at)
    at.button(key="label_skip").click().run()
    second = shown_item_id(at)
    assert second != first
    assert {r[1] for r in stored(demo_db, first)} == {"skip"}
    key(at, "2")
    again = app_for("expert", page="pages/label.py")  # a new session resumes on the same item
    assert shown_item_id(again) == second
    at.button(key="label_undo").click().run()  # the skip is undone: the first item comes back
    assert shown_item_id(at) == first and stored(demo_db, first) == []


def test_the_expert_sees_no_imported_label_and_the_story_is_plain_text(app_for, demo_db):
    at = open_hanna(app_for)
    texts = " ".join(t.value for t in at.text)
    everything = " ".join(str(e.value) for e in at.markdown) + " ".join(str(c.value) for c in at.caption) + texts
    for name in ("ChatGPT", "Beluga", "crowd_1", "crowd_2"):
        assert name not in everything
    task = get_task(demo_db, HANNA_TASK)
    assert task.criterion_names == SIX and texts  # prompt and story as st.text


def test_with_every_criterion_optional_an_empty_submit_asks_for_one_answer(app_for, demo_db):
    entries = json.loads((HANNA_DIR / "criteria.json").read_text())
    for e in entries:
        e["required"] = False
    revise_task(demo_db, HANNA_TASK, criteria=parse_criteria(entries), created_by="test")
    at = open_hanna(app_for)
    item_id = shown_item_id(at)
    assert "Everything required is answered" in " ".join(c.value for c in at.caption)
    at.button(key="label_submit").click().run()
    assert "Answer at least one criterion, or skip the item (S)." in at.warning[0].value
    key(at, "2")
    at.button(key="label_submit").click().run()
    assert stored(demo_db, item_id) == [("relevance", "label", "2", None)]  # the others: no row


def test_a_pairwise_criterion_after_another_names_the_outputs_as_shown(app_for, demo_db):
    """Two criteria on MT-Bench-like items, the pairwise one second: the outputs are shown in the
    expert's order, and the stored answer is in the original numbering."""
    import pandas as pd

    from labelgate.importer import ParsedFile, validate_items
    from labelgate.labeling import draw_calibration_set, shown_order
    from labelgate.store.imports import import_items
    from labelgate.store.tasks import create_task

    criteria = parse_criteria([{"name": "both correct", "kind": "categorical", "labels": ["yes", "no"]},
                               {"name": "better", "kind": "pairwise", "labels": ["1", "2"]}])
    task = create_task(demo_db, "pairs", criteria=criteria, text_columns=["input", "output_1", "output_2"])
    frame = pd.DataFrame({"item_id": [f"p{i}" for i in range(4)], "input": "say hi",
                          "output_1": [f"first output {i}" for i in range(4)],
                          "output_2": [f"second output {i}" for i in range(4)]})
    parsed = ParsedFile(frame, "pairs.csv", "sha-pairs")
    rows, cols = validate_items(parsed, task)
    import_items(demo_db, task, parsed, rows, cols)
    draw_calibration_set(demo_db, get_task(demo_db, "pairs"), size=4, seed=0)
    at = app_for("expert", page="pages/label.py")
    at.selectbox(key="label_task").select("pairs").run()
    seen = []
    for _ in range(4):
        item_id = shown_item_id(at)
        order = shown_order("expert", item_id)
        texts = [t.value for t in at.text]
        first, second = (f"first output {item_id[1:]}", f"second output {item_id[1:]}")
        assert texts.index(first if order == "12" else second) < texts.index(second if order == "12" else first)
        key(at, "2")   # both correct: no
        key(at, "1")   # better: the output shown first
        at.button(key="label_submit").click().run()
        seen.append((item_id, "1" if order == "12" else "2", order))
    with demo_db.connect() as con:
        got = con.execute("SELECT item_id, value, shown_order FROM human_labels WHERE rater = 'expert'"
                          " AND criterion = 'better' ORDER BY label_id").fetchall()
    assert got == seen


def test_a_continuous_criterion_takes_its_number_and_the_keys_go_on(app_for, demo_db):
    from labelgate.store.tasks import create_task

    criteria = parse_criteria([{"name": "toxicity", "kind": "continuous", "range": [0, 1]},
                               {"name": "verdict", "kind": "categorical", "labels": ["keep", "drop"],
                                "rationale": "optional"}])
    create_task(demo_db, "scores", criteria=criteria, text_columns=["prompt", "story"])
    from labelgate.importer import read_table, validate_items
    from labelgate.labeling import draw_calibration_set
    from labelgate.store.imports import import_items

    task = get_task(demo_db, "scores")
    parsed = read_table(HANNA_DIR / "hanna_items.csv")
    rows, cols = validate_items(parsed, task, text_columns=["prompt", "story"])
    import_items(demo_db, task, parsed, rows, cols)
    draw_calibration_set(demo_db, get_task(demo_db, "scores"), size=5, seed=0)
    at = app_for("expert", page="pages/label.py")
    at.selectbox(key="label_task").select("scores").run()
    item_id = shown_item_id(at)
    at.number_input(key=f"label_num_0_{item_id}").set_value(0.25).run()   # Enter in the field: taken, next
    key(at, "2")                                                           # verdict: drop
    why = at.text_input(key=f"label_why_1_{item_id}")
    assert why.label == "Why (optional)"
    why.input("slurs in the second half").run()
    at.button(key="label_submit").click().run()
    assert not at.exception
    assert stored(demo_db, item_id) == [("toxicity", "label", "0.25", None),
                                        ("verdict", "label", "drop", "slurs in the second half")]
