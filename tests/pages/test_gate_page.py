"""Gate page (AppTest through app.py): evaluation with evidence, a lead's decision, roles, staleness."""

from __future__ import annotations

import re

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


def shown(table):
    """A static table's cells as the user reads them (the page escapes markdown in every cell)."""
    return table.map(lambda v: re.sub(r"\\(.)", r"\1", str(v)).replace("\u2060", ""))  # and its invisible joiners


def evaluation_table(at):
    found = [shown(t.value) for t in at.table if {"criterion", "result", "evidence"} <= set(t.value.columns)]
    assert found, "no evaluation table shown"
    return found[0].set_index("criterion")


def test_lead_evaluates_gpt4_and_sees_every_criterion_with_its_evidence_and_a_pass(app_for, demo_db):
    at = open_gpt4(app_for, "lead")
    assert "**Not approved** — no lead has decided on this labeler yet." in [i.value for i in at.info]
    # the demo has no gold release: the lead reads so beside the decision
    assert any(w.value.startswith("No gold release yet: an approval now is against the live draft")
               for w in at.warning)
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
    assert kappa["result"] == "pass" and float(kappa["observed"]) == pytest.approx(0.515, abs=0.01)
    assert "0.620 [0.515, 0.705] on 200 items" in kappa["evidence"]
    assert "gold comes from 1 rater" in table.loc["expert agreement", "evidence"]
    # the reasons in words, not the store's metric names
    assert kappa["why"] == "lower 95% bound 0.52 > 0.40"
    assert table.loc["expert agreement", "why"] == "no value (optional, skipped)"
    assert table.loc["gold items", "why"] == "200 >= 200"
    rules = [m.value for m in at.markdown if m.value.startswith("**gold items**")]
    assert rules == ["**gold items**  \nnumber of gold items \\>\u2060="]  # ">=" escaped as markdown
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
    log = [shown(t.value) for t in at.table if "forced" in t.value.columns][0]
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
    # escaped: no link, no emphasis (a word joiner keeps the bare URL from becoming a link, see plain)
    assert r"\[rubric\](http" + "\u2060" + r"://example.invalid) \*v2\*" in shown


# --- criteria editing and who may do it (issue 9 item 3, issue 15) ---------------------------------

KAPPA = "gate_thr_mt-bench_kappa"


def markdowns(at) -> list[str]:
    return [m.value for m in at.markdown]


def kappa_threshold(db) -> float:
    return next(c.threshold for c in gate.criteria_for(db, get_task(db, "mt-bench")) if c.metric == "kappa")


def test_an_engineer_sees_the_criteria_read_only_and_cannot_save_them(app_for, demo_db):
    at = open_gpt4(app_for, "engineer")
    assert at.number_input(key=KAPPA).disabled and at.number_input(key="gate_share_mt-bench").disabled
    labels = [b.label for b in at.button]
    assert "Save criteria" not in labels and "Reset to the defaults" not in labels
    assert any(i.value.startswith("Read-only: only a lead changes the criteria and the human share; you are signed "
                                  "in as engineer.") for i in at.info)
    assert "Every criterion is at its default." in [c.value for c in at.caption]
    # a value forced into the (disabled) field is neither evaluated nor saved
    at.session_state[KAPPA] = 0.05
    at.run()
    click(at, "Evaluate")
    assert at.number_input(key=KAPPA).value == 0.4 and kappa_threshold(demo_db) == 0.4
    assert evaluation_table(at).loc["Cohen's kappa vs gold", "required"].startswith("> 0.400")
    with demo_db.connect() as con:
        assert con.execute("SELECT count(*) FROM setting_versions").fetchone() == (0,)


