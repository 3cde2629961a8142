"""labelgate.student and `labelgate student` on the shipped UK-Acts demo (real CAP gold, real LLM labels)."""

import json

import pytest

from labelgate.cli import main
from labelgate.demo import CAP_TASK
from labelgate.store.tasks import get_task
from labelgate.student import StudentRefused, build_preview

# TextClass-Benchmark README: TF-IDF + logistic regression, 5-fold CV, F1 of class 1 against gold
PUBLISHED_F1 = {"gold": 0.844, "GPT-4o (2024-11-20)": 0.568}


@pytest.fixture(scope="module")
def gpt4o(cap_template, tmp_path_factory):
    import shutil

    from labelgate.store import Database

    path = tmp_path_factory.mktemp("student") / "cap.duckdb"
    shutil.copy(cap_template, path)
    db = Database(path)
    fits = []
    report = build_preview(db, get_task(db, CAP_TASK), "GPT-4o (2024-11-20)", n_seeds=3, curve=(0.5, 1.0),
                           n_resamples=400, on_fit=lambda *a: fits.append(a))
    return db, report, fits


def test_the_preview_reproduces_the_published_gold_versus_llm_gap(gpt4o):
    _, report, _ = gpt4o
    p = report.preview
    assert p.minority == "technology" and p.n_eval == 1000
    gold, llm = p.arm("gold"), p.arm(report.arm_labels["llm_all"])
    for arm, published in ((gold, PUBLISHED_F1["gold"]), (llm, PUBLISHED_F1["GPT-4o (2024-11-20)"])):
        f1 = arm.f1["technology"]
        assert f1.ci_low <= published <= f1.ci_high, (arm.name, f1)
    assert llm.f1_loss.ci_low > 0.05
    assert llm.minority_recall_ratio.ci_high < 0.8
    assert llm.stability_alpha < gold.stability_alpha
    assert any("GPT-4o (2024-11-20) (all items)' lose" in f for f in report.findings)


def test_every_arm_runs_and_the_filters_remove_the_same_share(gpt4o):
    _, report, fits = gpt4o
    names = report.arm_labels
    assert set(names) == {"gold", "llm_gold_items", "llm_all", "mix", "error_filter"}
    # GPT-4o's imported labels carry no confidence and one sample: the confidence filter is left out, said so
    assert any("confidence filter is left out" in n for n in report.notes)
    filt = report.preview.arm(names["error_filter"])
    assert filt.n_removed == pytest.approx(0.2 * report.preview.arm(names["llm_all"]).n_train, abs=1)
    assert filt.gain_over_base is not None
    # no student of any arm ever trains on an item of the fold that scores it
    fold_of = dict(zip(report.preview.eval_items.tolist(), report.preview.eval_folds.tolist(), strict=True))
    for _, fold, _, _, rows in fits:
        assert all(fold_of.get(int(i)) != fold for i in rows)


def test_refusals_name_the_problem(gpt4o, demo_db):
    db, _, _ = gpt4o
    with pytest.raises(StudentRefused, match="no labeler 'nobody'"):
        build_preview(db, get_task(db, CAP_TASK), "nobody")
    with pytest.raises(StudentRefused, match="needs a categorical task; mt-bench is pairwise"):
        build_preview(demo_db, get_task(demo_db, "mt-bench"), "GPT-4")
    with pytest.raises(StudentRefused, match="unknown arms"):
        build_preview(db, get_task(db, CAP_TASK), "GPT-4o (2024-11-20)", arms=["gold", "magic"])


