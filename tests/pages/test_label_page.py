"""The Label page as an expert uses it."""

from __future__ import annotations

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