def test_a_lead_changes_a_threshold_and_everyone_sees_it_marked_with_who(app_for, demo_db):
    at = open_gpt4(app_for, "lead")
    at.number_input(key=KAPPA).set_value(0.05).run()
    click(at, "Save criteria")
    assert "Saved the criteria of mt-bench (version 1); recorded with your name in the change log below." in \
        [s.value for s in at.success]
    assert kappa_threshold(demo_db) == 0.05
    with demo_db.connect() as con:
        assert con.execute("SELECT name, changed_by, changed_by_role FROM setting_changes").fetchall() == [
            ("kappa", "lead", "lead")]
    click(at, "Evaluate")
    assert evaluation_table(at).loc["Cohen's kappa vs gold", "required"].startswith("> 0.050")

    eng = open_gpt4(app_for, "engineer")
    assert eng.number_input(key=KAPPA).value == 0.05
    marked = [m for m in markdowns(eng) if "changed" in m]
    assert len(marked) == 1 and "from the default 0.400 by **lead** (lead) on" in marked[0]
    assert not any("Pre-filled from the defaults" in c.value or c.value == "Every criterion is at its default."
                   for c in eng.caption)
    assert any(c.value.startswith("1 setting differs from the defaults") for c in eng.caption)
    log = [shown(t.value) for t in eng.table if {"who", "what", "from", "to"} <= set(t.value.columns)][0]
    assert log[["who", "setting", "what"]].values.tolist() == [["lead (lead)", "gate criteria", "kappa"]]
    assert log["from"].iloc[0].startswith("> 0.4 ") and log["to"].iloc[0].startswith("> 0.05 ")


def test_two_sessions_editing_the_criteria_cannot_overwrite_each_other(app_for, demo_db):
    first, second = open_gpt4(app_for, "lead"), open_gpt4(app_for, "lead")  # both load version 0
    first.number_input(key=KAPPA).set_value(0.5).run()
    click(first, "Save criteria")
    second.number_input(key=KAPPA).set_value(0.3).run()
    click(second, "Save criteria")
    errors = [e.value for e in second.error]
    assert any(e.startswith("Not saved: lead saved version 1 on ") and "after you loaded version 0" in e
               for e in errors), errors
    assert kappa_threshold(demo_db) == 0.5
    assert any(w.value.startswith("Someone saved these settings since you loaded them") for w in second.warning)
    click(second, "Load the saved settings")
    assert second.number_input(key=KAPPA).value == 0.5
    assert not [w for w in second.warning if not w.value.startswith("No gold release yet")]  # the conflict is gone
    second.number_input(key=KAPPA).set_value(0.3).run()
    click(second, "Save criteria")  # now against version 1
    assert kappa_threshold(demo_db) == 0.3


def test_a_lead_sets_the_human_share_and_exports_keep_it(app_for, demo_db):
    at = open_gpt4(app_for, "lead")
    at.number_input(key="gate_share_mt-bench").set_value(15).run()
    click(at, "Save criteria")
    from labelgate import export as ex

    assert ex.task_human_share(demo_db, get_task(demo_db, "mt-bench")) == 0.15
    assert any("from the default 10% by **lead**" in m for m in markdowns(at))


def test_a_lead_adds_a_student_criterion_and_the_evaluation_names_the_missing_preview(app_for, demo_db):
    from labelgate.demo import CAP_TASK, load_cap_demo

    assert load_cap_demo(demo_db)
    eng = app_for("engineer", page=PAGE)
    eng.selectbox(key="gate_task").select(CAP_TASK).run()
    assert not any(s.label == "Add a rule" for s in eng.selectbox)      # read-only for an engineer
    assert not [b for b in eng.button if b.label == "Remove"]

    at = app_for("lead", page=PAGE)
    at.selectbox(key="gate_task").select(CAP_TASK).run()
    at.selectbox(key="gate_labeler").select("Claude 3.5 Sonnet (20241022)").run()
    add = next(s for s in at.selectbox if s.label == "Add a rule")
    assert add.options == ["Accuracy vs gold", *(c.name for c in gate.STUDENT_CRITERIA)]
    add.select("Student minority recall ratio").run()
    click(at, "Add")
    assert any(s.value.startswith("Added the rule Student minority recall ratio (version 1)") for s in at.success)
    task = get_task(demo_db, CAP_TASK)
    saved = {c.metric: c for c in gate.criteria_for(demo_db, task)}
    assert saved["student_minority_recall_ratio"].threshold == 0.8 and len(saved) == 7
    with demo_db.connect() as con:
        assert con.execute("SELECT name, changed_by FROM setting_changes").fetchall() == [
            ("student_minority_recall_ratio", "lead")]
    click(at, "Evaluate")
    row = evaluation_table(at).loc["Student minority recall ratio"]
    assert row["result"] == "FAIL"
    assert row["evidence"].startswith("not evaluable: no student preview recorded for this labeler; record one")
    at.button(key=f"gate_remove_{CAP_TASK}_student_minority_recall_ratio").click().run()
    assert not at.exception, at.exception
    assert "student_minority_recall_ratio" not in [c.metric for c in gate.criteria_for(demo_db, task)]
