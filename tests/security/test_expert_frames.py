"""What reaches an expert's browser before they answer: never a model's label, a colleague's label
or comment, or a model name -- checked in the websocket frames themselves, not only on screen."""

from __future__ import annotations

import re

import duckdb
import pandas as pd
import pytest

from labelgate.demo import TASK_NAME
from labelgate.labelers import LabelerConfig
from labelgate.labeling import next_item, submit_answer
from labelgate.store import Database
from labelgate.store.labelers import current_labelers, save_labeler
from labelgate.store.labels import append_llm_labels
from labelgate.store.tasks import get_task
from tests.e2e.conftest import Server, log_in, wait_idle
from tests.e2e.harness import new_page

pytestmark = pytest.mark.e2e

PLANTED = {
    "labeler": "PLANTED-JUDGE-7",
    "model": "planted-model-x9",
    "version": "plantedver01",
    "batch": "PLANTED-BATCH",
    "colleague": "PLANTED-EXPERT2-NOTE",
}


def plant(db: Database) -> tuple[list[str], list[str]]:
    """A labeler with LLM labels on every item, and a colleague's commented answers on
    the items the expert meets first; returns the demo's model names (which must not show either)
    and the colleague's items."""
    task = get_task(db, TASK_NAME)
    save_labeler(db, task.task_id, LabelerConfig(name=PLANTED["labeler"], provider="openai", model=PLANTED["model"]))
    with db.connect() as con:
        items = [r[0] for r in con.execute("SELECT item_id FROM items WHERE task_id = ?", [task.task_id]).fetchall()]
    append_llm_labels(db, pd.DataFrame({"task_id": task.task_id, "item_id": items, "labeler": PLANTED["labeler"],
                                        "version": PLANTED["version"], "batch": PLANTED["batch"], "value": "1",
                                        "value_num": 1.0, "source": "run"}))
    colleague_items = []
    for _ in range(6):
        item = next_item(db, task, "expert2")
        submit_answer(db, task, "expert2", item, status="flag", comment=f"{PLANTED['colleague']} on {item.item_id}")
        colleague_items.append(item.item_id)
    return [c.model for c in current_labelers(db, task.task_id) if c.name != PLANTED["labeler"]], colleague_items


def test_an_expert_receives_no_model_label_colleague_label_or_model_name(tmp_path, demo_template, browser):
    import shutil

    path = tmp_path / "frames.duckdb"
    shutil.copy(demo_template, path)
    db = Database(path)
    models, colleague_items = plant(db)
    db.close()
    server = Server(path)
    pg = new_page(browser)
    context = pg.context
    frames: list[bytes] = []
    pg.on("websocket", lambda ws: ws.on("framereceived",
                                        lambda f: frames.append(f if isinstance(f, bytes) else f.encode())))
    try:
        log_in(pg, server.url, "expert", "expert-demo")
        shown = []
        for key in ("1", "2", "s", "1"):
            text = pg.get_by_text(re.compile(r"^Item id: ")).inner_text()
            shown.append(text.removeprefix("Item id: ").strip())
            pg.keyboard.press(key)
            pg.wait_for_function("prev => { const el = [...document.querySelectorAll('p')].find(p =>"
                                 " p.innerText.startsWith('Item id: ')); return el && el.innerText !== prev; }",
                                 arg=text)
            wait_idle(pg)
        pg.screenshot(path=str(tmp_path / "expert.png"))
    finally:
        context.close()
        server.stop()

    received = b"\n".join(frames).decode("utf-8", "replace")
    assert all(item in received for item in shown)  # the frames are readable: what was shown is in them
    assert set(shown) & set(colleague_items)  # the expert met items the colleague had answered
    for planted in [*PLANTED.values(), *models]:  # the demo's own model names included
        assert planted not in received, planted


def test_on_a_continuous_task_no_model_or_colleague_value_reaches_the_expert(tmp_path, browser):
    """Category labels are on every answer button, so a leaked label value cannot be told apart in
    the frames; on a continuous task the judge's and the colleague's values are distinctive numbers,
    and the expert's frames hold neither (nor the judge's name or model) before the expert answers."""
    from labelgate.labeling import draw_calibration_set
    from labelgate.store.tasks import create_task
    from labelgate.store.users import add_user
    from labelgate.tasks import make_spec
    from tests.labelgate.llm_helpers import add_items

    path = tmp_path / "continuous.duckdb"
    db = Database(path)
    for name in ("expert", "expert2"):
        add_user(db, name, "expert", "frames-pass-1")
    task = create_task(db, "scores", "continuous", make_spec("continuous", value_range=(0, 1)),
                       experts_per_item=2, created_by="test")
    items = {f"c{k:02d}": {"text": f"a text to score, number {k}"} for k in range(8)}
    add_items(db, task.task_id, items)
    draw_calibration_set(db, task, size=8, experts_per_item=2, created_by="test")
    task = get_task(db, "scores")
    judge, model, judged, colleague = "PLANTED-CONT-JUDGE", "planted-cont-model", "0.73159", "0.24681"
    save_labeler(db, task.task_id, LabelerConfig(name=judge, provider="openai", model=model))
    append_llm_labels(db, pd.DataFrame({"task_id": task.task_id, "item_id": list(items), "labeler": judge,
                                        "version": "contver01", "batch": "calibration", "value": judged,
                                        "value_num": float(judged), "source": "run"}))
    colleague_items = []
    for _ in range(4):
        item = next_item(db, task, "expert2")
        submit_answer(db, task, "expert2", item, answer=colleague)
        colleague_items.append(item.item_id)
    db.close()

    server = Server(path)
    pg = new_page(browser)
    context = pg.context
    frames: list[bytes] = []
    pg.on("websocket", lambda ws: ws.on("framereceived",
                                        lambda f: frames.append(f if isinstance(f, bytes) else f.encode())))
    try:
        log_in(pg, server.url, "expert", "frames-pass-1")
        shown = []
        for value in ("0.5", "0.25", "0.75", "0.1"):
            text = pg.get_by_text(re.compile(r"^Item id: ")).inner_text()
            shown.append(text.removeprefix("Item id: ").strip())
            box = pg.get_by_label("Value (0 to 1)")
            box.fill(value)
            box.press("Tab")
            wait_idle(pg)
            pg.get_by_role("button", name="Save value").click()
            pg.wait_for_function("prev => { const el = [...document.querySelectorAll('p')].find(p =>"
                                 " p.innerText.startsWith('Item id: ')); return el && el.innerText !== prev; }",
                                 arg=text)
            wait_idle(pg)
    finally:
        context.close()
        server.stop()

    received = b"\n".join(frames).decode("utf-8", "replace")
    assert all(item in received for item in shown)  # the frames are readable: what was shown is in them
    assert set(shown) & set(colleague_items)  # the expert met items the colleague had answered
    for planted in (judged, colleague, judge, model, "contver01"):
        assert planted not in received, planted
    with duckdb.connect(str(path), read_only=True) as con:  # the expert's answers were stored
        assert con.execute("SELECT count(*) FROM human_labels WHERE rater = 'expert'").fetchone() == (4,)
