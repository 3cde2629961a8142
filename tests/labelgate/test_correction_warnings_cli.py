"""The CLI says of the correction in force what the Calibrate page said beside its save button: a headline
metric made worse (saved only once confirmed) and an agreement metric lowered while the error falls."""

from __future__ import annotations

import json
import subprocess
import sys

from labelgate import calibrate as cal
from labelgate.gold import load_gold
from labelgate.store.corrections import save_correction
from labelgate.store.tasks import get_task


def labelgate(db, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The command as a user types it, in its own process, on the database file."""
    return subprocess.run([sys.executable, "-m", "labelgate.cli", "--db", str(db.path), *args], input=stdin,
                          capture_output=True, text=True, timeout=300)


def save_as_the_page_does(db, view, labeler: str, method: str) -> dict:
    """Fit, cross-validate and save a correction as pages/calibrate.py's on_save_correction does."""
    refs = cal.labeler_refs(db, view).set_index("name")
    gold = load_gold(db, view)
    version = refs.loc[labeler, "version"]
    data = cal.load_labeler(db, view, gold, labeler, version, refs.loc[labeler, "family"], n_resamples=50)
    items = cal.item_frame(db, view)
    params = cal.fit_correction(view, data.pairs, method, items=items)
    cv = cal.cross_validate(view, data.pairs, method, items=items)
    save_correction(db, task_id=view.task_id, labeler=labeler, labeler_version=version, method=method,
                    params=params, gold_version=gold.version, n_fit=int(data.pairs["item_id"].nunique()),
                    cv_metrics=cv.to_dict("records"), created_by="engineer", gold_release=gold.release,
                    criterion=view.criterion_name)
    return cv.set_index("metric").to_dict("index")


def test_gate_evaluate_names_the_correction_in_force_and_warns_that_it_is_worse(demo_db):
    # the demo's class-share correction of GPT-4 is worse out of fold: the page saves it only once confirmed
    task = get_task(demo_db, "mt-bench")
    cv = save_as_the_page_does(demo_db, task, "GPT-4", "confusion")
    (metric, row), = list(cv.items())[:1]
    assert abs(row["after"]) > abs(row["before"])

    out = labelgate(demo_db, "gate", "evaluate", "--task", "mt-bench", "--labeler", "GPT-4")
    assert out.returncode in (0, 1), out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("  correction in force: confusion matrix (class shares), fitted on 200 items")
               for line in lines), out.stdout
    assert (f"  WARNING: This correction makes the cross-validated {metric} {row['before']:.4f} → "
            f"{row['after']:.4f} (worse).") in lines

    js = json.loads(labelgate(demo_db, "gate", "evaluate", "--task", "mt-bench", "--labeler", "GPT-4",
                              "--json").stdout)
    assert js["correction"]["method"] == "confusion"
    assert js["correction"]["warnings"] == [f"This correction makes the cross-validated {metric} "
                                            f"{row['before']:.4f} → {row['after']:.4f} (worse)."]


def test_gate_evaluate_without_a_correction_says_nothing_of_one(demo_db):
    out = labelgate(demo_db, "gate", "evaluate", "--task", "mt-bench", "--labeler", "GPT-4")
    assert out.returncode in (0, 1), out.stderr
    assert "correction" not in out.stdout and "WARNING" not in out.stdout


def test_export_warns_when_the_correction_lowers_exact_agreement_while_the_mae_falls(hanna_db):
    # coherence, Beluga-13B, linear (as tests/pages/test_hanna_pages.py): MAE better, exact agreement worse
    view = get_task(hanna_db, "hanna-stories").criterion("coherence")
    cv = save_as_the_page_does(hanna_db, view, "Beluga-13B", "linear")
    mae, agree = cv["MAE"], cv["exact agreement (rounded)"]
    assert mae["after"] < mae["before"] and agree["after"] < agree["before"]

    out = labelgate(hanna_db, "export", "--task", "hanna-stories", "--labeler", "Beluga-13B", "--criterion",
                    "coherence", "--out", str(hanna_db.path.with_name("train.csv")), "--force", "--user", "lead",
                    "--password-stdin", "--reason", "checking the correction", stdin="lead-demo\n")
    assert out.returncode == 0, out.stderr
    assert (f"; WARNING: Agreement gets worse with this correction: cross-validated exact agreement (rounded) "
            f"{agree['before']:.4f} → {agree['after']:.4f} (worse), although the cross-validated MAE "
            f"{mae['before']:.4f} → {mae['after']:.4f} (better)") in out.stdout
