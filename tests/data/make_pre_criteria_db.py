"""Make tests/data/pre_criteria.duckdb: the database of the release before criteria (issue 11).

Run once, on main at 48d414d (migrations 0001-0012), from tests/data/previous_release.duckdb (which
that code migrates forward), and commit the file; tests/reliability/test_upgrade.py opens a copy with
the current code and checks that every label, the gold release, the correction, the saved gate
criteria, the audit rows and the approval survive migration 0014 -- and that the approval stays fresh
and the gate's verdict and numbers are the same. Re-running it on a release with criteria would make
a file of the newer schema, which is not the point.

    PYTHONPATH=<checkout of 48d414d> .venv/bin/python tests/data/make_pre_criteria_db.py
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from labelgate import calibrate as cal
from labelgate import gate
from labelgate import gold as goldlib
from labelgate.store import Database
from labelgate.store.corrections import save_correction
from labelgate.store.tasks import get_task
from labelgate.store.users import User

HERE = Path(__file__).resolve().parent
OUT = HERE / "pre_criteria.duckdb"
SUMMARY = OUT.with_suffix(".json")
LEAD, ENGINEER = User("lead", "lead"), User("engineer", "engineer")


def main() -> None:
    OUT.unlink(missing_ok=True)
    shutil.copy(HERE / "previous_release.duckdb", OUT)
    db = Database(OUT)
    task = get_task(db, "mt-bench")
    release = goldlib.publish(db, task, user=ENGINEER, note="before criteria")
    gold = goldlib.resolve_gold(db, task)
    refs = cal.labeler_refs(db, task).set_index("name")
    # a correction of ChatGPT (confusion matrix, as the Calibrate page saves it)
    data = cal.load_labeler(db, task, gold, "ChatGPT", refs.loc["ChatGPT", "version"], refs.loc["ChatGPT", "family"],
                            n_resamples=50)
    stored = cal.fit_correction(task, data.pairs, "confusion")
    cid = save_correction(db, task_id=task.task_id, labeler="ChatGPT", labeler_version=refs.loc["ChatGPT", "version"],
                          method="confusion", params=stored, gold_version=gold.version, n_fit=len(data.pairs),
                          cv_metrics=None, created_by="engineer", gold_release=release.number)
    # saved gate criteria (a lead's), then an approval of GPT-4 and a refusal of PaLM2
    crit = gate.criteria_for(db, task)
    lower = {"n_gold": {"threshold": 150}, "kappa": {"min_n": 150}}   # the release holds 189 gold items
    crit = [c.__class__(**{**c.to_dict(), **lower.get(c.metric, {})}) for c in crit]
    gate.save_criteria(db, task, crit, user=LEAD)
    gate.record_evaluation(db, gate.evaluate(db, task, "ChatGPT"), ENGINEER)
    approve_id, ev = gate.decide(db, task, "GPT-4", user=LEAD, decision="approve", comment="meets the bar")
    refuse_id, _ = gate.decide(db, task, "PaLM2", user=LEAD, decision="refuse", comment="position bias")
    status = gate.status(db, task, "GPT-4")
    assert status.state == "approved", status.describe()
    with db.connect() as con:
        con.execute("CHECKPOINT")
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1").fetchall()]
        counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] for t in tables}
        migrations = [r[0] for r in con.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()]
    db.close()
    SUMMARY.write_text(json.dumps({
        "made_on": "main 48d414d", "migrations": migrations, "row_counts": counts,
        "task_spec": task.spec_hash(), "gold_release": release.number, "gold_version": release.gold_version,
        "correction_id": cid, "approval_event": approve_id, "refusal_event": refuse_id,
        "approval_fingerprint": ev.fingerprint.__dict__, "verdict": ev.verdict, "metrics": ev.metrics_json(),
    }, indent=2) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.1f} MB): {counts}")


if __name__ == "__main__":
    main()
