"""The Label page as an expert uses it."""

from __future__ import annotations

import pandas as pd

from labelgate.store.items import get_items
from labelgate.store.tasks import get_task


def shown_item_id(at) -> str:
    keys = [b.key for b in at.button if b.key and b.key.startswith("label_skip_")]
    assert len(keys) == 1
    return keys[0].removeprefix("label_skip_")


def test_expert_labels_skips_and_flags_and_the_database_holds_it(app_for, demo_db):
    at = app_for("expert", page="pages/label.py")
    assert at.title[0].value == "Label"
    assert "Item 1 of 200" in at.get("progress")[0].proto.text
    answered = []
    for action in ("label_1", "label_2", "label_skip", "label_flag"):
        item_id = shown_item_id(at)
        if action == "label_flag":
            at.text_input(key=f"label_comment_{item_id}").input("both outputs are cut off")
        at.button(key=f"{action}_{item_id}").click().run()
        assert not at.exception
        answered.append(item_id)
        assert shown_item_id(at) != item_id  # the next item, never the same one
    assert "Item 5 of 200" in at.get("progress")[0].proto.text
    with demo_db.connect() as con:
        rows = con.execute("SELECT item_id, status, shown_order, comment FROM human_labels"
                           " WHERE rater = 'expert' ORDER BY label_id").fetchall()
    assert [r[0] for r in rows] == answered
    assert [r[1] for r in rows] == ["label", "label", "skip", "flag"]
    with demo_db.connect() as con:
        values = con.execute("SELECT value, shown_order FROM human_labels WHERE rater = 'expert' AND status = 'label'"
                             " ORDER BY label_id").fetchall()
    # "1" and "2" name the outputs as shown; the database keeps the original numbering
    expected = [("1" if o == "12" else "2", o) for _, o in values[:1]] + [("2" if o == "12" else "1", o)
                                                                         for _, o in values[1:]]
    assert values == expected
    assert all(r[2] in ("12", "21") for r in rows) and rows[3][3] == "both outputs are cut off"


def test_the_expert_sees_no_llm_or_colleague_label_and_items_are_plain_text(app_for, demo_db):
    at = app_for("expert", page="pages/label.py")
    item_id = shown_item_id(at)
    task = get_task(demo_db, "mt-bench")
    fields = get_items(demo_db, task.task_id, [item_id]).iloc[0]["fields"]
    texts = [t.value for t in at.text]
    assert fields["input"] in texts and fields["output_1"] in texts and fields["output_2"] in texts
    everything = " ".join(str(e.value) for e in at.markdown) + " ".join(texts)
    for name in ("GPT-4", "ChatGPT", "LLaMA2", "PaLM2", "mt-bench-majority"):
        assert name not in everything


def test_a_resumed_session_continues_where_the_expert_left_off(app_for):
    at = app_for("expert", page="pages/label.py")
    first = shown_item_id(at)
    at.button(key=f"label_1_{first}").click().run()
    second = shown_item_id(at)
    again = app_for("expert", page="pages/label.py")  # a new browser session
    assert shown_item_id(again) == second
    assert "Item 2 of 200" in again.get("progress")[0].proto.text


def make_task(db, name: str, kind: str, spec: dict, items: dict[str, str]):
    from labelgate.importer import ParsedFile, validate_items
    from labelgate.labeling import draw_calibration_set
    from labelgate.store.imports import import_items
    from labelgate.store.tasks import create_task

    task = create_task(db, name, kind, spec, text_columns=["text"])
    frame = pd.DataFrame({"item_id": list(items), "text": list(items.values())})
    parsed = ParsedFile(frame, f"{name}.csv", "sha")
    rows, cols = validate_items(parsed, task)
    import_items(db, task, parsed, rows, cols)
    draw_calibration_set(db, get_task(db, name), size=len(items), seed=0)
    return get_task(db, name)


