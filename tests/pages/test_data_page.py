"""The Data page as an engineer uses it: tasks, imports, the calibration and anchor sets, exports."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from labelgate import gate
from labelgate.demo import JUDGES
from labelgate.importer import read_table, validate_items
from labelgate.store.imports import import_items
from labelgate.store.items import count_items, current_set
from labelgate.store.labelers import save_labeler
from labelgate.store.labels import append_llm_labels
from labelgate.store.tasks import create_task, get_task
from labelgate.store.users import User
from labelgate.tasks import make_spec

PAGE = "pages/data.py"
LEAD = User("lead", "lead")
GPT4 = next(j for j in JUDGES if j.name == "GPT-4")
N_BATCH, N_LOW = 300, 50   # GPT-4 labels on new items; the first N_LOW with confidence 0.5


def click(at, label: str):
    at.button[[b.label for b in at.button].index(label)].click().run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def events(db, kind: str | None = None) -> list[tuple]:
    sql = "SELECT kind, actor, actor_role, forced, labeler, labeler_version FROM gate_events"
    with db.connect() as con:
        rows = con.execute(sql + " ORDER BY event_id").fetchall()
    return [r for r in rows if kind is None or r[0] == kind]


def add_items(db, task, ids: list[str], kind: str = "pairwise") -> None:
    if kind == "pairwise":
        body = "item_id,input,output_1,output_2\n" + "\n".join(f"{i},question {i},answer one,answer two" for i in ids)
    else:
        body = "item_id,text,domain\n" + "\n".join(f"{i},a story called {i},{'ab'[k % 2]}" for k, i in enumerate(ids))
    parsed = read_table("items.csv", data=body.encode())
    items, cols = validate_items(parsed, task)
    import_items(db, task, parsed, items, cols)


@pytest.fixture
def batch(demo_db):
    """The demo plus 300 items without gold that GPT-4 labeled in batch week-1 (50 of them with low confidence)."""
    task = get_task(demo_db, "mt-bench")
    ids = [f"new-{k:03d}" for k in range(N_BATCH)]
    add_items(demo_db, task, ids)
    version = gate.fingerprint(demo_db, task, "GPT-4").labeler_version
    append_llm_labels(demo_db, pd.DataFrame({
        "task_id": task.task_id, "item_id": ids, "labeler": "GPT-4", "version": version, "batch": "week-1",
        "sample_index": 0, "shown_order": "12", "value": ["1" if k % 3 else "2" for k in range(N_BATCH)],
        "confidence": [0.5 if k < N_LOW else 0.9 for k in range(N_BATCH)], "source": "run"}))
    return task


def export_tab(at):
    at.session_state["data_tabs"] = "Export"
    at.run()
    assert not at.exception, at.exception
    return at


# --- tasks ------------------------------------------------------------------------------------

def test_engineer_creates_an_ordinal_task(app_for, demo_db):
    at = app_for("engineer", page=PAGE)
    at.text_input(key="data_new_name").input("story-quality")
    at.selectbox(key="data_new_kind").select("ordinal").run()
    at.text_area(key="data_new_anchors").input("1=poor\n5=excellent")
    at.text_area(key="data_new_rubric").input("Rate **coherence**.")
    click(at, "Create task")
    assert "Created the ordinal task story-quality: a whole number from 1 to 5." in texts(at.success)
    task = get_task(demo_db, "story-quality")
    assert task.spec == {"scale": [1, 5], "anchors": {"1": "poor", "5": "excellent"}}
    assert task.rubric == "Rate **coherence**."


def test_the_range_typed_for_one_kind_does_not_carry_over_to_another(app_for, demo_db):
    at = app_for("engineer", page=PAGE)
    at.text_input(key="data_new_name").input("toxicity")
    at.selectbox(key="data_new_kind").select("ordinal").run()
    at.number_input(key="data_new_lo_ordinal").set_value(2)
    at.number_input(key="data_new_hi_ordinal").set_value(7).run()
    at.selectbox(key="data_new_kind").select("continuous").run()
    assert at.number_input(key="data_new_lo_continuous").value == 0.0
    assert at.number_input(key="data_new_hi_continuous").value == 1.0
    click(at, "Create task")
    assert get_task(demo_db, "toxicity").spec == {"range": [0.0, 1.0]}


def test_a_bad_task_definition_is_explained_and_nothing_is_created(app_for, demo_db):
    at = app_for("engineer", page=PAGE)
    at.text_input(key="data_new_name").input("topics")
    at.selectbox(key="data_new_kind").select("categorical").run()
    at.text_input(key="data_new_labels_categorical").input("only-one")
    click(at, "Create task")
    assert "a categorical task needs at least two distinct labels" in at.error[0].value
    with demo_db.connect() as con:
        assert con.execute("SELECT count(*) FROM tasks").fetchall()[0][0] == 1


# --- import -----------------------------------------------------------------------------------

def test_a_list_where_text_belongs_is_refused_with_its_column_and_row(app_for, demo_db):
    at = app_for("engineer", page=PAGE)
    rows = ['{"item_id": "x1", "input": "q", "output_1": "a", "output_2": "b"}',
            '{"item_id": "x2", "input": "q", "output_1": ["a", "list"], "output_2": "b"}']
    at.file_uploader(key="data_upload").set_value(("bad.jsonl", "\n".join(rows).encode(), "application/jsonl"))
    at.run()
    click(at, "Import")
    assert texts(at.error) == ["Nothing was imported: bad.jsonl: column output_1: a list or object where text is "
                               "expected, in row 2 (\"\\['a', 'list'\\]\")"]  # shown as plain text
    assert count_items(demo_db, get_task(demo_db, "mt-bench").task_id) == 200


def test_an_upload_is_parsed_once_however_often_the_page_reruns(app_for, demo_db, monkeypatch):
    import labelgate.importer as importer

    calls = []
    real_read, real_stage = importer.read_table, importer.stage_items
    monkeypatch.setattr(importer, "read_table", lambda *a, **k: calls.append("whole") or real_read(*a, **k))
    monkeypatch.setattr(importer, "stage_items", lambda *a, **k: calls.append("blocks") or real_stage(*a, **k))
    at = app_for("engineer", page=PAGE)
    body = "item_id,input,output_1,output_2,domain\n" + "\n".join(f"u{i},q{i},a,b,math" for i in range(5))
    at.file_uploader(key="data_upload").set_value(("more.csv", body.encode(), "text/csv"))
    at.run()
    assert at.multiselect(key="data_text_columns").options == ["item_id", "input", "output_1", "output_2", "domain"]
    at.text_input(key="data_id_column").input("item_id").run()
    at.multiselect(key="data_text_columns").set_value(["input", "output_1", "output_2"]).run()
    click(at, "Import")
    assert "more.csv: added 5 items." in texts(at.success)
    assert calls == ["blocks"]   # read once, at import, in blocks (a valid CSV never takes the whole-file path)
    assert count_items(demo_db, get_task(demo_db, "mt-bench").task_id) == 205


def test_llm_values_outside_the_labels_are_stored_apart_or_refused_as_chosen(app_for, demo_db):
    task = get_task(demo_db, "mt-bench")
    ids = [f"x{k}" for k in range(4)]
    add_items(demo_db, task, ids)
    answers = ["1", "3", "2", "maybe"]
    body = "item_id,rater,value\n" + "\n".join(f"{i},judge-x,{v}" for i, v in zip(ids, answers, strict=True))
    at = app_for("engineer", page=PAGE)
    at.radio(key="data_import_what").set_value("labels").run()
    at.radio(key="data_source").set_value("llm").run()
    assert at.radio(key="data_invalid").options == ["store as invalid outputs", "refuse the file",
                                                    "clip numbers to the range"]
    at.file_uploader(key="data_upload").set_value(("judge.csv", body.encode(), "text/csv"))
    at.radio(key="data_invalid").set_value("refuse the file").run()
    click(at, "Import")
    assert texts(at.error) == ["Nothing was imported: judge.csv: column value: not one of 1, 2 in rows "
                               "2 ('3'), 4 ('maybe')"]
    with demo_db.connect() as con:
        assert con.execute("SELECT count(*) FROM llm_labels WHERE labeler = 'judge-x'").fetchone() == (0,)
    at.radio(key="data_invalid").set_value("store as invalid outputs").run()
    click(at, "Import")
    assert texts(at.warning) == ["judge.csv: added 2 llm labels; 2 invalid judge outputs (not a label of the task) "
                                 "stored apart: counted in the labeler's invalid rate, left out of metrics and "
                                 "exports."]
    with demo_db.connect() as con:
        assert con.execute("SELECT item_id, raw_value FROM llm_invalid_labels ORDER BY 1").fetchall() == \
            [("x1", "3"), ("x3", "maybe")]
        assert con.execute("SELECT item_id, value FROM llm_labels WHERE labeler = 'judge-x' ORDER BY 1").fetchall() \
            == [("x0", "1"), ("x2", "2")]


# --- calibration and anchor sets --------------------------------------------------------------

def test_engineer_draws_a_stratified_calibration_set(app_for, demo_db):
    at = app_for("engineer", page=PAGE)
    at.number_input(key="data_cal_size_mt-bench").set_value(60)
    at.selectbox(key="data_cal_strata_mt-bench").select("longer_output")
    at.number_input(key="data_cal_experts_mt-bench").set_value(3)
    click(at, "Draw calibration set")
    assert "Drew a calibration set of 60 items for mt-bench." in texts(at.success)
    task = get_task(demo_db, "mt-bench")
    assert len(current_set(demo_db, task.task_id, "calibration")) == 60 and task.experts_per_item == 3


def test_experts_per_item_and_draw_settings_belong_to_their_task(app_for, demo_db):
    quality = create_task(demo_db, "quality", "ordinal", make_spec("ordinal", scale=(1, 5)), experts_per_item=3)
    add_items(demo_db, quality, [f"q{k:02d}" for k in range(40)], kind="ordinal")
    before = get_task(demo_db, "mt-bench")
    at = app_for("engineer", page=PAGE)
    assert at.number_input(key="data_cal_experts_mt-bench").value == before.experts_per_item
    at.number_input(key="data_cal_experts_mt-bench").set_value(5)
    at.number_input(key="data_cal_size_mt-bench").set_value(25).run()
    at.selectbox(key="data_cal_task").select("quality").run()
    assert at.number_input(key="data_cal_experts_quality").value == 3
    assert at.number_input(key="data_cal_size_quality").value == 300
    assert at.selectbox(key="data_cal_strata_quality").options == ["(no stratification)", "domain"]
    at.number_input(key="data_cal_size_quality").set_value(20)
    click(at, "Draw calibration set")
    assert "Drew a calibration set of 20 items for quality." in texts(at.success)
    assert get_task(demo_db, "quality").experts_per_item == 3
    after = get_task(demo_db, "mt-bench")
    assert (after.experts_per_item, after.revision) == (before.experts_per_item, before.revision)
    at.selectbox(key="data_cal_task").select("mt-bench").run()
    assert at.number_input(key="data_cal_experts_mt-bench").value == before.experts_per_item


def test_anchors_drawn_on_the_page_are_gold_items_recorded_as_the_anchor_set(app_for, demo_db):
    at = app_for("engineer", page=PAGE)
    assert next(m for m in at.metric if m.label == "Current anchor set").value == "none yet"
    at.number_input(key="data_anchor_size_mt-bench").set_value(30)
    at.number_input(key="data_anchor_seed_mt-bench").set_value(7)
    click(at, "Draw anchor set")
    assert "Drew an anchor set of 30 gold items for mt-bench; every batch run re-labels it." in texts(at.success)
    assert next(m for m in at.metric if m.label == "Current anchor set").value == "30 items"
    with demo_db.connect() as con:
        draws = con.execute("SELECT set_name, size, seed, created_by FROM item_set_draws WHERE set_name = 'anchor'"
                            ).fetchall()
    assert draws == [("anchor", 30, 7, "engineer")]
    # a second draw needs an explicit replace; too many anchors are named
    click(at, "Draw anchor set")
    assert "mt-bench already has an anchor set" in at.error[0].value
    at.checkbox(key="data_anchor_replace_mt-bench").check()
    at.number_input(key="data_anchor_size_mt-bench").set_value(500)
    click(at, "Draw anchor set")
    assert "size: only 200 gold items can be anchors; got 500" in at.error[0].value
    assert len(current_set(demo_db, get_task(demo_db, "mt-bench").task_id, "anchor")) == 30


# --- export -----------------------------------------------------------------------------------

def test_export_is_refused_without_an_approval_and_says_why(app_for, demo_db, batch, downloads):
    at = export_tab(app_for("engineer", page=PAGE))
    at.selectbox(key="data_exp_labeler_mt-bench").select("GPT-4").run()
    assert "GPT-4 has never been approved" in at.warning[0].value
    click(at, "Export")
    assert at.error[0].value.startswith("Export refused: GPT-4 has never been approved: no lead has approved it")
    assert not at.download_button and not downloads and events(demo_db, "export") == []

    gate.decide(demo_db, batch, "GPT-4", user=LEAD, decision="approve", comment="kappa fine")
    save_labeler(demo_db, batch.task_id, GPT4.with_changes(prompt_template=GPT4.prompt_template + "\nBe brief."))
    at.run()
    click(at, "Export")
    refusal = at.error[0].value
    assert "the approval of GPT-4 by lead" in refusal and "is stale because the labeler changed (model, prompt " \
        "or settings)" in refusal
    assert not at.download_button and events(demo_db, "export") == []


def test_with_a_fresh_approval_the_download_holds_gold_plus_gpt4_labels_with_provenance(
        app_for, demo_db, batch, downloads):
    gate.decide(demo_db, batch, "GPT-4", user=LEAD, decision="approve", comment="kappa fine")
    version = gate.fingerprint(demo_db, batch, "GPT-4").labeler_version
    at = export_tab(app_for("engineer", page=PAGE))
    at.selectbox(key="data_exp_labeler_mt-bench").select("GPT-4").run()
    assert at.success[0].value.startswith(f"GPT-4 version {version} holds a fresh approval by lead")
    assert not [c for c in at.checkbox if c.key and c.key.startswith("data_exp_force")]  # nothing to force
    at.radio(key="data_exp_format_mt-bench").set_value("CSV")
    at.checkbox(key="data_exp_minconf_on_mt-bench").check()
    click(at, "Export")
    name = f"mt-bench-GPT-4-{version}.csv"
    assert at.download_button[0].label == f"Download {name}"
    table = pd.read_csv(io.BytesIO(downloads[name]), dtype={"batch": str, "value": str})
    human, llm = table[table["source"] == "human"], table[table["source"] == "llm"]
    assert len(human) == 200 and len(llm) == N_BATCH - N_LOW
    assert set(llm["labeler"]) == {"GPT-4"} and set(llm["labeler_version"]) == {version}
    assert set(llm["batch"]) == {"week-1"} and llm["confidence"].min() >= 0.8
    assert set(human["item_id"]).isdisjoint(llm["item_id"]) and human["batch"].isna().all()
    assert len(human) / len(table) >= 0.10
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Human gold rows"] == "200" and metrics["LLM rows"] == str(N_BATCH - N_LOW)
    steps = at.dataframe[-1].value.set_index("LLM rows")["count"]
    assert steps["GPT-4 labels on items without gold"] == N_BATCH
    assert steps["removed: confidence below 0.8 or unknown"] == -N_LOW
    assert steps["most that fit a 10% human share"] == 1800
    assert events(demo_db, "export") == [("export", "engineer", "engineer", False, "GPT-4", version)]
    # another option: the prepared file is no longer offered
    at.radio(key="data_exp_format_mt-bench").set_value("Parquet").run()
    assert not at.download_button


def test_too_few_human_rows_are_refused_with_how_many_fit_unless_subsampled(app_for, demo_db, batch, downloads):
    task = get_task(demo_db, "mt-bench")
    ids = [f"more-{k:03d}" for k in range(700)]
    add_items(demo_db, task, ids)
    version = gate.fingerprint(demo_db, task, "GPT-4").labeler_version
    append_llm_labels(demo_db, pd.DataFrame({
        "task_id": task.task_id, "item_id": ids, "labeler": "GPT-4", "version": version, "batch": "week-2",
        "sample_index": 0, "shown_order": "12", "value": ["1", "2"] * 350,  # a healthy mix: not blocked
        "confidence": 0.9, "source": "run"}))
    gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="approve", comment="kappa fine")
    at = export_tab(app_for("lead", page=PAGE))
    at.selectbox(key="data_exp_labeler_mt-bench").select("GPT-4")
    at.slider(key="data_exp_share_mt-bench").set_value(20).run()
    click(at, "Export")
    assert "200 human gold rows allow at most 800 LLM rows at a 20% human share, and 1000 LLM rows remain" \
        in at.error[0].value
    at.checkbox(key="data_exp_subsample_mt-bench").check()
    click(at, "Export")
    table = pd.read_json(io.BytesIO(downloads[f"mt-bench-GPT-4-{version}.jsonl"]), lines=True)
    assert (table["source"] == "human").sum() == 200 and (table["source"] == "llm").sum() == 800
    # weighted instead: every LLM row, human rows weighing 0.2 * 1000 / (0.8 * 200) = 1.25 each
    at.checkbox(key="data_exp_subsample_mt-bench").uncheck()
    at.checkbox(key="data_exp_weight_mt-bench").check()
    downloads.clear()
    click(at, "Export")
    table = pd.read_json(io.BytesIO(downloads[f"mt-bench-GPT-4-{version}.jsonl"]), lines=True)
    assert (table["source"] == "human").sum() == 200 and (table["source"] == "llm").sum() == 1000
    assert set(table.loc[table["source"] == "human", "weight"]) == {1.25}
    assert set(table.loc[table["source"] == "llm", "weight"]) == {1.0}
    assert "of the rows; 20% of the weight (human rows weigh 1.25 each)" in texts(at.caption)


def test_an_engineer_cannot_force_an_export(app_for, demo_db, batch):
    at = export_tab(app_for("engineer", page=PAGE))
    at.selectbox(key="data_exp_labeler_mt-bench").select("GPT-4").run()
    assert not [c for c in at.checkbox if c.key and c.key.startswith("data_exp_force")]
    assert "Only a lead can force an export without a fresh approval; you are signed in as engineer." in \
        [c.value for c in at.caption]
    click(at, "Export")
    assert any(e.value.startswith("Export refused: ") for e in at.error)
    assert events(demo_db) == []


def test_a_lead_forces_an_export_with_a_reason_and_it_is_recorded_as_forced(app_for, demo_db, batch, downloads):
    at = export_tab(app_for("lead", page=PAGE))
    at.selectbox(key="data_exp_labeler_mt-bench").select("GPT-4").run()
    at.checkbox(key="data_exp_force_mt-bench_GPT-4").check().run()
    click(at, "Export")  # no reason yet
    assert [e.value for e in at.error] == ["Export refused: a forced export needs a reason: say why these labels "
                                           "may train without a fresh approval"]
    assert events(demo_db) == []
    at.text_input(key="data_exp_force_reason_mt-bench_GPT-4").input("pilot training run").run()
    click(at, "Export")
    assert not at.error
    assert any(w.value.startswith("Forced export without a fresh approval (no lead has approved this labeler yet)")
               for w in at.warning)
    version = gate.fingerprint(demo_db, batch, "GPT-4").labeler_version
    table = pd.read_json(io.BytesIO(downloads[f"mt-bench-GPT-4-{version}.jsonl"]), lines=True)
    assert (table["source"] == "llm").sum() == N_BATCH and (table["source"] == "human").sum() == 200
    assert events(demo_db) == [("export", "lead", "lead", True, "GPT-4", version)]
    with demo_db.connect() as con:
        (comment,) = con.execute("SELECT comment FROM gate_events").fetchone()
    assert "FORCED by lead" in comment and "because: pilot training run" in comment


def test_the_domain_column_is_picked_from_the_tasks_metadata_columns(app_for, demo_db):
    at = app_for("engineer", page=PAGE)
    assert "longer_output" in at.selectbox(key="data_route_column_mt-bench").options
    at.selectbox(key="data_route_column_mt-bench").select("longer_output")
    at.checkbox(key="data_route_others_mt-bench").uncheck()
    click(at, "Save routing")
    assert ("mt-bench: items go first to experts tagged with their longer_output; only matching experts label "
            "them.") in texts(at.success)
    task = get_task(demo_db, "mt-bench")
    assert (task.domain_column, task.others_may_label) == ("longer_output", False)
    at.selectbox(key="data_route_column_mt-bench").select("")
    click(at, "Save routing")
    assert get_task(demo_db, "mt-bench").domain_column is None


def test_soft_labels_checkbox_adds_each_items_human_vote_counts(app_for, demo_db, batch, downloads):
    from labelgate.store.gold import expert_labels

    gate.decide(demo_db, batch, "GPT-4", user=LEAD, decision="approve", comment="kappa fine")
    version = gate.fingerprint(demo_db, batch, "GPT-4").labeler_version
    at = export_tab(app_for("engineer", page=PAGE))
    at.selectbox(key="data_exp_labeler_mt-bench").select("GPT-4").run()
    at.radio(key="data_exp_format_mt-bench").set_value("CSV")
    at.checkbox(key="data_exp_soft_mt-bench").check()
    click(at, "Export")
    table = pd.read_csv(io.BytesIO(downloads[f"mt-bench-GPT-4-{version}.csv"]), dtype={"item_id": str})
    soft = [c for c in table.columns if c.startswith("human_")]
    options = get_task(demo_db, "mt-bench").labels
    assert "1" in options and "2" in options
    assert soft == [*(f"human_count_{o}" for o in options), "human_n_raters"]
    raw = expert_labels(demo_db, batch.task_id)
    ref = raw.groupby("item_id")["value"].value_counts().unstack(fill_value=0)
    human = table[table["source"] == "human"].set_index("item_id")
    assert len(human) == 200
    for opt in options:
        assert (human[f"human_count_{opt}"] == ref.reindex(human.index, fill_value=0)[opt]).all()
    assert (human["human_n_raters"] == raw.groupby("item_id")["rater"].nunique().loc[human.index]).all()
    assert (human["human_n_raters"] >= 1).all()
    llm = table[table["source"] == "llm"]   # items no expert answered: no votes
    assert len(llm) > 0 and (llm["human_n_raters"] == 0).all()


def test_a_lead_sets_an_experts_tags_beside_the_routing_and_an_engineer_cannot(app_for, demo_db):
    from labelgate.store.users import user_tags

    at = app_for("lead", page=PAGE)
    at.selectbox(key="data_tags_user").select("expert2").run()
    at.text_input(key="data_tags_expert2").input("Code, legal")
    click(at, "Save tags")
    assert "expert2's expertise tags are now: code, legal." in texts(at.success)
    at.text_input(key="data_tags_expert2").input("c++")
    click(at, "Save tags")
    assert "expertise tags: 'c++' is not a tag" in texts(at.error)[0]
    assert user_tags(demo_db) == {"expert2": ["code", "legal"]}
    engineer = app_for("engineer", page=PAGE)
    assert not [b for b in engineer.button if b.label == "Save tags"]


def test_the_task_table_is_a_static_table_with_counts_as_people_read_them(app_for, demo_db):
    # drawn with the page (the interactive grid's first draw in a browser took ~3 s), counts with separators
    add_items(demo_db, get_task(demo_db, "mt-bench"), [f"x{i}" for i in range(900)])
    at = app_for("engineer", page=PAGE)
    (table,) = [t.value for t in at.table if "experts per item" in t.value.columns]
    row = table.set_index("task").loc["mt-bench"]
    assert list(table.columns) == ["task", "kind", "labels", "items", "calibration set", "fully labeled",
                                   "anchor set", "experts per item", "revision"]
    assert (row["kind"], row["items"], row["calibration set"], row["anchor set"]) == ("pairwise", "1,100", "200", "0")
    assert not [d for d in at.dataframe if "experts per item" in d.value.columns]
