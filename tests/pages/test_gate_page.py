"""Gate page (AppTest through app.py): evaluation with evidence, a lead's decision, roles, staleness."""

from __future__ import annotations

import pytest

from labelgate import gate
from labelgate.demo import JUDGES
from labelgate.gold import load_gold
from labelgate.store.labelers import save_labeler
from labelgate.store.tasks import get_task
from labelgate.store.users import User

PAGE = "pages/gate.py"
LEAD = User("lead", "lead")
GPT4 = next(j for j in JUDGES if j.name == "GPT-4")


def click(at, label: str):
    at.button[[b.label for b in at.button].index(label)].click().run()
    assert not at.exception, at.exception
    return at


def open_gpt4(app_for, role: str):
    at = app_for(role, page=PAGE)
    assert at.title[0].value == "Gate"
    at.selectbox(key="gate_labeler").select("GPT-4").run()
    assert not at.exception, at.exception
    return at


def decisions(db) -> list[tuple]:
    with db.connect() as con:
        return con.execute("SELECT kind, actor, actor_role, labeler, labeler_version, gold_version, verdict, comment"
                           " FROM gate_events WHERE kind IN ('approve', 'refuse') ORDER BY event_id").fetchall()


def evaluation_table(at):
    found = [d.value for d in at.dataframe if {"criterion", "result", "evidence"} <= set(d.value.columns)]
    assert found, "no evaluation table shown"
    return found[0].set_index("criterion")


def test_lead_evaluates_gpt4_and_sees_every_criterion_with_its_evidence_and_a_pass(app_for, demo_db):
    at = open_gpt4(app_for, "lead")
    assert "**Not approved** — no lead has decided on this labeler yet." in [i.value for i in at.info]
    click(at, "Evaluate")
    version = gate.fingerprint(demo_db, get_task(demo_db, "mt-bench"), "GPT-4").labeler_version
    verdict = [s.value for s in at.success if s.value.startswith("Verdict")]
    assert verdict and verdict[0].startswith(f"Verdict: **PASS** — GPT-4 version {version}, evaluated by lead")
    table = evaluation_table(at)
    criteria = gate.criteria_for(demo_db, get_task(demo_db, "mt-bench"))
    assert len(table) == len(criteria)
    assert set(table["result"]) <= {"pass", "skipped"} and (table["result"] == "pass").sum() >= 3
    assert (table["evidence"].str.len() > 0).all()  # every criterion says what it rests on
    kappa = table.loc["Cohen's kappa vs gold"]
    assert kappa["result"] == "pass" and kappa["observed"] == pytest.approx(0.515, abs=0.01)
    assert "0.620 [0.515, 0.705] on 200 items" in kappa["evidence"]
    assert "gold comes from 1 rater" in table.loc["expert agreement", "evidence"]
    with demo_db.connect() as con:
        rows = con.execute("SELECT kind, actor, verdict FROM gate_events").fetchall()
    assert rows == [("evaluation", "lead", "pass")]


def test_lead_approves_with_a_comment_and_the_audit_row_holds_the_versions(app_for, demo_db):
    at = open_gpt4(app_for, "lead")
    at.text_area(key="gate_comment_mt-bench_GPT-4").input("kappa's lower bound clears 0.4 on 200 items")
    click(at, "Approve")
    task = get_task(demo_db, "mt-bench")
    version, gold_version = gate.fingerprint(demo_db, task, "GPT-4").labeler_version, load_gold(demo_db, task).version
    assert any(s.value.startswith(f"Approved GPT-4 version {version} (audit row") for s in at.success)
    assert any(s.value.startswith("**Approved** — approved by lead") for s in at.success)
    assert decisions(demo_db) == [("approve", "lead", "lead", "GPT-4", version, gold_version, "pass",
                                   "kappa's lower bound clears 0.4 on 200 items")]
    log = [d.value for d in at.dataframe if "forced" in d.value.columns][0]
    assert list(log["kind"]) == ["approve"] and list(log["actor"]) == ["lead"]


