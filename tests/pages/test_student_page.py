"""The Student page: an engineer runs the preview on the UK-Acts demo and reads the numbers the service gives."""

from __future__ import annotations

import pytest

from labelgate.demo import CAP_TASK, load_cap_demo
from labelgate.store.tasks import get_task
from labelgate.student import build_preview


@pytest.fixture
def student_app(app_for, demo_db):
    assert load_cap_demo(demo_db)
    return app_for


def test_engineer_runs_the_preview_and_sees_the_services_numbers(student_app, demo_db):
    at = student_app("engineer", page="pages/student.py", timeout=600)
    assert at.title[0].value == "Student preview"
    # it opens on the first categorical task, not on the first task in the list (a dead end when not categorical)
    assert at.selectbox(key="stu_task").value == CAP_TASK
    assert not any("needs a categorical task" in i.value for i in at.info)
    # the MT-Bench demo task is pairwise: the page says why it cannot preview it
    at.selectbox(key="stu_task").select("mt-bench").run()
    assert any("needs a categorical task" in i.value for i in at.info)
    at.selectbox(key="stu_task").select(CAP_TASK).run()
    at.selectbox(key="stu_labeler").select("Llama 3.1 (70B-L)").run()  # outside the form: the page reruns
    at.number_input(key="stu_seeds").set_value(2)
    at.multiselect(key="stu_arms").set_value(["gold", "llm_all", "error_filter"])
    at.button[0].click().run()
    assert not at.error, [e.value for e in at.error]
    table = at.table[0].value
    expected = build_preview(demo_db, get_task(demo_db, CAP_TASK), "Llama 3.1 (70B-L)",
                             arms=["gold", "llm_all", "error_filter"], n_seeds=2)
    assert list(table["Label source"]) == [a.name for a in expected.preview.arms]
    llm = expected.preview.arm("Llama 3.1 (70B-L) (all items)")
    row = table[table["Label source"] == llm.name].iloc[0]
    assert row["Macro-F1 (95% CI)"] == f"{llm.macro_f1.estimate:.3f} ({llm.macro_f1.ci_low:.3f} to " \
                                       f"{llm.macro_f1.ci_high:.3f})"
    assert row["Macro-F1 lost against gold"].startswith(f"{llm.f1_loss.estimate:.3f}")
    shown = [m.value for m in at.markdown]
    assert any("Llama 3.1 (70B-L) (all items)" in m and "lose" in m for m in shown)

    # recorded as gate evidence: the row holds this preview's numbers, and the page says so
    record = next(b for b in at.button if b.label == "Record as gate evidence")
    record.click().run()
    from labelgate.store import student as student_store

    rec = student_store.latest_preview(demo_db, get_task(demo_db, CAP_TASK).task_id, "Llama 3.1 (70B-L)")
    assert rec is not None and rec["created_by"] == "engineer" and rec["settings"]["seeds"] == 2
    assert rec["metrics"]["student_f1_loss"]["estimate"] == pytest.approx(llm.f1_loss.estimate, abs=1e-12)
    assert any(f"student preview #{rec['preview_id']} of Llama 3.1 (70B-L)" in s.value for s in at.success)
    assert any("this labeler version and gold" in c.value for c in at.caption)


def test_the_default_arms_leave_out_the_confidence_filter_the_labeler_cannot_have(student_app, demo_db):
    # GPT-4o states no confidence and gave one sample per item: the findings would say the filter is left out,
    # so it is not among the defaults either, and the form says why
    at = student_app("engineer", page="pages/student.py", timeout=120)
    at.selectbox(key="stu_task").select(CAP_TASK).run()
    at.selectbox(key="stu_labeler").select("GPT-4o (2024-11-20)").run()
    assert not at.exception, at.exception
    assert at.multiselect(key="stu_arms").value == ["gold", "llm_gold_items", "llm_all", "mix", "error_filter"]
    assert any(c.value.startswith("The confidence filter is not chosen: GPT-4o (2024-11-20) states no confidence")
               for c in at.caption)


def test_the_filters_share_reads_as_a_percentage(student_app):
    # "Filters keep 80%", as the README and the findings write shares, not 0.80
    at = student_app("engineer", page="pages/student.py", timeout=120)
    at.selectbox(key="stu_task").select(CAP_TASK).run()
    slider = at.slider(key="stu_retention")
    assert (slider.label, slider.value, slider.min, slider.max) == ("Filters keep", 80, 50, 95)
    assert slider.proto.format == "%d%%"
