"""Gate: evaluation with evidence on the demo, lead-only decisions, staleness, the audit log, gate check."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from labelgate import gate
from labelgate.cli import main as cli
from labelgate.demo import JUDGES
from labelgate.store.corrections import save_correction
from labelgate.store.gold import append_adjudication
from labelgate.store.labelers import save_labeler
from labelgate.store.tasks import get_task, revise_task
from labelgate.store.users import User

ROOT = Path(__file__).resolve().parents[2]
LEAD, ENGINEER, EXPERT = User("lead", "lead"), User("engineer", "engineer"), User("expert", "expert")
GPT4 = next(j for j in JUDGES if j.name == "GPT-4")


def n_events(db) -> int:
    with db.connect() as con:
        return con.execute("SELECT count(*) FROM gate_events").fetchall()[0][0]


def test_demo_gpt4_passes_the_default_gate_with_evidence_and_a_single_rater_gold_is_not_evaluable(demo_db):
    task = get_task(demo_db, "mt-bench")
    ev = gate.evaluate(demo_db, task, "GPT-4")
    assert ev.verdict == "pass"
    table = ev.evidence().set_index("criterion")
    kappa = table.loc["Cohen's kappa vs gold"]
    assert kappa["result"] == "pass" and kappa["observed"] == pytest.approx(0.515, abs=0.01)
    assert "0.620 [0.515, 0.705] on 200 items" in kappa["evidence"]
    assert table.loc["gold items", "observed"] == 200
    assert table.loc["expert agreement", "result"] == "skipped"
    assert "gold comes from 1 rater" in table.loc["expert agreement", "evidence"]
    assert table.loc["calibration (ECE)", "result"] == "skipped"
    assert table.loc["cross-family disagreement", "result"] == "pass"
    # qc's stricter bar (kappa's lower bound > 0.6) refuses the same labeler
    strict = [c if c.metric != "kappa" else c.__class__(**{**c.to_dict(), "threshold": 0.6})
              for c in gate.default_criteria(task)]
    assert gate.evaluate(demo_db, task, "GPT-4", criteria=strict).verdict == "fail"


def test_an_expert_or_engineer_cannot_approve_by_function_or_cli(demo_db, monkeypatch, capsys):
    task = get_task(demo_db, "mt-bench")
    before = n_events(demo_db)
    for user in (EXPERT, ENGINEER):
        with pytest.raises(gate.GatePermissionError, match="only a lead may approve"):
            gate.decide(demo_db, task, "GPT-4", user=user, decision="approve", comment="looks fine")
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("engineer-demo\n"))
    code = cli(["--db", str(demo_db.path), "gate", "approve", "--task", "mt-bench", "--labeler", "GPT-4",
                "--user", "engineer", "--comment", "ok", "--password-stdin"])
    assert code == 2 and "only a lead may approve or refuse" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("wrong-password\n"))
    assert cli(["--db", str(demo_db.path), "gate", "approve", "--task", "mt-bench", "--labeler", "GPT-4",
                "--user", "lead", "--comment", "ok", "--password-stdin"]) == 2
    assert "wrong user name or password" in capsys.readouterr().err
    assert n_events(demo_db) == before
    assert gate.status(demo_db, task, "GPT-4").state == "undecided"


def test_a_decision_needs_a_comment_and_a_failing_gate_cannot_be_approved(demo_db):
    task = get_task(demo_db, "mt-bench")
    with pytest.raises(ValueError, match="comment: a decision needs a comment"):
        gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="approve", comment="  ")
    with pytest.raises(ValueError, match="cannot approve LLaMA2: the gate fails"):
        gate.decide(demo_db, task, "LLaMA2", user=LEAD, decision="approve", comment="please")
    gate.decide(demo_db, task, "LLaMA2", user=LEAD, decision="refuse", comment="kappa too low")
    st = gate.status(demo_db, task, "LLaMA2")
    assert st.state == "refused" and "kappa too low" in st.describe()


@pytest.mark.parametrize("change, expected", [
    ("prompt", "the labeler changed (model, prompt or settings)"),
    ("rubric", "the task's rubric or label options changed: revision 1 was approved, the task is at revision 2"),
    ("gold", "the draft gold changed (no release was published)"),
    ("correction", "the correction changed: no correction was approved, the labeler now has correction #1"),
])
def test_an_approval_goes_stale_and_says_why(demo_db, change, expected):
    task = get_task(demo_db, "mt-bench")
    gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="approve", comment="kappa is fine")
    assert gate.status(demo_db, task, "GPT-4").state == "approved"
    version = gate.status(demo_db, task, "GPT-4").current.labeler_version
    if change == "prompt":
        save_labeler(demo_db, task.task_id, GPT4.with_changes(prompt_template=GPT4.prompt_template + "\nBe brief."))
    elif change == "rubric":
        revise_task(demo_db, "mt-bench", rubric=task.rubric + "\nPrefer concise answers.")
    elif change == "gold":
        append_adjudication(demo_db, task.task_id, "mtb-000", "2", None, decided_by="lead", reason="re-read")
    else:
        save_correction(demo_db, task_id=task.task_id, labeler="GPT-4", labeler_version=version, method="platt",
                        params={"method": "platt", "a": 1.0, "b": 0.0, "n": 10}, gold_version="x", n_fit=10,
                        cv_metrics=None, created_by="engineer")
    st = gate.status(demo_db, get_task(demo_db, "mt-bench"), "GPT-4")
    assert st.state == "stale" and not st.fresh_approval
    assert len(st.stale_reasons) == 1 and expected in st.stale_reasons[0]


def test_the_audit_log_is_append_only_and_holds_the_fingerprint(demo_db):
    task = get_task(demo_db, "mt-bench")
    ev = gate.evaluate(demo_db, task, "GPT-4")
    gate.record_evaluation(demo_db, ev, ENGINEER)
    gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="approve", comment="first")
    with demo_db.connect() as con:
        first = con.execute("SELECT * FROM gate_events ORDER BY event_id").fetchall()
    gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="refuse", comment="changed my mind")
    with demo_db.connect() as con:
        rows = con.execute("SELECT event_id, kind, actor, actor_role, labeler_version, gold_version, criteria,"
                           " metrics, comment FROM gate_events ORDER BY event_id").fetchall()
        again = con.execute("SELECT * FROM gate_events ORDER BY event_id").fetchall()
    assert again[:2] == first  # earlier rows untouched
    assert [(r[1], r[2], r[3]) for r in rows] == [("evaluation", "engineer", "engineer"), ("approve", "lead", "lead"),
                                                 ("refuse", "lead", "lead")]
    assert rows[1][4] == ev.fingerprint.labeler_version and rows[1][5] == ev.fingerprint.gold_version
    assert '"kappa"' in rows[1][7] and '"n_gold"' in rows[1][6] and rows[2][8] == "changed my mind"
    # no code path of the app or CLI edits or deletes an audit row
    sources = [p for d in ("labelgate", "pages") for p in (ROOT / d).rglob("*.py")] + [ROOT / "app.py"]
    pattern = re.compile(r"(UPDATE|DELETE\s+FROM|TRUNCATE|DROP\s+TABLE)\s+gate_events", re.I)
    assert not [str(p) for p in sources if pattern.search(p.read_text())]
    assert gate.status(demo_db, task, "GPT-4").state == "refused"


def test_gate_check_waits_for_another_process_holding_the_database(demo_db, capsys):
    task = get_task(demo_db, "mt-bench")
    gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="approve", comment="ok")
    # the holder keeps its transaction open until told (a line on stdin), so the check below
    # is known to start while the file is locked, however slow the machine
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from labelgate.store import Database
        with Database({str(demo_db.path)!r}).transaction() as con:
            con.execute("SELECT count(*) FROM gate_events").fetchall()
            print("holding", flush=True)
            sys.stdin.readline()
        """)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    result = {}
    check = threading.Thread(target=lambda: result.update(code=cli(
        ["--db", str(demo_db.path), "gate", "check", "--task", "mt-bench", "--labeler", "GPT-4"])))
    try:
        assert holder.stdout.readline().strip() == "holding"
        check.start()
        check.join(2.0)  # settle: a check that fails on a locked file instead of waiting ends here
        assert check.is_alive() and not result, "gate check finished while the database was locked"
        holder.stdin.write("release\n")
        holder.stdin.flush()
        check.join(60)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert not check.is_alive() and result == {"code": 0}
    assert "OK: GPT-4 approved by lead" in capsys.readouterr().out
