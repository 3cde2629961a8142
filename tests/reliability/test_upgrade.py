"""A database written by the previous release migrates forward with every label intact."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

from labelgate.store import Database
from labelgate.store.db import migration_files
from labelgate.store.labels import human_labels
from labelgate.store.tasks import get_task
from tests.reliability.helpers import table_rows

DATA = Path(__file__).resolve().parents[1] / "data"
PREVIOUS = DATA / "previous_release.duckdb"


def test_the_previous_release_database_migrates_forward_with_every_row_intact(tmp_path):
    recorded = json.loads((DATA / "previous_release.json").read_text())
    path = tmp_path / "old.duckdb"
    shutil.copy(PREVIOUS, path)
    before = table_rows(path)
    assert sorted(r[0] for r in before["schema_migrations"]) == recorded["migrations"]   # really the old schema
    assert {t: len(rows) for t, rows in before.items()} == recorded["row_counts"]

    db = Database(path)
    task = get_task(db, "mt-bench")   # the first open applies the newer migrations
    db.close()
    after = table_rows(path)

    applied = sorted(r[0] for r in after["schema_migrations"])
    assert applied == [name for name, _ in migration_files()]
    # migration 0010 moved the saved gate criteria and monitor thresholds into versioned settings
    moved = [t for t in ("gate_criteria", "monitor_thresholds") if t in before]
    assert all(t not in after for t in moved)
    assert len(after["setting_versions"]) >= sum(len(before[t]) for t in moved)
    for table, rows in before.items():
        if table == "schema_migrations" or table in moved:
            continue
        old_columns = len(rows[0]) if rows else 0
        # a migration may add columns (with defaults) but never drop or change a stored row
        assert sorted((r[:old_columns] for r in after[table]), key=repr) == rows, table
    labels = human_labels(db, task.task_id)
    assert len(labels) == recorded["row_counts"]["human_labels"]
    assert set(labels["status"]) == {"label", "skip", "flag"}


PRE_CRITERIA = DATA / "pre_criteria.duckdb"
# columns migration 0014 adds, and what every existing row holds in them
CRITERIA_COLUMNS = {"human_labels": {"criterion": "label", "rationale": None},
                    "human_label_rows": {"criterion": "label", "rationale": None},
                    "llm_labels": {"criterion": "label", "rationale": None},
                    "adjudications": {"criterion": "label"}, "corrections": {"criterion": "label"},
                    "gold_release_items": {"criterion": "label"}, "task_revisions": {"criteria": None},
                    "llm_calls": {"criterion": "label", "rationale": None}, "llm_run_items": {"criterion": "label"},
                    "llm_invalid_labels": {"criterion": "label"}}


def test_a_database_of_the_release_before_criteria_keeps_every_row_and_its_approval_stays_fresh(tmp_path):
    """tests/data/pre_criteria.duckdb: previous_release.duckdb migrated and worked on by main before
    criteria (make_pre_criteria_db.py: a gold release, a correction, saved gate criteria, an evaluation,
    an approval and a refusal). Migration 0014 makes its task a task of one criterion 'label': every
    row is kept as it was (plus the new columns), the approval stays fresh, and the gate's verdict,
    numbers and fingerprint are what they were."""
    from labelgate import gate
    from labelgate import gold as goldlib

    recorded = json.loads((DATA / "pre_criteria.json").read_text())
    path = tmp_path / "pre.duckdb"
    shutil.copy(PRE_CRITERIA, path)
    before, old_columns = table_rows(path), _columns(path)
    assert sorted(r[0] for r in before["schema_migrations"]) == recorded["migrations"]
    assert "0014_criteria" not in recorded["migrations"]

    db = Database(path)
    task = get_task(db, "mt-bench")   # applies 0013 and 0014
    db.close()
    after = table_rows(path)
    assert "0014_criteria" in {r[0] for r in after["schema_migrations"]}
    columns = _columns(path)
    for table, rows in before.items():
        if table == "schema_migrations":
            continue
        n_old = len(old_columns[table])
        assert columns[table][:n_old] == old_columns[table], table
        assert len(after[table]) == len(rows), table
        # every stored value is unchanged; later migrations only append columns (0014 the ones
        # CRITERIA_COLUMNS names, filled as it says)
        assert sorted((r[:n_old] for r in after[table]), key=repr) == rows, table
        assert set(CRITERIA_COLUMNS.get(table, {})) <= set(columns[table][n_old:]), table
        for name, value in CRITERIA_COLUMNS.get(table, {}).items():
            if value is not None or name == "rationale":
                i = columns[table].index(name)
                assert {r[i] for r in after[table]} <= {value}, (table, name)
    assert after["human_labels"] and {r[columns["human_labels"].index("criterion")] for r in after["human_labels"]} \
        == {"label"}

    # the task: one criterion, the default, with the old options; its fingerprint is the old one
    assert [c.name for c in task.criteria] == ["label"] and task.criteria[0].is_default
    assert (task.kind, task.labels) == ("pairwise", ["1", "2"])
    assert task.spec_hash() == recorded["task_spec"]
    # labels, gold, the release and the correction read as before
    assert len(human_labels(db, task.task_id)) == recorded["row_counts"]["human_label_rows"]
    release = goldlib.latest_release(db, task)
    assert (release.number, release.gold_version) == (recorded["gold_release"], recorded["gold_version"])
    assert goldlib.release_gold(db, task, release.number).version == recorded["gold_version"]
    from labelgate.store.corrections import current_correction
    from labelgate.store.labelers import current_versions
    versions = current_versions(db, task.task_id).set_index("name")
    corr = current_correction(db, task.task_id, "ChatGPT", versions.loc["ChatGPT", "version"])
    assert corr["correction_id"] == recorded["correction_id"] and corr["criterion"] == "label"
    # the approval made before the migration is still fresh, the refusal still a refusal
    st = gate.status(db, task, "GPT-4")
    assert st.state == "approved", st.describe()
    assert st.current.__dict__ == recorded["approval_fingerprint"]
    assert gate.status(db, task, "PaLM2").state == "refused"
    # and the gate says what it said: same verdict, same numbers
    ev = gate.evaluate(db, task, "GPT-4")
    assert ev.verdict == recorded["verdict"]
    assert ev.metrics_json() == recorded["metrics"]
    assert gate.check(db, task, "GPT-4").ok
    # new answers go on the same chains, under the one criterion
    from labelgate.labeling import next_item, submit_answer
    item = next_item(db, task, "expert", retest_share=0)
    submit_answer(db, task, "expert", item, answer="1")
    labels = human_labels(db, task.task_id, rater="expert")
    assert labels.iloc[-1]["criterion"] == "label" and labels.iloc[-1]["item_id"] == item.item_id
    assert gate.status(db, task, "GPT-4", gold=None).state == "approved"   # on the release: still fresh


def _columns(path: Path) -> dict[str, list[str]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
            " UNION SELECT view_name FROM duckdb_views() WHERE database_name = current_database() AND NOT internal"
            ).fetchall()]
        return {t: [r[0] for r in con.execute(f'DESCRIBE "{t}"').fetchall()] for t in names}
    finally:
        con.close()
