"""Governance: only a lead changes gate criteria, monitor thresholds and the human share; every
change is audited with who, when, old and new; a save against an outdated version is refused."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from labelgate import export as ex
from labelgate import gate, governance
from labelgate import monitor as mon
from labelgate.store import Database
from labelgate.store.tasks import get_task
from labelgate.store.users import User
from tests.labelgate.schema_helpers import schema_before

LEAD, LEAD2 = User("lead", "lead"), User("lead2", "lead")
ENGINEER, EXPERT = User("engineer", "engineer"), User("expert", "expert")


def rows(db, sql):
    with db.connect() as con:
        return con.execute(sql).fetchall()


def with_kappa(task, value):
    return [replace(c, threshold=value) if c.metric == "kappa" else c for c in gate.default_criteria(task)]


@pytest.mark.parametrize("who", [ENGINEER, EXPERT])
def test_only_a_lead_changes_criteria_thresholds_or_the_human_share(demo_db, who):
    task = get_task(demo_db, "mt-bench")
    with pytest.raises(governance.SettingPermissionError,
                       match=f"Only a lead can change the gate criteria; {who.name} "):
        gate.save_criteria(demo_db, task, with_kappa(task, 0.05), user=who)
    with pytest.raises(governance.SettingPermissionError, match="Only a lead can change the monitor thresholds"):
        mon.save_thresholds(demo_db, task, mon.Thresholds(max_js=0.9), user=who)
    with pytest.raises(governance.SettingPermissionError, match="Only a lead can change the human share of exports"):
        ex.save_human_share(demo_db, task, 0.15, user=who)
    assert rows(demo_db, "SELECT count(*) FROM setting_versions") == [(0,)]
    assert rows(demo_db, "SELECT count(*) FROM setting_changes") == [(0,)]
    assert [c.threshold for c in gate.criteria_for(demo_db, task) if c.metric == "kappa"] == [0.4]


def test_a_leads_change_is_audited_with_old_and_new_and_marked_with_who(demo_db):
    task = get_task(demo_db, "mt-bench")
    assert gate.criteria_marks(demo_db, task) == {}
    assert gate.save_criteria(demo_db, task, with_kappa(task, 0.05), user=LEAD, expected_version=0) == 1
    assert [c.threshold for c in gate.criteria_for(demo_db, task) if c.metric == "kappa"] == [0.05]
    ((setting, version, name, old, new, who, role),) = rows(
        demo_db, "SELECT setting, version, name, old_value, new_value, changed_by, changed_by_role"
                 " FROM setting_changes")
    assert (setting, version, name, who, role) == ("gate_criteria", 1, "kappa", "lead", "lead")
    assert '"threshold": 0.4' in old and '"threshold": 0.05' in new
    log = governance.change_log(demo_db, task)
    assert log[["who", "setting", "what", "from", "to"]].values.tolist() == [
        ["lead (lead)", "gate criteria", "kappa", "> 0.4 (lower 95% bound), n ≥ 200",
         "> 0.05 (lower 95% bound), n ≥ 200"]]

    # a second lead changes another criterion: each mark names who set that one
    assert gate.save_criteria(demo_db, task, [replace(c, threshold=150) if c.metric == "n_gold" else c
                                              for c in gate.criteria_for(demo_db, task)], user=LEAD2) == 2
    marks = gate.criteria_marks(demo_db, task)
    assert {k: (m.by, m.default["threshold"], m.value["threshold"]) for k, m in marks.items()} == {
        "kappa": ("lead", 0.4, 0.05), "n_gold": ("lead2", 200, 150)}
    # back to the default: no longer marked, and the change is recorded too
    gate.save_criteria(demo_db, task, [replace(c, threshold=0.4) if c.metric == "kappa" else c
                                       for c in gate.criteria_for(demo_db, task)], user=LEAD)
    assert set(gate.criteria_marks(demo_db, task)) == {"n_gold"}
    assert len(governance.change_log(demo_db, task)) == 3


def test_saving_the_same_values_records_nothing(demo_db):
    task = get_task(demo_db, "mt-bench")
    assert gate.save_criteria(demo_db, task, gate.default_criteria(task), user=LEAD) == 0
    assert rows(demo_db, "SELECT count(*) FROM setting_versions") == [(0,)]


def test_a_save_against_an_outdated_version_is_refused_and_names_who_saved(demo_db):
    task = get_task(demo_db, "mt-bench")
    # both leads loaded the defaults (version 0); the first saves
    gate.save_criteria(demo_db, task, with_kappa(task, 0.5), user=LEAD, expected_version=0)
    with pytest.raises(governance.StaleSettingError, match=r"Not saved: lead saved version 1 on .* after you loaded "
                                                           r"version 0"):
        gate.save_criteria(demo_db, task, with_kappa(task, 0.3), user=LEAD2, expected_version=0)
    assert [c.threshold for c in gate.criteria_for(demo_db, task) if c.metric == "kappa"] == [0.5]
    assert rows(demo_db, "SELECT version, changed_by FROM setting_versions") == [(1, "lead")]
    # thresholds and the human share follow the same rule
    mon.save_thresholds(demo_db, task, mon.Thresholds(max_js=0.9), user=LEAD, expected_version=0)
    with pytest.raises(governance.StaleSettingError):
        mon.save_thresholds(demo_db, task, mon.Thresholds(max_js=0.8), user=LEAD2, expected_version=0)
    ex.save_human_share(demo_db, task, 0.15, user=LEAD, expected_version=0)
    with pytest.raises(governance.StaleSettingError):
        ex.save_human_share(demo_db, task, 0.12, user=LEAD2, expected_version=0)
    assert mon.thresholds_for(demo_db, task).max_js == 0.9 and ex.task_human_share(demo_db, task) == 0.15


def test_concurrent_saves_against_one_version_let_exactly_one_through(demo_db):
    task = get_task(demo_db, "mt-bench")
    n = 6
    start, outcomes = threading.Barrier(n), []

    def attempt(k):
        start.wait()
        try:
            gate.save_criteria(demo_db, task, with_kappa(task, 0.41 + k / 100), user=LEAD, expected_version=0)
            outcomes.append("saved")
        except governance.StaleSettingError:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused"] * (n - 1) + ["saved"]
    assert rows(demo_db, "SELECT count(*), max(version) FROM setting_versions") == [(1, 1)]
    assert rows(demo_db, "SELECT count(*) FROM setting_changes") == [(1,)]


def test_exports_keep_the_tasks_human_share_and_may_only_ask_for_more(demo_db):
    task = get_task(demo_db, "mt-bench")
    ex.save_human_share(demo_db, task, 0.15, user=LEAD)
    with pytest.raises(ValueError, match="mt-bench's exports keep at least 15% human labels .* got 10%"):
        ex.prepare(demo_db, task, "GPT-4", human_share=0.10, force=True, user=LEAD, force_reason="test")
    _, report = ex.prepare(demo_db, task, "GPT-4", force=True, user=LEAD, force_reason="test", subsample=True)
    assert report.human_share == 0.15
    with pytest.raises(ValueError, match="between 10% and 20%"):
        ex.save_human_share(demo_db, task, 0.05, user=LEAD)


def test_only_a_lead_forces_an_export_and_only_with_a_reason(demo_db):
    task = get_task(demo_db, "mt-bench")
    with pytest.raises(ex.ExportRefused, match=r"only a lead can force an export .*\(engineer is an engineer\)"):
        ex.prepare(demo_db, task, "GPT-4", force=True, user=ENGINEER, force_reason="deadline", subsample=True)
    with pytest.raises(ex.ExportRefused, match="a forced export needs a reason"):
        ex.prepare(demo_db, task, "GPT-4", force=True, user=LEAD, force_reason="  ", subsample=True)
    _, report = ex.prepare(demo_db, task, "GPT-4", force=True, user=LEAD, force_reason="pilot", subsample=True)
    assert (report.forced, report.forced_by, report.force_reason) == (True, "lead", "pilot")
    assert "FORCED by lead without a fresh approval" in report.summary() and "because: pilot" in report.summary()


def test_migration_0010_carries_saved_criteria_and_thresholds_forward(tmp_path):
    """A file made by the schema before 0010, with criteria and thresholds saved, opened by this version."""
    path = tmp_path / "old.duckdb"
    con = schema_before(path, "0010")
    (task_id,) = con.execute("INSERT INTO tasks (name, kind) VALUES ('t', 'categorical') RETURNING task_id").fetchone()
    con.execute("""INSERT INTO task_revisions (task_id, revision, spec, text_columns)
                   VALUES (?, 1, '{"labels": ["a", "b"]}', '["text"]')""", [task_id])
    con.execute("INSERT INTO gate_criteria (task_id, criteria, created_by, created_at) VALUES "
                "(?, '[{\"metric\": \"kappa\", \"comparator\": \">\", \"threshold\": 0.3}]', 'old-lead', "
                "TIMESTAMPTZ '2026-01-01 10:00:00+00'), "
                "(?, '[{\"metric\": \"kappa\", \"comparator\": \">\", \"threshold\": 0.2}]', 'old-eng', "
                "TIMESTAMPTZ '2026-01-02 10:00:00+00')", [task_id, task_id])
    con.execute("INSERT INTO monitor_thresholds (task_id, thresholds, created_by) VALUES (?, '{\"max_js\": 0.5}', "
                "'old-lead')", [task_id])
    con.close()

    db = Database(path)
    task = get_task(db, "t")
    assert [(c.metric, c.threshold) for c in gate.criteria_for(db, task)] == [("kappa", 0.2)]
    assert mon.thresholds_for(db, task).max_js == 0.5
    assert rows(db, "SELECT setting, version, changed_by FROM setting_versions ORDER BY setting, version") == [
        ("gate_criteria", 1, "old-lead"), ("gate_criteria", 2, "old-eng"), ("monitor_thresholds", 1, "old-lead")]
    assert gate.criteria_marks(db, task)["kappa"].by == "old-eng"
    # the next save continues the numbering, against the version loaded
    assert gate.save_criteria(db, task, gate.default_criteria(task), user=LEAD, expected_version=2) == 3
