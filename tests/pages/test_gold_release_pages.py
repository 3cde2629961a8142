"""Gold releases in the app (AppTest): publishing on the Review page, Calibrate on a release, and the
Gate page naming what a new release changed."""

from __future__ import annotations

from labelgate import gate
from labelgate import gold as goldlib
from labelgate.store.gold import append_adjudication
from labelgate.store.labels import append_human_label
from labelgate.store.tasks import get_task
from labelgate.store.users import User

LEAD = User("lead", "lead")


def release_rows(db) -> list[tuple]:
    with db.connect() as con:
        return con.execute("SELECT release_no, created_by, note, n_items, n_disputed FROM gold_releases"
                           " ORDER BY release_no").fetchall()


def open_releases_tab(app_for):
    at = app_for("engineer", page="pages/review.py")
    assert not at.exception, at.exception
    return at


def test_an_engineer_publishes_a_release_on_the_review_page_and_cannot_publish_nothing_new(app_for, demo_db):
    at = open_releases_tab(app_for)
    assert any("no release yet; the draft has 200 gold items and 0 in dispute" in m.value for m in at.markdown)
    at.text_input(key="rev_note_mt-bench").set_value("MT-Bench majority").run()
    at.button(key="rev_publish").click().run()
    assert not at.exception, at.exception
    assert "Published gold release 1 of mt-bench: 200 gold items, 0 disputed left out." in [s.value for s in at.success]
    assert release_rows(demo_db) == [(1, "engineer", "MT-Bench majority", 200, 0)]
    assert at.button(key="rev_publish").label == "Publish release 2" and at.button(key="rev_publish").disabled
    table = next(d.value for d in at.dataframe if "expert alpha (95% CI)" in d.value.columns)
    assert list(table.columns) == ["release", "published", "by", "gold items", "disputed", "expert alpha (95% CI)",
                                   "note"]
    assert table.iloc[0][["release", "by", "gold items", "expert alpha (95% CI)", "note"]].tolist() == [
        1, "engineer", 200, "not measurable", "MT-Bench majority"]

    task = get_task(demo_db, "mt-bench")
    append_adjudication(demo_db, task.task_id, "mtb-004", "1", None, decided_by="lead", reason="re-read")
    at.run()
    assert any("0 expert answers and 1 adjudication since release 1, not yet released." in m.value
               for m in at.markdown)
    assert not at.button(key="rev_publish").disabled


def test_calibrate_measures_against_the_latest_release_and_a_correction_records_it(app_for, demo_db):
    task = get_task(demo_db, "mt-bench")
    goldlib.publish(demo_db, task, user=LEAD)
    append_human_label(demo_db, task_id=task.task_id, item_id="mtb-000", rater="expert", status="label", value="1")
    at = app_for("engineer", page="pages/calibrate.py")
    assert not at.exception, at.exception
    assert at.selectbox(key="cal_gold_mt-bench").options == ["release 1 (latest)", "the draft (unreleased)"]
    assert any(c.value == "1 expert answer since release 1, not yet released." for c in at.caption)
    at.button(key="cal_save").click().run()   # the demo's correction worsens the CV error: confirm it
    at.checkbox(key="cal_confirm_worse_ChatGPT_confusion").check().run()
    at.button(key="cal_save").click().run()
    assert not at.exception, at.exception
    assert any("fitted on gold release 1" in s.value for s in at.success)
    with demo_db.connect() as con:
        assert con.execute("SELECT gold_release, n_fit FROM corrections").fetchall() == [(1, 200)]


def test_the_gate_page_names_what_a_new_release_changed_and_shows_both_releases(app_for, demo_db):
    task = get_task(demo_db, "mt-bench")
    goldlib.publish(demo_db, task, user=LEAD)
    gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="approve", comment="release 1")
    at = app_for("lead", page="pages/gate.py")
    at.selectbox(key="gate_labeler").select("GPT-4").run()
    append_human_label(demo_db, task_id=task.task_id, item_id="mtb-010", rater="expert", status="label", value="1")
    at.run()
    assert any(s.value.startswith("**Approved** — approved by lead") and "on gold release 1" in s.value
               for s in at.success)
    assert any("1 expert answer since release 1, not yet released." in c.value for c in at.caption)

    majority = goldlib.load_gold(demo_db, task).labels.set_index("item_id")["value"]
    append_adjudication(demo_db, task.task_id, "mtb-003", {"1": "2", "2": "1"}[majority["mtb-003"]], None,
                        decided_by="lead", reason="re-read")
    goldlib.publish(demo_db, task, user=LEAD)
    at.run()
    assert not at.exception, at.exception
    assert any(w.value.startswith("**Approval stale**") for w in at.warning)
    n_removed = 0 if majority["mtb-010"] == "1" else 1
    summary = f"+0 items, 1 relabeled, {n_removed} removed"
    assert f"- gold release 2 was published after the approved release 1 ({summary})" in [m.value for m in at.markdown]
    assert f"**What changed in the gold, release 1 → 2:** {summary}" in [m.value for m in at.markdown]
    both = next(d.value for d in at.dataframe if "release 1 (approved)" in d.value.columns)
    assert list(both.columns) == ["criterion", "release 1 (approved)", "result on 1", "release 2 (latest)",
                                  "result on 2"]
    row = both.set_index("criterion").loc["gold items"]
    assert row["release 1 (approved)"] == "200" and row["release 2 (latest)"] == str(200 - n_removed)
