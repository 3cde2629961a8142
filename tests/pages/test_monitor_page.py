"""Monitor page (AppTest through app.py): a generated batch history whose labeler collapses at batch k."""

from __future__ import annotations

import re

import pandas as pd

from labelgate import monitor as mon
from labelgate.store.tasks import get_task
from tests.labelgate.test_monitor import history

PAGE = "pages/monitor.py"
DRIFT_AT = 4   # Drifty collapses to one label and flips every anchor from batch b04 on


def open_drifty(app_for, role: str = "engineer"):
    at = app_for(role, page=PAGE, timeout=60)
    at.selectbox(key="monitor_labeler").select("Drifty").run()
    assert not at.exception, at.exception
    return at


def blocked_messages(at) -> dict[str, str]:
    """batch -> the red message the page shows for it."""
    out = {}
    for e in at.error:
        if e.value.startswith("Batch ") and " is blocked: " in e.value:
            batch, _, reasons = e.value.removeprefix("Batch ").partition(" is blocked: ")
            out[batch] = re.sub(r"\\(.)", r"\1", reasons)  # as read: the page escapes markdown
    return out


def batches_table(at) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if {"batch", "blocked", "review"} <= set(d.value.columns)]
    assert found, "no batches table shown"
    return found[0].set_index("batch").sort_index()


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_the_page_marks_the_batch_where_the_labeler_collapses_and_not_the_earlier_ones(app_for, demo_db):
    history(demo_db, n_batches=6, drift_at=DRIFT_AT)
    at = open_drifty(app_for)
    messages = blocked_messages(at)
    # b01 crosses only the cross-family bar it shares with the gate (37% > 35%)
    assert sorted(messages) == ["b01", "b04", "b05", "b06"]
    assert messages["b01"] == "cross-family disagreement 37% > 35%"
    assert "label distribution collapsed: '1' holds 100% of the labels" in messages["b04"]
    assert "anchor drift: 100% of anchor labels flipped since the first anchor run" in messages["b04"]
    assert any(e.value.startswith("The latest batch **b06** is blocked") for e in at.error)
    table = batches_table(at)
    assert list(table.index) == [f"b0{i}" for i in range(1, 7)]
    assert table["blocked"].to_dict() == {"b01": "yes", "b02": "no", "b03": "no",
                                          "b04": "yes", "b05": "yes", "b06": "yes"}
    assert metric(at, "Blocked batches") == "4" and metric(at, "Anchor set") == "40 items"


def test_thresholds_edited_on_the_page_change_what_is_blocked(app_for, demo_db):
    history(demo_db, n_batches=6, drift_at=DRIFT_AT)
    at = open_drifty(app_for, "lead")  # thresholds are the lead's call
    assert sorted(blocked_messages(at)) == ["b01", "b04", "b05", "b06"]
    # stricter: b03 re-labeled one anchor in 40 differently (2.5%), above a 1% limit
    at.number_input(key="monitor_thr_mt-bench_max_flip_rate").set_value(0.01)
    at.button[[b.label for b in at.button].index("Save thresholds")].click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success if s.value.startswith("Saved the monitor thresholds")] == [
        "Saved the monitor thresholds of mt-bench (version 1); the change is in the Gate page's change log."]
    with demo_db.connect() as con:
        assert con.execute("SELECT name, old_value, new_value, changed_by FROM setting_changes").fetchall() == [
            ("max_flip_rate", "0.15", "0.01", "lead")]
    messages = blocked_messages(at)
    assert sorted(messages) == ["b01", "b03", "b04", "b05", "b06"]
    assert messages["b03"].startswith("anchor drift:") and messages["b03"].endswith("first anchor run > 1%")
    assert mon.thresholds_for(demo_db, get_task(demo_db, "mt-bench")).max_flip_rate == 0.01
    # every rule switched off: nothing is blocked
    for f in mon.Thresholds.LABELS:
        if at.checkbox(key=f"monitor_on_mt-bench_{f}").value:
            at.checkbox(key=f"monitor_on_mt-bench_{f}").uncheck()
    at.button[[b.label for b in at.button].index("Save thresholds")].click().run()
    assert not at.exception, at.exception
    assert blocked_messages(at) == {} and metric(at, "Blocked batches") == "0"
    assert (batches_table(at)["blocked"] == "no").all()
    assert not any("latest batch" in e.value for e in at.error)


def test_an_engineer_cannot_loosen_the_thresholds(app_for, demo_db):
    history(demo_db, n_batches=6, drift_at=DRIFT_AT)
    at = open_drifty(app_for, "engineer")
    assert "Save thresholds" not in [b.label for b in at.button]
    assert at.number_input(key="monitor_thr_mt-bench_max_flip_rate").disabled
    assert at.checkbox(key="monitor_on_mt-bench_max_flip_rate").disabled
    assert any(c.value.startswith("Read-only: only a lead changes the thresholds that block batches; you are "
                                  "signed in as engineer.") for c in at.caption)


def test_the_batches_table_reads_as_text_with_short_named_headers_and_merged_cells(app_for, demo_db):
    # the demo's mt-bench has no anchor set and ChatGPT gives no confidence: those cells are "–", not "None"
    at = app_for("engineer", page=PAGE, timeout=60)
    at.selectbox(key="monitor_labeler").select("ChatGPT").run()
    assert not at.exception, at.exception
    table = batches_table(at)
    # 13 columns (the top label with its share, the review counts in one cell): they fit a 1400 px window
    assert list(table.columns) == ["versions", "labels", "entropy", "top label", "flips", "vs gold", "cross-family",
                                   "AUROC", "ECE", "distinct-2", "blocked", "review"]
    row = table.loc["calibration"]
    assert row["labels"] == 400 and row["entropy"] == "1.00" and row["cross-family"] == "0.125"
    assert row["top label"] == "1 (51%)" and row["blocked"] == "no"
    assert row["flips"] == row["vs gold"] == row["AUROC"] == row["ECE"] == row["review"] == "–"


def test_the_monitor_and_the_gate_show_the_same_cross_family_bar(app_for):
    # one number (labelgate.monitor.CROSS_FAMILY_THRESHOLD): the Gate said 0.35 while the Monitor blocked at 0.40
    at = app_for("lead", page=PAGE, timeout=60)
    assert at.number_input(key="monitor_thr_mt-bench_max_cross_family_disagreement").value == 0.35
    at.switch_page("pages/gate.py").run()
    assert not at.exception, at.exception
    assert at.number_input(key="gate_thr_mt-bench_cross_family_disagreement").value == 0.35


def test_the_monitor_and_the_gate_show_the_same_ece_bar(app_for):
    # one number (labelgate.monitor.ECE_THRESHOLD): the Gate required ECE < 0.10 while the Monitor blocked above 0.15
    at = app_for("lead", page=PAGE, timeout=60)
    assert at.number_input(key="monitor_thr_mt-bench_max_ece").value == 0.10
    at.switch_page("pages/gate.py").run()
    assert not at.exception, at.exception
    assert at.number_input(key="gate_thr_mt-bench_ece").value == 0.10