def test_a_refusal_needs_a_comment(app_for, demo_db):
    at = open_gpt4(app_for, "lead")
    click(at, "Refuse")
    assert "comment: a decision needs a comment saying why" in [e.value for e in at.error]
    assert decisions(demo_db) == []
    at.text_area(key="gate_comment_mt-bench_GPT-4").input("position bias too strong for production")
    click(at, "Refuse")
    refusals = [d[:2] + d[-1:] for d in decisions(demo_db)]
    assert refusals == [("refuse", "lead", "position bias too strong for production")]
    assert any(e.value.startswith("**Refused** — refused by lead") for e in at.error)


def test_an_engineer_sees_the_evaluation_but_cannot_decide_and_an_expert_cannot_open_the_page(app_for, demo_db):
    at = open_gpt4(app_for, "engineer")
    click(at, "Evaluate")
    assert evaluation_table(at).loc["Cohen's kappa vs gold", "result"] == "pass"
    labels = [b.label for b in at.button]
    assert "Approve" not in labels and "Refuse" not in labels
    assert not [t for t in at.text_area if t.key == "gate_comment_mt-bench_GPT-4"]
    assert "Only a lead can approve or refuse a labeler; you are signed in as engineer." in [i.value for i in at.info]
    assert decisions(demo_db) == []
    expert = app_for("expert")
    with pytest.raises(Exception, match="Could not find a navigation page"):
        expert.switch_page(PAGE).run()


def test_a_prompt_change_shows_the_approval_as_stale_and_names_the_labeler_change(app_for, demo_db):
    task = get_task(demo_db, "mt-bench")
    gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="approve", comment="kappa fine")
    old = gate.fingerprint(demo_db, task, "GPT-4").labeler_version
    at = open_gpt4(app_for, "engineer")
    assert any(s.value.startswith("**Approved** — approved by lead") for s in at.success)
    new = save_labeler(demo_db, task.task_id, GPT4.with_changes(prompt_template=GPT4.prompt_template + "\nBe brief."))
    assert new != old
    at.run()
    assert any(w.value.startswith("**Approval stale** — GPT-4 was approved by lead") for w in at.warning)
    reasons = [m.value for m in at.markdown if m.value.startswith("- ")]
    assert reasons == [f"- the labeler changed (model, prompt or settings): version {old} was approved, the current "
                       f"version is {new}"]
    assert not any(s.value.startswith("**Approved**") for s in at.success)


def test_a_decision_on_a_page_drawn_before_the_labeler_changed_is_not_recorded(app_for, demo_db):
    from labelgate.demo import JUDGES
    from labelgate.store.labelers import save_labeler

    at = open_gpt4(app_for, "lead")  # the lead looks at version 1 ...
    gpt4 = next(j for j in JUDGES if j.name == "GPT-4")
    save_labeler(demo_db, get_task(demo_db, "mt-bench").task_id,
                 gpt4.with_changes(prompt_template=gpt4.prompt_template + "\nBe brief."))  # ... an engineer edits it
    at.text_area(key="gate_comment_mt-bench_GPT-4").input("[looks fine](http://example.invalid)")
    click(at, "Approve")
    assert any("Not recorded: the labeler, task, gold or correction changed" in e.value for e in at.error)
    assert decisions(demo_db) == []


def test_a_comment_is_shown_as_written_not_as_markdown(app_for, demo_db):
    at = open_gpt4(app_for, "lead")
    at.text_area(key="gate_comment_mt-bench_GPT-4").input("ok per [rubric](http://example.invalid) *v2*")
    click(at, "Approve")
    shown = next(s.value for s in at.success if s.value.startswith("**Approved** —"))
    assert r"\[rubric\](http://example.invalid) \*v2\*" in shown  # escaped: no link, no emphasis
