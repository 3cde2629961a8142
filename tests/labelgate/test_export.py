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
        # right on every gold item at 0.95: ECE 0.05, under the Monitor's bar (at 0.9 it would sit at 0.10, and
        # a batch at the bar is blocked, as the gate's "ECE < 0.1" fails it)
        conf = 0.5 if N_GOLD <= k < N_GOLD + N_LOW_CONF else 0.95
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
    add_user(db, "boss", "lead", "boss-password")
    assert cli(args + ["--force", "--user", "boss"]) == 2  # ... and a reason
    assert "--force needs --reason TEXT" in capsys.readouterr().err and not out.exists()
    monkeypatch.setattr(sys, "stdin", io.StringIO("eng-password\n"))
    assert cli(args + ["--force", "--user", "eng", "--password-stdin", "--reason", "deadline"]) == 2
    assert "only a lead can force an export without a fresh approval (eng is an engineer)" in capsys.readouterr().err
    assert not out.exists()
    monkeypatch.setattr(sys, "stdin", io.StringIO("boss-password\n"))
    assert cli(args + ["--force", "--user", "boss", "--password-stdin", "--reason", "pilot run, re-gated Monday"]) == 0
    assert "FORCED by boss without a fresh approval" in capsys.readouterr().out
    with db.connect() as con:
        rows = con.execute("SELECT kind, forced, actor, actor_role, comment FROM gate_events").fetchall()
    assert len(rows) == 1  # the engineer's refused attempt recorded nothing
    kind, forced, actor, role, comment = rows[0]
    assert (kind, forced, actor, role) == ("export", True, "boss", "lead")
    assert "because: pilot run, re-gated Monday" in comment
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


def test_human_weight_exports_every_llm_row_and_weighs_human_rows_to_the_share(db, project, tmp_path, capsys):
    gate.decide(db, project, "Cat", user=LEAD, decision="approve", comment="ok")
    out = tmp_path / "weighted.parquet"
    assert cli(["--db", str(db.path), "export", "--task", "sent", "--labeler", "Cat", "--out", str(out),
                "--human-share", "0.2", "--human-weight"]) == 0
    printed = capsys.readouterr().out
    table = pd.read_parquet(out)
    assert list(table.columns) == [*ex.COLUMNS, "weight"]
    human, llm = table[table["source"] == "human"], table[table["source"] == "llm"]
    assert (len(human), len(llm)) == (N_GOLD, N_ITEMS - N_GOLD)           # nothing subsampled away
    w = 0.2 * (N_ITEMS - N_GOLD) / (0.8 * N_GOLD)                         # 1.625: 40 w / (40 w + 260) = 0.2
    assert (human["weight"] == w).all() and (llm["weight"] == 1.0).all()
    assert human["weight"].sum() / table["weight"].sum() == pytest.approx(0.2)
    assert "human rows are 13.3% of the rows and, weighing 1.625 each, 20.0% of the weight (at least 20%)" in printed
    # enough human rows already: every row weighs 1
    table, report = ex.prepare(db, project, "Cat", human_share=0.1, human_weight=True, min_confidence=0.99)
    assert report.n_llm == 0 and report.human_weight == 1.0 and (table["weight"] == 1.0).all()
    with pytest.raises(ValueError, match="choose one"):
        ex.prepare(db, project, "Cat", subsample=True, human_weight=True)


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


def test_labels_of_a_batch_the_monitor_blocked_are_left_out_and_counted(tmp_path):
    from labelgate.export import prepare
    from labelgate.store import Database
    from tests.synthetic import TASK, make_biased_task

    db = Database(tmp_path / "b.duckdb")
    make_biased_task(db, n_items=300, n_gold=240, seed=3)  # Lengthy's batch "prod" breaches cross-family
    table, report = prepare(db, get_task(db, TASK), "Lengthy", force=True, user=LEAD, force_reason="the filter alone",
                            human_share=0.2)
    assert (table["source"] == "llm").sum() == 0
    assert report.removed == {"in a batch the monitor blocked (prod)": report.n_llm_available}
    # Lengthy labeled all 300 items; 240 have expert labels, of which 20 (every 12th) are disputed, not gold
    assert report.n_llm_available == 300 - (240 - 20)
