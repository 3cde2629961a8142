"""Targeted review in Chromium: an engineer draws a review set by cross-family disagreement on the Review
page, an expert labels it with the keyboard after the calibration set, and the export holds those items
as human_review rows with the expert's labels."""

from __future__ import annotations

import io
import sys

import pandas as pd
import pytest

from labelgate import gate
from labelgate.cli import main as cli
from labelgate.labelers import LabelerConfig
from labelgate.store import Database
from labelgate.store.items import record_set_draw
from labelgate.store.labelers import save_labeler
from labelgate.store.labels import append_llm_labels
from labelgate.store.tasks import create_task, get_task
from labelgate.store.users import add_user
from labelgate.tasks import make_spec
from tests.e2e.harness import ROOT, Server, log_in, new_page, wait_idle
from tests.e2e.test_label_browser import press_and_wait, shown_item
from tests.labelgate.llm_helpers import add_items

pytestmark = pytest.mark.e2e
DISAGREE = {f"q{i:02d}" for i in (5, 9, 14, 22, 31)}   # where the two families differ


def make_project(path) -> None:
    db = Database(path)
    for name, role in (("eng", "engineer"), ("ann", "expert"), ("boss", "lead")):
        add_user(db, name, role, f"{name}-password-1")
    task = create_task(db, "claims", "categorical", make_spec("categorical", labels=["true", "false"]),
                       rubric="Is the claim true?", text_columns=["text"])
    ids = [f"q{i:02d}" for i in range(40)]
    add_items(db, task.task_id, {i: {"text": f"claim number {i}"} for i in ids})
    record_set_draw(db, task.task_id, "calibration", ids[:3], seed=1, stratify_by=None, created_by="test")
    task = get_task(db, "claims")
    for name, model in (("Cat", "gpt-4o"), ("Other", "llama-3")):
        save_labeler(db, task.task_id, LabelerConfig(name=name, provider="openai", model=model, prompt_template="x"))
    versions = {c: gate.fingerprint(db, task, c).labeler_version for c in ("Cat", "Other")}
    cat = {i: "false" if int(i[1:]) % 4 == 0 else "true" for i in ids}     # a varied labeler: no collapse
    flip = {"true": "false", "false": "true"}
    rows = [("Cat", i, cat[i]) for i in ids] + [("Other", i, flip[cat[i]] if i in DISAGREE else cat[i]) for i in ids]
    frame = pd.DataFrame(rows, columns=["labeler", "item_id", "value"])
    append_llm_labels(db, frame.assign(task_id=task.task_id, version=frame["labeler"].map(versions), batch="w1",
                                       source="run", confidence=None))
    db.close()


def test_engineer_draws_by_disagreement_expert_reviews_and_export_holds_human_review_rows(browser, tmp_path,
                                                                                          monkeypatch):
    path = tmp_path / "team.duckdb"
    make_project(path)
    srv = Server(path)
    try:
        pg = new_page(browser, 1400, 1300)
        log_in(pg, srv.url, "eng", "eng-password-1")
        pg.get_by_role("link", name="Review").click()
        wait_idle(pg)
        pg.get_by_role("tab", name="Targeted review").click()
        wait_idle(pg)
        pg.get_by_role("combobox", name="Strategy").click()
        pg.get_by_role("option", name="disagreement").click()
        wait_idle(pg)
        pg.get_by_label("Items").fill("4")
        pg.get_by_label("Items").press("Enter")
        wait_idle(pg)
        pg.get_by_role("button", name="Draw review set").click()
        pg.get_by_text("Drew review set 1: 4 of 37 items by disagreement").wait_for()
        wait_idle(pg)
        pg.screenshot(path=str(ROOT / "test-artifacts" / "review_set.png"), full_page=True)
        pg.context.close()

        pg = new_page(browser)
        log_in(pg, srv.url, "ann", "ann-password-1")
        pg.get_by_text("Item 1 of 7").wait_for()            # 3 calibration items, then the 4 review items
        current, seen = shown_item(pg), []
        for _ in range(7):
            seen.append(current)
            if len(seen) < 7:
                current = press_and_wait(pg, "2", current)      # "false" on every item
            else:
                pg.keyboard.press("2")
                pg.get_by_text("You have answered every item assigned to you in this task").wait_for()
        pg.context.close()
    finally:
        srv.stop()

    db = Database(path)
    with db.connect() as con:
        drawn = [r[0] for r in con.execute("SELECT item_id FROM review_draw_items ORDER BY position").fetchall()]
        answers = con.execute("SELECT item_id, value FROM human_labels WHERE rater = 'ann' ORDER BY label_id"
                              ).fetchall()
    db.close()
    assert seen == [f"q{i:02d}" for i in range(3)] + drawn
    assert len(drawn) == 4 and len(set(drawn) & DISAGREE) >= 3      # the floor may add one even item
    assert answers == [(i, "false") for i in seen]

    out = tmp_path / "export.csv"
    monkeypatch.setattr(sys, "stdin", io.StringIO("boss-password-1\n"))
    assert cli(["--db", str(path), "export", "--task", "claims", "--labeler", "Cat", "--out", str(out),
                "--force", "--user", "boss", "--password-stdin", "--reason", "review test",
                "--human-weight"]) == 0
    table = pd.read_csv(out, dtype=str).set_index("item_id")
    assert sorted(table.index[table["source"] == "human_review"]) == sorted(drawn)
    assert (table.loc[drawn, "value"] == "false").all()              # the expert's label, not Cat's
    assert (table.loc[[i for i in table.index if i not in drawn and i >= "q03"], "source"] == "llm").all()
