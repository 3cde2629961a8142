"""Gold releases: publishing the draft, reading releases back, and approvals that stay fresh on one."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from labelgate import gate
from labelgate import gold as goldlib
from labelgate.cli import main as cli
from labelgate.demo import JUDGES
from labelgate.store import Database
from labelgate.store.corrections import current_correction, save_correction
from labelgate.store.gold import append_adjudication
from labelgate.store.labelers import save_labeler
from labelgate.store.labels import append_human_label
from labelgate.store.tasks import create_task, get_task, revise_task
from labelgate.store.users import User
from labelgate.tasks import make_spec

LEAD, ENGINEER = User("lead", "lead"), User("engineer", "engineer")
EXPERT, ADMIN = User("expert", "expert"), User("admin", "admin")
GPT4 = next(j for j in JUDGES if j.name == "GPT-4")
PREVIOUS_RELEASE_DB = Path(__file__).resolve().parents[1] / "data" / "previous_release.duckdb"


def answer(db, task, item_id: str, value: str, rater: str = "expert") -> None:
    append_human_label(db, task_id=task.task_id, item_id=item_id, rater=rater, status="label", value=value)


def count(db, table: str) -> int:
    with db.connect() as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def run(db, argv: list[str], monkeypatch, password: str | None = None) -> int:
    if password is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return cli(["--db", str(db.path), *argv])


# -- publishing -----------------------------------------------------------------------------------

def test_a_release_freezes_the_draft_and_the_draft_moves_on(demo_db):
    task = get_task(demo_db, "mt-bench")
    draft = goldlib.load_gold(demo_db, task)
    rel = goldlib.publish(demo_db, task, user=ENGINEER, note="MT-Bench majority")
    assert (rel.number, rel.n_items, rel.n_disputed, rel.created_by, rel.note) == (1, 200, 0, "engineer",
                                                                                    "MT-Bench majority")
    assert rel.gold_version == draft.version and rel.expert_agreement["n_raters"] == 1 and rel.expert_alpha is None
    frozen = goldlib.release_gold(demo_db, task, 1)
    pd.testing.assert_frame_equal(frozen.labels[["item_id", "value", "source", "n_experts"]],
                                  draft.labels[["item_id", "value", "source", "n_experts"]])
    assert frozen.release == 1 and frozen.version == draft.version

    # an expert disagrees with the majority on one item and agrees on another: only the draft moves
    majority = draft.labels.set_index("item_id")["value"]
    answer(demo_db, task, "mtb-000", "2" if majority["mtb-000"] == "1" else "1")
    answer(demo_db, task, "mtb-001", majority["mtb-001"])
    assert goldlib.release_gold(demo_db, task, 1).version == draft.version
    assert goldlib.resolve_gold(demo_db, task).release == 1
    now = goldlib.load_gold(demo_db, task)
    assert now.n_items == 199 and now.n_disputed == 1
    progress = goldlib.draft_progress(demo_db, task)
    assert (progress.answers_since, progress.adjudications_since) == (2, 0)
    assert progress.describe() == "2 expert answers since release 1, not yet released."

    rel2 = goldlib.publish(demo_db, task, user=LEAD)
    assert (rel2.number, rel2.n_items, rel2.n_disputed) == (2, 199, 1)
    with demo_db.connect() as con:
        disputed = con.execute("SELECT item_id, status, value, source, n_experts, expert_values FROM gold_release_items"
                               " WHERE release_no = 2 AND status = 'disputed'").fetchall()
    assert disputed == [("mtb-000", "disputed", None, None, 2, "1, 2")]
    d = goldlib.diff(demo_db, task, 1, 2)
    assert d.summary() == "+0 items, 0 relabeled, 1 removed" and list(d.removed["item_id"]) == ["mtb-000"]
    assert not goldlib.draft_progress(demo_db, task).has_news
    # the two experts now share two items: the release carries their agreement
    assert rel2.expert_agreement["n_raters"] == 2


def test_who_may_publish_and_when_there_is_nothing_to_publish(demo_db, db):
    task = get_task(demo_db, "mt-bench")
    for user in (EXPERT, ADMIN):
        with pytest.raises(goldlib.ReleasePermissionError, match="only an engineer or a lead"):
            goldlib.publish(demo_db, task, user=user)
    assert count(demo_db, "gold_releases") == 0
    goldlib.publish(demo_db, task, user=LEAD)
    with pytest.raises(ValueError, match="nothing to release: no expert answer or adjudication since release 1"):
        goldlib.publish(demo_db, task, user=LEAD)
    append_adjudication(demo_db, task.task_id, "mtb-003", "2", None, decided_by="lead", reason="re-read")
    assert goldlib.draft_progress(demo_db, task).describe() == "0 expert answers and 1 adjudication since release 1, " \
                                                               "not yet released."
    rel = goldlib.publish(demo_db, task, user=LEAD)
    assert goldlib.release_gold(demo_db, task, rel.number).labels.set_index("item_id").loc["mtb-003", "source"] \
        == "adjudicated"

    empty = create_task(db, "empty", "categorical", make_spec("categorical", labels=["a", "b"]))
    with pytest.raises(ValueError, match="nothing to release: the draft of empty has no gold item yet"):
        goldlib.publish(db, empty, user=LEAD)
    with pytest.raises(LookupError, match="task empty has no release 3; releases: none yet"):
        goldlib.release_gold(db, empty, 3)
    assert count(db, "gold_releases") == 0 and count(db, "gold_release_items") == 0


def test_releases_are_append_only_in_the_code():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sources = [p for d in ("labelgate", "pages") for p in (root / d).rglob("*.py")]
    pattern = re.compile(r"(UPDATE|DELETE\s+FROM|TRUNCATE|DROP\s+TABLE)\s+gold_release", re.I)
    assert not [str(p) for p in sources if pattern.search(p.read_text())]


# -- approvals on a release -------------------------------------------------------------------------

def test_an_approval_on_a_release_stays_fresh_while_experts_label_and_goes_stale_on_the_next_release(demo_db):
    task = get_task(demo_db, "mt-bench")
    goldlib.publish(demo_db, task, user=LEAD)
    _, ev = gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="approve", comment="release 1 is fine")
    assert ev.fingerprint.gold_release == 1
    with demo_db.connect() as con:
        assert con.execute("SELECT gold_release FROM gate_events WHERE kind = 'approve'").fetchall() == [(1,)]
    majority = goldlib.release_gold(demo_db, task, 1).labels.set_index("item_id")["value"]
    flip = {"1": "2", "2": "1"}
    for i in range(3):
        answer(demo_db, task, f"mtb-00{i}", flip[majority[f"mtb-00{i}"]])
    assert gate.status(demo_db, task, "GPT-4").state == "approved"   # the draft has 3 disputes now
    for item, value in (("mtb-000", majority["mtb-000"]), ("mtb-001", flip[majority["mtb-001"]]),
                        ("mtb-002", majority["mtb-002"]), ("mtb-005", flip[majority["mtb-005"]])):
        append_adjudication(demo_db, task.task_id, item, value, None, decided_by="lead", reason="re-read")
    st = gate.status(demo_db, task, "GPT-4")
    assert st.state == "approved" and st.approved_release == 1
    assert st.unreleased == "3 expert answers and 4 adjudications since release 1, not yet released."
    assert "on gold release 1" in st.describe()

    goldlib.publish(demo_db, task, user=ENGINEER, note="first expert answers")
    st = gate.status(demo_db, task, "GPT-4")
    assert st.state == "stale" and st.stale_reasons == (
        "gold release 2 was published after the approved release 1 (+0 items, 2 relabeled, 0 removed)",)
    table = gate.metrics_side_by_side(demo_db, task, "GPT-4", [1, 2], n_resamples=200).set_index("criterion")
    assert table.loc["gold items", "release 1"] == table.loc["gold items", "release 2"] == 200
    kappa = table.loc["Cohen's kappa vs gold"]
    assert kappa["release 1"] != kappa["release 2"] and kappa["release 1 result"] == "pass"
    # two experts on three shared items: too few to judge their agreement, so it is skipped, not failed
    assert table.loc["expert agreement", "release 2 result"] == "skipped"

    # re-approval on the new release is fresh again and names it
    _, ev = gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="approve", comment="release 2 checked")
    st = gate.status(demo_db, task, "GPT-4")
    assert st.state == "approved" and st.approved_release == 2 and ev.fingerprint.gold_release == 2


def test_an_approval_on_the_draft_goes_stale_when_the_first_release_is_published(demo_db):
    task = get_task(demo_db, "mt-bench")
    gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="approve", comment="no release yet")
    st = gate.status(demo_db, task, "GPT-4")
    assert st.state == "approved" and "on the unreleased draft" in st.describe() and st.draft is None
    goldlib.publish(demo_db, task, user=LEAD)
    st = gate.status(demo_db, task, "GPT-4")
    assert st.stale_reasons == ("gold release 1 was published after this approval on the unreleased draft",)


def test_a_changed_criterion_makes_an_approval_stale_and_says_which(demo_db):
    task = get_task(demo_db, "mt-bench")
    goldlib.publish(demo_db, task, user=LEAD)
    gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="approve", comment="ok")
    loosened = [c.__class__(**{**c.to_dict(), "threshold": 0.05}) if c.metric == "kappa" else c
                for c in gate.default_criteria(task)]
    gate.save_criteria(demo_db, task, loosened, user=LEAD)
    st = gate.status(demo_db, task, "GPT-4")
    assert st.state == "stale"
    assert st.stale_reasons == ("the gate criteria changed since the approval: kappa: threshold 0.4 -> 0.05",)
    # a criterion dropped and another made optional are both named
    fewer = [c.__class__(**{**c.to_dict(), "optional": True}) if c.metric == "n_gold" else c
             for c in gate.default_criteria(task) if c.metric != "ece"]
    gate.save_criteria(demo_db, task, fewer, user=LEAD)
    (reason,) = gate.status(demo_db, task, "GPT-4").stale_reasons
    assert "ece removed" in reason and "n_gold: optional False -> True" in reason
    # only a new label or description is no change to what was judged
    gate.save_criteria(demo_db, task, [c.__class__(**{**c.to_dict(), "description": "reworded"})
                                       for c in gate.default_criteria(task)], user=LEAD)
    assert gate.status(demo_db, task, "GPT-4").state == "approved"


def test_a_label_options_change_alone_makes_an_approval_stale(demo_db):
    task = get_task(demo_db, "mt-bench")
    goldlib.publish(demo_db, task, user=LEAD)
    gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="approve", comment="ok")
    revise_task(demo_db, "mt-bench", spec=make_spec("pairwise", labels=["1", "2", "tie"]))
    st = gate.status(demo_db, get_task(demo_db, "mt-bench"), "GPT-4")
    assert st.state == "stale" and st.stale_reasons == (
        f"the task's rubric or label options changed: revision {task.revision} was approved, the task is at "
        f"revision {task.revision + 1}",)


def test_combined_changes_are_all_named_and_re_approval_after_stale_is_fresh(demo_db):
    task = get_task(demo_db, "mt-bench")
    goldlib.publish(demo_db, task, user=LEAD)
    gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="approve", comment="ok")
    save_labeler(demo_db, task.task_id, GPT4.with_changes(prompt_template=GPT4.prompt_template + "\nBe brief."))
    gate.save_criteria(demo_db, task, [c.__class__(**{**c.to_dict(), "threshold": 0.3}) if c.metric == "kappa"
                                       else c for c in gate.default_criteria(task)], user=LEAD)
    append_adjudication(demo_db, task.task_id, "mtb-000", "2", None, decided_by="lead", reason="re-read")
    goldlib.publish(demo_db, task, user=LEAD)
    reasons = gate.status(demo_db, task, "GPT-4").stale_reasons
    assert len(reasons) == 3
    assert reasons[0].startswith("the labeler changed (model, prompt or settings)")
    assert reasons[1].startswith("gold release 2 was published after the approved release 1 (+0 items, ")
    assert reasons[2] == "the gate criteria changed since the approval: kappa: threshold 0.4 -> 0.3"
    # the new prompt has no labels yet: the lead refuses it, then a labeler with labels is approved again
    gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="refuse", comment="new prompt unlabeled")
    assert gate.status(demo_db, task, "GPT-4").state == "refused"
    save_labeler(demo_db, task.task_id, GPT4)  # back to the labeled version
    gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="approve", comment="old prompt, release 2")
    st = gate.status(demo_db, task, "GPT-4")
    assert st.state == "approved" and st.approved_release == 2 and st.stale_reasons == ()


def test_a_correction_records_the_release_it_was_fitted_on(demo_db):
    task = get_task(demo_db, "mt-bench")
    rel = goldlib.publish(demo_db, task, user=LEAD)
    version = gate.status(demo_db, task, "GPT-4").current.labeler_version
    save_correction(demo_db, task_id=task.task_id, labeler="GPT-4", labeler_version=version, method="platt",
                    params={"method": "platt", "a": 1.0, "b": 0.0, "n": 10}, gold_version=rel.gold_version,
                    n_fit=10, cv_metrics=None, created_by="engineer", gold_release=rel.number)
    assert current_correction(demo_db, task.task_id, "GPT-4", version)["gold_release"] == 1


# -- the command line -------------------------------------------------------------------------------

def test_cli_gold_release_list_and_diff(demo_db, monkeypatch, capsys):
    argv = ["gold", "release", "--task", "mt-bench", "--user", "engineer", "--password-stdin"]
    assert run(demo_db, ["gold", "list", "--task", "mt-bench"], monkeypatch) == 0
    assert "has no gold release yet; the draft has 200 gold items" in capsys.readouterr().out
    assert run(demo_db, argv + ["--note", "majority"], monkeypatch, "engineer-demo") == 0
    out = capsys.readouterr().out
    assert "published gold release 1 of mt-bench by engineer: 200 gold items, 0 disputed left out" in out
    assert "expert agreement not measurable (1 rater)" in out
    # refusals: nothing new, a wrong password, an expert, an unknown task -- each exit 2, nothing written
    assert run(demo_db, argv, monkeypatch, "engineer-demo") == 2
    assert "nothing to release: no expert answer or adjudication since release 1" in capsys.readouterr().err
    task = get_task(demo_db, "mt-bench")
    answer(demo_db, task, "mtb-000", "2" if goldlib.load_gold(demo_db, task).labels["value"][0] == "1" else "1")
    assert run(demo_db, argv, monkeypatch, "wrong-password") == 2
    assert "wrong user name or password" in capsys.readouterr().err
    assert run(demo_db, ["gold", "release", "--task", "mt-bench", "--user", "expert", "--password-stdin"],
               monkeypatch, "expert-demo") == 2
    assert "only an engineer or a lead may publish" in capsys.readouterr().err
    assert run(demo_db, ["gold", "release", "--task", "nope", "--user", "lead", "--password-stdin"],
               monkeypatch, "lead-demo") == 2
    capsys.readouterr()
    assert count(demo_db, "gold_releases") == 1

    assert run(demo_db, ["gold", "list", "--task", "mt-bench"], monkeypatch) == 0
    out = capsys.readouterr().out
    assert "1 expert answer since release 1, not yet released." in out and "majority" in out
    assert run(demo_db, argv, monkeypatch, "engineer-demo") == 0
    assert "since release 1: +0 items, 0 relabeled, 1 removed" in capsys.readouterr().out
    assert run(demo_db, ["gold", "list", "--task", "mt-bench", "--json"], monkeypatch) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(r["release"], r["n_items"], r["n_disputed"], r["created_by"]) for r in doc["releases"]] == [
        (1, 200, 0, "engineer"), (2, 199, 1, "engineer")]
    assert doc["unreleased_answers"] == 0

    assert run(demo_db, ["gold", "diff", "--task", "mt-bench", "--from", "1", "--to", "2"], monkeypatch) == 0
    out = capsys.readouterr().out
    assert "mt-bench gold, release 1 -> release 2: +0 items, 0 relabeled, 1 removed" in out
    assert "  - mtb-000: was " in out
    append_adjudication(demo_db, task.task_id, "mtb-000", "1", None, decided_by="lead", reason="settled")
    assert run(demo_db, ["gold", "diff", "--task", "mt-bench", "--from", "2", "--to", "draft", "--json"],
               monkeypatch) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"] == "+1 items, 0 relabeled, 0 removed" and doc["added"] == [{"item_id": "mtb-000",
                                                                                      "value": "1"}]
    assert run(demo_db, ["gold", "diff", "--task", "mt-bench", "--from", "1", "--to", "7"], monkeypatch) == 2
    assert "has no release 7; releases: 1, 2" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        run(demo_db, ["gold", "diff", "--task", "mt-bench", "--from", "first", "--to", "2"], monkeypatch)
    assert exc.value.code == 2 and "a release is a positive number or 'draft'" in capsys.readouterr().err


def test_cli_gate_check_stays_ok_with_unreleased_answers_and_says_how_many(demo_db, monkeypatch, capsys):
    task = get_task(demo_db, "mt-bench")
    goldlib.publish(demo_db, task, user=LEAD)
    gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="approve", comment="ok")
    check = ["gate", "check", "--task", "mt-bench", "--labeler", "GPT-4"]
    for i in range(4):
        answer(demo_db, task, f"mtb-01{i}", "1")
    assert run(demo_db, check, monkeypatch) == 0
    out = capsys.readouterr().out
    assert "OK: GPT-4 approved by lead" in out and "on gold release 1" in out
    assert "4 expert answers since release 1, not yet released." in out
    assert run(demo_db, check + ["--json"], monkeypatch) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["ok"], doc["gold_release"], doc["unreleased_answers"]) == (True, 1, 4)
    goldlib.publish(demo_db, task, user=LEAD)
    assert run(demo_db, check, monkeypatch) == 1
    assert "gold release 2 was published after the approved release 1 (+" in capsys.readouterr().out


def test_cli_gold_release_option_on_report_evaluate_and_export(demo_db, monkeypatch, capsys, tmp_path):
    task = get_task(demo_db, "mt-bench")
    assert run(demo_db, ["report", "--task", "mt-bench", "--labeler", "GPT-4", "--resamples", "50"], monkeypatch) == 0
    out = capsys.readouterr().out
    assert "200 gold items in the unreleased draft" in out and "No gold release yet" in out
    goldlib.publish(demo_db, task, user=LEAD)
    majority = goldlib.load_gold(demo_db, task).labels.set_index("item_id")["value"]
    flipped = {"1": "2", "2": "1"}[majority["mtb-000"]]
    append_adjudication(demo_db, task.task_id, "mtb-000", flipped, None, decided_by="lead", reason="re-read")
    answer(demo_db, task, "mtb-001", majority["mtb-001"])    # agrees: the gold stays 200 items
    goldlib.publish(demo_db, task, user=LEAD)
    answer(demo_db, task, "mtb-002", majority["mtb-002"])

    assert run(demo_db, ["report", "--task", "mt-bench", "--labeler", "GPT-4", "--resamples", "50", "--json",
                         "--gold-release", "1"], monkeypatch) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["gold"]["release"], doc["gold"]["latest_release"], doc["gold"]["unreleased_answers"]) == (1, 2, 1)
    on_first = doc["labelers"][0]["metrics"]["accuracy"]["estimate"]
    assert run(demo_db, ["report", "--task", "mt-bench", "--labeler", "GPT-4", "--resamples", "50", "--json"],
               monkeypatch) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["gold"]["release"] == 2 and doc["labelers"][0]["metrics"]["accuracy"]["estimate"] != on_first
    assert run(demo_db, ["report", "--task", "mt-bench", "--gold-release", "9"], monkeypatch) == 2
    assert "has no release 9" in capsys.readouterr().err

    ev = ["gate", "evaluate", "--task", "mt-bench", "--labeler", "GPT-4"]
    assert run(demo_db, ev + ["--gold-release", "1"], monkeypatch) == 0
    assert "against gold release 1: PASS" in capsys.readouterr().out
    with demo_db.connect() as con:
        assert con.execute("SELECT gold_release FROM gate_events ORDER BY event_id DESC LIMIT 1").fetchall() == [(1,)]
    assert run(demo_db, ev + ["--json"], monkeypatch) == 0
    assert json.loads(capsys.readouterr().out)["fingerprint"]["gold_release"] == 2

    gate.decide(demo_db, task, "GPT-4", user=LEAD, decision="approve", comment="release 2")
    out = tmp_path / "train.csv"
    exp = ["export", "--task", "mt-bench", "--labeler", "GPT-4", "--out", str(out), "--subsample"]
    assert run(demo_db, exp, monkeypatch) == 0
    assert "200 human gold (gold release 2)" in capsys.readouterr().out
    table = pd.read_csv(out, dtype={"value": str})
    human = table[table["source"] == "human"].set_index("item_id")
    assert len(human) == 200 and set(human["gold_release"]) == {2} and human.loc["mtb-000", "value"] == flipped
    # another release than the approved one is refused without --force, and audited with it
    assert run(demo_db, exp + ["--gold-release", "1"], monkeypatch) == 2
    assert "it was approved on gold release 2, not on gold release 1" in capsys.readouterr().err
    assert run(demo_db, exp + ["--gold-release", "1", "--force", "--user", "lead", "--reason", "compare",
                         "--password-stdin"], monkeypatch,
               "lead-demo") == 0
    capsys.readouterr()
    table = pd.read_csv(out, dtype={"value": str})
    human = table[table["source"] == "human"].set_index("item_id")
    assert set(table["gold_release"]) == {1} and human.loc["mtb-000", "value"] == majority["mtb-000"]
    with demo_db.connect() as con:
        assert con.execute("SELECT gold_release, forced FROM gate_events WHERE kind = 'export' ORDER BY event_id"
                           ).fetchall() == [(2, False), (1, True)]


# -- the migration ------------------------------------------------------------------------------------

def test_a_database_of_the_previous_schema_migrates_with_every_label_intact(tmp_path):
    """tests/data/previous_release.duckdb was written by main before gold releases (migrations
    0001-0007); with an approval and a correction added in that schema, it gains the release
    tables and columns, and nothing it held changes."""
    path = tmp_path / "old.duckdb"
    shutil.copy(PREVIOUS_RELEASE_DB, path)
    with duckdb.connect(str(path)) as con:   # the old schema, as the old code would write it
        assert "0008_gold_releases" not in {r[0] for r in con.execute("SELECT name FROM schema_migrations").fetchall()}
        con.execute("INSERT INTO gate_events (task_id, labeler, kind, actor, actor_role, labeler_version,"
                    " task_revision, task_spec, gold_version, correction_id, criteria, metrics, result, verdict,"
                    " comment) SELECT 1, 'GPT-4', 'approve', 'lead', 'lead', version, 1, 's', 'g', NULL, '[]', '{}',"
                    " '{}', 'pass', 'old approval' FROM labeler_versions WHERE name = 'GPT-4' LIMIT 1")
        con.execute("INSERT INTO corrections (task_id, labeler, labeler_version, method, params, gold_version, n_fit,"
                    " created_by) VALUES (1, 'GPT-4', 'v', 'platt', '{}', 'g', 10, 'engineer')")
        tables = ("human_labels", "llm_labels", "items", "adjudications", "gate_events", "corrections", "users")
        before = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}

    new = Database(path)
    task = get_task(new, "mt-bench")   # the first open applies migration 0008
    with new.connect() as con:
        names = {r[0] for r in con.execute("SELECT name FROM schema_migrations").fetchall()}
        # columns added later are left out: gold_release (0008), criterion and rationale (0014, checked in
        # tests/reliability/test_upgrade.py)
        added = {"gate_events": "gold_release", "corrections": "gold_release, criterion",
                 "human_labels": "criterion, rationale", "llm_labels": "criterion, rationale",
                 "adjudications": "criterion"}
        after = {t: con.execute(f"SELECT * EXCLUDE ({added[t]}) FROM {t} ORDER BY ALL").fetchall()
                 if t in added else con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                 for t in tables}
        nulls = [con.execute(f"SELECT count(*) FROM {t} WHERE gold_release IS NOT NULL").fetchall()[0][0]
                 for t in ("gate_events", "corrections")]
    assert "0008_gold_releases" in names
    assert after == before and nulls == [0, 0] and len(before["human_labels"]) == 230
    # the old approval (recorded before releases) reads as one on the draft; the draft is published as release 1
    draft = goldlib.load_gold(new, task)
    rel = goldlib.publish(new, task, user=LEAD)
    assert (rel.number, rel.n_items, rel.n_disputed) == (1, draft.n_items, draft.n_disputed)
    assert "gold release 1 was published after this approval on the unreleased draft" in \
        gate.status(new, task, "GPT-4").stale_reasons
    with pytest.raises(duckdb.Error):  # a release number cannot be written twice
        with new.transaction() as con:
            con.execute("INSERT INTO gold_releases (task_id, release_no, gold_version, n_items, n_disputed,"
                        " last_label_id, n_adjudications, expert_agreement, created_by)"
                        " VALUES (1, 1, 'x', 0, 0, 0, 0, '{}', 'lead')")


def test_a_threshold_typed_as_a_float_is_the_same_criterion():
    from qc.gate import Criterion

    typed = Criterion("n_gold", ">=", 200.0)
    assert gate.criteria_key([Criterion("n_gold", ">=", 200)]) == gate.criteria_key([typed])
    assert gate.criteria_changes(gate.criteria_key([typed]), gate.criteria_key([Criterion("n_gold", ">=", 150)])) \
        == ["n_gold: threshold 200 -> 150"]
