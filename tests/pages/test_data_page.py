"""The Data page as an engineer uses it."""

from __future__ import annotations

from labelgate.store.items import current_set
from labelgate.store.tasks import get_task


def test_engineer_creates_an_ordinal_task(app_for, demo_db):
    at = app_for("engineer", page="pages/data.py")
    at.text_input(key="data_new_name").input("story-quality")
    at.selectbox(key="data_new_kind").select("ordinal").run()
    at.text_area(key="data_new_anchors").input("1=poor\n5=excellent")
    at.text_area(key="data_new_rubric").input("Rate **coherence**.")
    at.button[[b.label for b in at.button].index("Create task")].click().run()
    assert not at.exception
    assert "Created the ordinal task story-quality: a whole number from 1 to 5." in [s.value for s in at.success]
    task = get_task(demo_db, "story-quality")
    assert task.spec == {"scale": [1, 5], "anchors": {"1": "poor", "5": "excellent"}}
    assert task.rubric == "Rate **coherence**."


def test_a_bad_task_definition_is_explained_and_nothing_is_created(app_for, demo_db):
    at = app_for("engineer", page="pages/data.py")
    at.text_input(key="data_new_name").input("topics")
    at.selectbox(key="data_new_kind").select("categorical").run()
    at.text_input(key="data_new_labels").input("only-one")
    at.button[[b.label for b in at.button].index("Create task")].click().run()
    assert "a categorical task needs at least two distinct labels" in at.error[0].value
    with demo_db.connect() as con:
        assert con.execute("SELECT count(*) FROM tasks").fetchall()[0][0] == 1


def test_engineer_draws_a_stratified_calibration_set(app_for, demo_db):
    at = app_for("engineer", page="pages/data.py")
    at.number_input(key="data_cal_size").set_value(60)
    at.selectbox(key="data_cal_strata").select("longer_output")
    at.number_input(key="data_cal_experts").set_value(3)
    at.button[[b.label for b in at.button].index("Draw calibration set")].click().run()
    assert "Drew a calibration set of 60 items for mt-bench." in [s.value for s in at.success]
    task = get_task(demo_db, "mt-bench")
    assert len(current_set(demo_db, task.task_id, "calibration")) == 60 and task.experts_per_item == 3
