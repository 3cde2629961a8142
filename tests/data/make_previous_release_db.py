"""Make tests/data/previous_release.duckdb: a database written by an earlier release's schema.

Run once, on the release whose schema the file must keep (it was made on main at 29583aa,
migrations 0001-0007), and commit the file; tests/reliability/test_upgrade.py opens it with the
current code and checks that every migration since applies and every label is intact. Re-running
it on a newer release would make a file of the newer schema, which is not the point.

    .venv/bin/python tests/data/make_previous_release_db.py
"""

from __future__ import annotations

import json
from pathlib import Path

from labelgate.demo import TASK_NAME, load_demo
from labelgate.labeling import next_item, submit_answer
from labelgate.review import adjudicate
from labelgate.store import Database
from labelgate.store.tasks import get_task

OUT = Path(__file__).resolve().parent / "previous_release.duckdb"
SUMMARY = OUT.with_suffix(".json")


def main() -> None:
    OUT.unlink(missing_ok=True)
    db = Database(OUT)
    load_demo(db)
    task = get_task(db, TASK_NAME)
    answers = ["1", "2", "1", "1", "2"]
    for rater in ("expert", "expert2"):
        for i in range(15):
            item = next_item(db, task, rater, retest_share=0)
            status = "skip" if i == 7 else "flag" if i == 11 else "label"
            submit_answer(db, task, rater, item, status=status,
                          answer=answers[i % len(answers)] if status == "label" else None,
                          comment="unclear instruction" if status == "flag" else None)
    with db.connect() as con:
        disputed = con.execute(
            "SELECT item_id FROM human_labels WHERE status = 'label' GROUP BY item_id"
            " HAVING count(DISTINCT value) > 1 ORDER BY item_id LIMIT 1").fetchall()
    if disputed:
        adjudicate(db, task, disputed[0][0], "1", decided_by="lead", reason="output 1 follows the format")
    with db.connect() as con:
        con.execute("CHECKPOINT")
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1").fetchall()]
        counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] for t in tables}
        migrations = [r[0] for r in con.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()]
    SUMMARY.write_text(json.dumps({"migrations": migrations, "row_counts": counts}, indent=2) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.1f} MB): {counts}")


if __name__ == "__main__":
    main()
