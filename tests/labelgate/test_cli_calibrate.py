"""`labelgate calibrate fit | list` on the real demo database: a pipeline fits, checks out of fold and
saves a correction under the Calibrate page's own rules (an engineer or a lead saves; a correction
that makes its cross-validated metric worse only with --force), per criterion on hanna-stories."""

from __future__ import annotations

import io
import json

import pytest

from labelgate.cli import main as cli

CRITERIA_TASK = "hanna-stories"


def run(db, capsys, monkeypatch, *args: str, password: str | None = None) -> tuple[int, str, str]:
    if password is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    code = cli(["--db", str(db.path), "calibrate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def corrections(db) -> list[tuple]:
    with db.connect() as con:
        return con.execute("SELECT labeler, criterion, method, n_fit, created_by FROM corrections"
                           " ORDER BY correction_id").fetchall()


def test_fit_prints_the_cross_validated_effect_and_saves_nothing_without_save(demo_db, capsys, monkeypatch):
    code, out, _ = run(demo_db, capsys, monkeypatch, "fit", "--task", "mt-bench", "--labeler", "GPT-4", "--json")
    assert code == 0
    fit = json.loads(out)
    assert fit["method"] == "confusion" and fit["n_fit"] == 200 and fit["gold"] == "the unreleased draft"
    (row,) = fit["cv"]
    assert row["after"] - row["before"] == pytest.approx(row["change"])
    assert row["after"] > row["before"]            # on the demo the class-share correction is worse out of fold
    assert corrections(demo_db) == []
    code, out, _ = run(demo_db, capsys, monkeypatch, "fit", "--task", "mt-bench", "--labeler", "GPT-4")
    assert code == 0 and "WARNING: This correction makes the cross-validated" in out
    assert "not saved (add --save --user NAME to save it)" in out


def test_save_follows_the_pages_rules(demo_db, capsys, monkeypatch):
    base = ("fit", "--task", "mt-bench", "--labeler", "GPT-4", "--save", "--password-stdin")
    code, _, err = run(demo_db, capsys, monkeypatch, *base, "--force", "--user", "expert", password="expert-demo")
    assert code == 2 and "Only an engineer or a lead saves a correction; expert is an expert." in err
    code, _, err = run(demo_db, capsys, monkeypatch, *base, "--user", "engineer", password="engineer-demo")
    assert code == 2 and "not saved: the correction makes the cross-validated" in err and "--force" in err
    assert corrections(demo_db) == []                                     # refused twice: nothing stored
    code, out, _ = run(demo_db, capsys, monkeypatch, *base, "--force", "--user", "engineer", password="engineer-demo")
    assert code == 0 and "saved correction #1 of GPT-4 version" in out
    assert corrections(demo_db) == [("GPT-4", "label", "confusion", 200, "engineer")]

    code, out, _ = run(demo_db, capsys, monkeypatch, "list", "--task", "mt-bench", "--json")
    (listed,) = json.loads(out)
    assert code == 0 and listed["correction_id"] == 1 and listed["in_force"] and listed["created_by"] == "engineer"
    assert listed["warnings"] and "worse" in listed["warnings"][0]


@pytest.mark.parametrize("args, message", [
    (("--labeler", "GPT-5"), "--labeler: task mt-bench has no labeler 'GPT-5'; its labelers: ChatGPT, GPT-4"),
    (("--labeler", "GPT-4", "--method", "platt"), "Platt scaling needs 10 or more stated confidences"),
    (("--labeler", "GPT-4", "--criterion", "tone"), "task mt-bench has no criterion 'tone'; its criteria: label"),
])
def test_a_wrong_name_is_refused_in_one_sentence(demo_db, capsys, monkeypatch, args, message):
    code, out, err = run(demo_db, capsys, monkeypatch, "fit", "--task", "mt-bench", *args)
    assert code == 2 and message in err and "Traceback" not in err and out == ""
    assert corrections(demo_db) == []


def test_a_correction_of_one_criterion_of_hanna_stories(hanna_db, capsys, monkeypatch):
    code, out, _ = run(hanna_db, capsys, monkeypatch, "fit", "--task", CRITERIA_TASK, "--labeler", "Beluga-13B",
                       "--criterion", "empathy", "--method", "linear", "--json")
    assert code == 0
    fit = json.loads(out)
    assert (fit["criterion"], fit["method"]) == ("empathy", "linear") and fit["n_fit"] > 100
    mae = next(r for r in fit["cv"] if r["metric"] == "MAE")
    assert mae["change_ci_low"] <= mae["change"] <= mae["change_ci_high"]     # a paired bootstrap CI of the change
    code, out, _ = run(hanna_db, capsys, monkeypatch, "fit", "--task", CRITERIA_TASK, "--labeler", "Beluga-13B",
                       "--criterion", "empathy", "--method", "linear", "--save", "--force", "--user", "lead",
                       "--password-stdin", password="lead-demo")
    assert code == 0
    assert corrections(hanna_db) == [("Beluga-13B", "empathy", "linear", fit["n_fit"], "lead")]
    code, out, _ = run(hanna_db, capsys, monkeypatch, "list", "--task", CRITERIA_TASK)
    assert code == 0 and "#1 Beluga-13B [empathy] version" in out and "(in force)" in out
