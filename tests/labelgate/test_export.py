"""Export: gold + gated LLM labels, the human share, filters with counts, formats, forced exports audited."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labelgate import export as ex
from labelgate import gate
from labelgate.cli import main as cli
from labelgate.importer import read_table, validate_items, validate_labels
from labelgate.labelers import LabelerConfig
from labelgate.store.imports import import_items, import_labels
from labelgate.store.labelers import save_labeler
from labelgate.store.labels import append_llm_labels
from labelgate.store.tasks import create_task, get_task
from labelgate.store.users import User
from labelgate.tasks import make_spec
from qc.gate import Criterion

LEAD = User("lead", "lead")
N_ITEMS, N_GOLD, N_DISAGREE, N_LOW_CONF = 300, 40, 30, 20


@pytest.fixture
def project(db, tmp_path):
    """A sentiment task: 300 items, 40 with gold, labeler Cat (gpt) on all, Other (llama) disagreeing on 30."""
    task = create_task(db, "sent", "categorical", make_spec("categorical", labels=["pos", "neg"]))
    ids = [f"i{i:03d}" for i in range(N_ITEMS)]
    (tmp_path / "items.csv").write_text("item_id,text\n" + "\n".join(f"{i},text {i}" for i in ids))
    parsed = read_table(tmp_path / "items.csv")
    items, cols = validate_items(parsed, task)
    import_items(db, task, parsed, items, cols)
    truth = {i: ("pos" if k % 3 else "neg") for k, i in enumerate(ids)}
    (tmp_path / "gold.csv").write_text("item_id,rater,value\n" + "\n".join(f"{i},e1,{truth[i]}" for i in ids[:N_GOLD]))
    parsed = read_table(tmp_path / "gold.csv")
    import_labels(db, task, parsed, validate_labels(parsed, task, source="human", known_items=set(ids)),
                  source="human")
    task = get_task(db, "sent")
    for name, model in (("Cat", "gpt-4o"), ("Other", "llama-3")):
        save_labeler(db, task.task_id, LabelerConfig(name=name, provider="openai", model=model, prompt_template="x"))
    versions = {c: gate.fingerprint(db, task, c).labeler_version for c in ("Cat", "Other")}
    flip = {"pos": "neg", "neg": "pos"}
    rows = []
    for k, i in enumerate(ids):
        conf = 0.5 if N_GOLD <= k < N_GOLD + N_LOW_CONF else 0.9
        rows.append(("Cat", i, truth[i], conf))
        other = flip[truth[i]] if N_ITEMS - N_DISAGREE <= k else truth[i]
        rows.append(("Other", i, other, 0.9))
    frame = pd.DataFrame(rows, columns=["labeler", "item_id", "value", "confidence"])
    frame = frame.assign(task_id=task.task_id, version=frame["labeler"].map(versions), batch="w1", source="run")
    append_llm_labels(db, frame)
    gate.save_criteria(db, task, [Criterion("n_gold", ">=", 40), Criterion("kappa", ">", 0.4, use="ci_low")],
                       user=LEAD)
    return task


def test_export_refuses_without_approval_and_a_forced_export_is_audited(db, project, tmp_path, capsys, monkeypatch):
    import io
    import sys

    from labelgate.store.users import add_user

    out = tmp_path / "x.csv"
    args = ["--db", str(db.path), "export", "--task", "sent", "--labeler", "Cat", "--out", str(out)]
    assert cli(args) == 2
    assert "export refused: Cat has no fresh gate approval" in capsys.readouterr().err and not out.exists()
    assert cli(args + ["--force"]) == 2  # a forced export needs a name for the audit log
    assert "--force needs --user NAME" in capsys.readouterr().err and not out.exists()
    add_user(db, "eng", "engineer", "eng-password")
    monkeypatch.setattr(sys, "stdin", io.StringIO("eng-password\n"))
    assert cli(args + ["--force", "--user", "eng", "--password-stdin"]) == 0
    assert "FORCED without a fresh approval" in capsys.readouterr().out
    with db.connect() as con:
        kind, forced, actor = con.execute("SELECT kind, forced, actor FROM gate_events").fetchall()[0]
    assert (kind, forced, actor) == ("export", True, "eng")
    table = pd.read_csv(out)
    assert (table["source"] == "human").sum() == N_GOLD and (table["source"] == "llm").sum() == N_ITEMS - N_GOLD


def test_export_keeps_the_human_share_and_says_how_many_llm_rows_fit(db, project, tmp_path):
    gate.decide(db, project, "Cat", user=LEAD, decision="approve", comment="ok")
    with pytest.raises(ex.ExportRefused, match="40 human gold rows allow at most 160 LLM rows at a 20% human share, "
                                               "and 260 LLM rows remain"):
        ex.prepare(db, project, "Cat", human_share=0.2)
    table, report = ex.prepare(db, project, "Cat", human_share=0.2, subsample=True)
    assert report.subsampled and report.n_llm == 160 and report.n_human == 40
    assert (table["source"] == "human").mean() == pytest.approx(0.2)
    with pytest.raises(ValueError, match="human_share: human labels must be between 10% and 20%"):
        ex.prepare(db, project, "Cat", human_share=0.05)


def test_filters_report_what_they_removed(db, project):
    gate.decide(db, project, "Cat", user=LEAD, decision="approve", comment="ok")
    table, report = ex.prepare(db, project, "Cat", drop_family_disagreement=True, min_confidence=0.8)
    assert report.removed == {"labelers of different families disagree": N_DISAGREE,
                              "confidence below 0.8 or unknown": N_LOW_CONF}
    llm = table[table["source"] == "llm"]
    assert len(llm) == N_ITEMS - N_GOLD - N_DISAGREE - N_LOW_CONF
    assert llm["confidence"].min() >= 0.8
    assert set(llm["labeler"]) == {"Cat"} and llm["labeler_version"].nunique() == 1 and set(llm["batch"]) == {"w1"}


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_each_format_round_trips_with_the_provenance_columns(db, project, tmp_path, suffix):
    gate.decide(db, project, "Cat", user=LEAD, decision="approve", comment="ok")
    out = tmp_path / f"export{suffix}"
    report = ex.export(db, project, "Cat", out, user=LEAD)
    if suffix == ".jsonl":
        back = pd.DataFrame([json.loads(line) for line in out.read_text().splitlines()])
    elif suffix == ".csv":
        back = pd.read_csv(out)
    else:
        back = pd.read_parquet(out)
    assert list(back.columns) == ex.COLUMNS and len(back) == report.n_rows == N_ITEMS
    assert back["gold_version"].nunique() == 1
    assert np.all(back.loc[back["source"] == "human", "labeler"].isna())


def test_bad_export_arguments_name_the_field(db, project, tmp_path, capsys):
    assert cli(["--db", str(db.path), "export", "--task", "sent", "--labeler", "Cat", "--out",
                str(tmp_path / "x.xlsx")]) == 2
    assert "out: the file name must end in .jsonl, .csv or .parquet" in capsys.readouterr().err
    assert cli(["--db", str(db.path), "export", "--task", "sent", "--labeler", "Cat", "--out",
                str(tmp_path / "x.csv"), "--human-share", "0.5"]) == 2
    assert "human_share" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["linear", "isotonic", "ordinal_cuts", "linear_covariates", "platt"])
def test_a_correction_saved_as_the_calibrate_page_saves_it_is_applied_in_the_export(tmp_path, method):
    """The page stores fit_correction's whole output; the export must decode that shape."""
    from labelgate import calibrate as cal
    from labelgate.export import prepare
    from labelgate.store import Database
    from labelgate.store.corrections import save_correction
    from tests.synthetic import TASK, make_biased_task

    db = Database(tmp_path / "c.duckdb")
    info = make_biased_task(db, n_items=300, n_gold=240, seed=3)
    task = get_task(db, TASK)
    gold = cal.load_task_gold(db, task)
    refs = cal.labeler_refs(db, task).set_index("name")
    name = "Overconfident" if method == "platt" else "Lengthy"
    data = cal.load_labeler(db, task, gold, name, refs.loc[name, "version"], refs.loc[name, "family"])
    stored = cal.fit_correction(task, data.pairs, method, items=cal.item_frame(db, task),
                                covariates=["text_length"] if method == "linear_covariates" else None)
    save_correction(db, task_id=task.task_id, labeler=name, labeler_version=refs.loc[name, "version"],
                    method=method, params=stored, gold_version=gold.version, n_fit=len(data.pairs),
                    cv_metrics=None, created_by="engineer")
    from labelgate import monitor as mon

    # the synthetic batch disagrees with the other families beyond the default threshold: a lead
    # switches the monitor off for this check of the correction alone
    mon.save_thresholds(db, task, mon.Thresholds.from_dict({f: None for f in mon.Thresholds.LABELS}), user="lead")
    table, report = prepare(db, task, name, force=True, subsample=True, human_share=0.2)
    llm = table[table["source"] == "llm"].set_index("item_id")
    assert report.correction is not None and len(llm) > 0
    assert report.correction_note == ("confidence recalibrated" if method == "platt" else "labels corrected")
    assert (llm["correction_version"] == report.correction).all()
    if method == "linear_covariates":  # it knows which items are long: the +1 on them is gone
        signed = (llm["value_num"] - info["truth"].reindex(llm.index)).mean()
        assert abs(signed) < 0.2


def test_labels_of_a_batch_the_monitor_blocked_are_left_out_and_counted(tmp_path):
    from labelgate.export import prepare
    from labelgate.store import Database
    from tests.synthetic import TASK, make_biased_task

    db = Database(tmp_path / "b.duckdb")
    make_biased_task(db, n_items=300, n_gold=240, seed=3)  # Lengthy's batch "prod" breaches cross-family
    table, report = prepare(db, get_task(db, TASK), "Lengthy", force=True, human_share=0.2)
    assert (table["source"] == "llm").sum() == 0
    assert report.removed == {"in a batch the monitor blocked (prod)": report.n_llm_available}
    assert report.n_llm_available > 0