def test_cli_prints_the_table_and_json(cap_db, capsys):
    argv = ["--db", str(cap_db.path), "student", "--task", CAP_TASK, "--labeler", "Gemma 2 (9B-L)",
            "--arms", "gold,llm_all", "--seeds", "2", "--resamples", "200"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "minority class 'technology'" in out
    assert "Gemma 2 (9B-L) (all items)" in out and "macro-F1" in out
    assert main(argv + ["--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [a["name"] for a in doc["arms"]] == ["gold", "Gemma 2 (9B-L) (all items)"]
    assert doc["arms"][1]["f1_loss"]["estimate"] > 0
    assert main(["--db", str(cap_db.path), "student", "--task", CAP_TASK, "--labeler", "nobody"]) == 2
    assert "no labeler 'nobody'" in capsys.readouterr().err


# --- the student preview as gate evidence ---------------------------------------------------------

def _lead_adds_student_criteria(db, task):
    from labelgate import gate, governance
    from tests.labelgate.test_gate import LEAD

    for metric in gate.STUDENT_METRICS:
        saved = governance.load(db, task, "gate_criteria")
        gate.add_criterion(db, task, metric, user=LEAD, expected_version=saved.version if saved else 0)


def test_the_gate_reads_the_recorded_preview_of_the_current_version(gpt4o, cap_db):
    from labelgate import gate
    from labelgate.store import student as student_store
    from labelgate.student import record_evidence
    from tests.labelgate.test_gate import ENGINEER

    _, report, _ = gpt4o
    task = get_task(cap_db, CAP_TASK)
    labeler = "GPT-4o (2024-11-20)"
    _lead_adds_student_criteria(cap_db, task)
    before = gate.evaluate(cap_db, task, labeler, n_resamples=200)
    for m in gate.STUDENT_METRICS:
        assert before.metrics[m] is None
        assert before.notes[m].startswith("not evaluable: no student preview recorded for this labeler")
    verdicts = {r.criterion.metric: r.passed for r in before.result.results}
    assert verdicts["student_f1_loss"] is False and before.verdict == "fail"   # asked for, and missing

    pid = record_evidence(cap_db, task, report, user=ENGINEER)
    ev = gate.evaluate(cap_db, task, labeler, n_resamples=200)
    arm = report.preview.arm(report.arm_labels["llm_all"])
    assert ev.metrics["student_f1_loss"].estimate == pytest.approx(arm.f1_loss.estimate, abs=1e-12)
    assert ev.metrics["student_f1_loss"].ci_low == pytest.approx(arm.f1_loss.ci_low, abs=1e-12)
    assert ev.metrics["student_minority_recall_ratio"].ci_high == \
        pytest.approx(arm.minority_recall_ratio.ci_high, abs=1e-12)
    assert ev.metrics["student_stability_alpha"] == pytest.approx(arm.stability_alpha, abs=1e-12)
    assert f"student preview #{pid} by engineer" in ev.notes["student_f1_loss"]
    results = {r.criterion.metric: r for r in ev.result.results}
    # GPT-4o's students lose more than 0.10 macro-F1 (its CI sits above 0.05) and keep < 80% minority recall
    assert arm.f1_loss.estimate > 0.10 and results["student_f1_loss"].passed is False
    assert results["student_minority_recall_ratio"].passed is False
    rows = ev.evidence().set_index("criterion")
    assert rows.loc["Student macro-F1 loss", "result"] == "fail"
    assert rows.loc["Student macro-F1 loss", "evidence"].startswith("macro-F1 of the gold-trained student minus")

    # a record of another labeler version says so and counts as missing
    student_store.record_preview(cap_db, task_id=task.task_id, labeler=labeler, labeler_version="older",
                                 gold_version=report.gold_version, gold_name=report.gold_name, settings={"seeds": 3},
                                 metrics=report.metrics(), report={}, created_by="engineer")
    stale = gate.evaluate(cap_db, task, labeler, n_resamples=200)
    assert stale.metrics["student_f1_loss"] is None
    assert "was of version older, not the current" in stale.notes["student_f1_loss"]


def test_only_a_lead_adds_student_criteria_and_adding_one_makes_an_approval_stale(cap_db):
    from labelgate import gate, governance
    from tests.labelgate.test_gate import ENGINEER, LEAD

    task = get_task(cap_db, CAP_TASK)
    labeler = "Gemma 2 (9B-L)"
    assert [c.metric for c in gate.addable_criteria(cap_db, task)] == ["accuracy", *gate.STUDENT_METRICS]
    with pytest.raises(governance.SettingPermissionError):
        gate.add_criterion(cap_db, task, "student_f1_loss", user=ENGINEER, expected_version=0)
    with pytest.raises(ValueError, match="cannot be added"):
        gate.add_criterion(cap_db, task, "kappa", user=LEAD, expected_version=0)
    before = gate.fingerprint(cap_db, task, labeler)
    v = gate.add_criterion(cap_db, task, "student_f1_loss", user=LEAD, expected_version=0)
    after = gate.fingerprint(cap_db, task, labeler)
    assert any("student_f1_loss added" in c for c in after.changes_from(before))
    assert "student_f1_loss" not in [c.metric for c in gate.addable_criteria(cap_db, task)]
    with pytest.raises(ValueError, match="not in force"):
        gate.remove_criterion(cap_db, task, "spearman", user=LEAD, expected_version=v)
    gate.remove_criterion(cap_db, task, "student_f1_loss", user=LEAD, expected_version=v)
    assert "student_f1_loss" not in [c.metric for c in gate.criteria_for(cap_db, task)]


def test_an_expert_cannot_record_and_the_cli_records_for_an_engineer(gpt4o, cap_db, capsys, monkeypatch):
    import io

    from labelgate.store import student as student_store
    from labelgate.store.users import add_user
    from labelgate.student import record_evidence
    from tests.labelgate.test_gate import EXPERT

    _, report, _ = gpt4o
    task = get_task(cap_db, CAP_TASK)
    with pytest.raises(PermissionError, match="only engineers and leads"):
        record_evidence(cap_db, task, report, user=EXPERT)
    add_user(cap_db, "eng", "engineer", "correct horse 1", created_by="test")
    add_user(cap_db, "ann", "expert", "correct horse 2", created_by="test")
    argv = ["--db", str(cap_db.path), "student", "--task", CAP_TASK, "--labeler", "Gemma 2 (9B-L)",
            "--arms", "gold,llm_all", "--seeds", "2", "--resamples", "200", "--record", "--password-stdin"]
    assert main(argv) == 2
    assert "--record needs --user" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse 2\n"))
    assert main(argv + ["--user", "ann"]) == 2                      # refused before the preview runs
    assert "ann is expert: only engineers and leads" in capsys.readouterr().err
    assert student_store.latest_preview(cap_db, task.task_id, "Gemma 2 (9B-L)") is None
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse 1\n"))
    assert main(argv + ["--user", "eng"]) == 0
    out = capsys.readouterr().out
    rec = student_store.latest_preview(cap_db, task.task_id, "Gemma 2 (9B-L)")
    assert f"recorded as gate evidence: student preview #{rec['preview_id']}" in out
    assert rec["created_by"] == "eng" and rec["settings"]["seeds"] == 2
    assert rec["metrics"]["student_f1_loss"]["estimate"] > 0