def test_a_continuous_value_is_stored_as_typed_even_when_saved_right_after_editing(app_for, demo_db):
    from labelgate.tasks import make_spec

    make_task(demo_db, "toxicity", "continuous", make_spec("continuous", value_range=(0, 1)),
              {"t1": "first comment", "t2": "second comment"})
    at = app_for("expert", page="pages/label.py")
    at.selectbox(key="label_task").select("toxicity").run()
    item_id = shown_item_id(at)
    at.number_input(key=f"label_value_{item_id}").set_value(0.3).run()
    at.number_input(key=f"label_value_{item_id}").set_value(0.7)  # edited, then saved in the same step
    at.button(key=f"label_save_{item_id}").click().run()
    with demo_db.connect() as con:
        assert con.execute("SELECT item_id, value_num FROM human_labels WHERE rater = 'expert'").fetchall() == [
            (item_id, 0.7)]


def test_ordinal_points_are_their_own_keys_and_a_missing_set_is_explained(app_for, demo_db):
    from labelgate.store.tasks import create_task
    from labelgate.tasks import make_spec

    make_task(demo_db, "quality", "ordinal", make_spec("ordinal", scale=(1, 5), anchors={"1": "poor"}),
              {"q1": "a story"})
    create_task(demo_db, "empty", "categorical", make_spec("categorical", labels=["a", "b"]))
    at = app_for("expert", page="pages/label.py")
    at.selectbox(key="label_task").select("quality").run()
    item_id = shown_item_id(at)
    buttons = {b.key: b for b in at.button if b.key and b.key.startswith("label_") and b.key.endswith(item_id)}
    assert buttons[f"label_1_{item_id}"].label == "1 · poor"
    assert [buttons[f"label_{p}_{item_id}"].proto.shortcut for p in "12345"] == list("12345")
    buttons[f"label_4_{item_id}"].click().run()
    with demo_db.connect() as con:
        assert con.execute("SELECT value, value_num FROM human_labels WHERE rater = 'expert'").fetchall() == [
            ("4", 4.0)]
    at.selectbox(key="label_task").select("empty").run()
    assert "This task has no calibration set yet" in at.info[0].value


def test_the_same_item_answered_in_another_tab_is_kept_once_and_explained(app_for, demo_db):
    first_tab = app_for("expert", page="pages/label.py")
    second_tab = app_for("expert", page="pages/label.py")
    item_id = shown_item_id(first_tab)
    assert shown_item_id(second_tab) == item_id
    first_tab.button(key=f"label_1_{item_id}").click().run()
    second_tab.button(key=f"label_2_{item_id}").click().run()
    assert f"Item {item_id} was already answered" in second_tab.warning[0].value
    with demo_db.connect() as con:
        assert con.execute("SELECT count(*) FROM human_labels WHERE rater = 'expert' AND item_id = ?",
                           [item_id]).fetchall()[0][0] == 1


def test_routing_by_expertise_tells_an_expert_without_the_domain_why_nothing_is_there(app_for, demo_db):
    from labelgate.store.tasks import set_task_routing
    from labelgate.store.users import set_user_tags

    # every demo item's longer output is 1 or 2; expert2 holds both domains, the expert none
    set_task_routing(demo_db, "mt-bench", domain_column="longer_output", others_may_label=False)
    set_user_tags(demo_db, "expert2", "1, 2")
    at = app_for("expert", page="pages/label.py")
    assert not [b for b in at.button if b.key and b.key.startswith("label_skip_")]
    assert [i.value for i in at.info] == [
        "Nothing for you in this task now: 200 items are routed by expertise (1, 2), and each goes only to experts "
        "tagged with its domain. An admin (Users page) or a lead (Data page) sets your expertise tags."]
    set_user_tags(demo_db, "expert", "2")
    at = app_for("expert", page="pages/label.py")
    assert "Item 1 of " in at.get("progress")[0].proto.text
