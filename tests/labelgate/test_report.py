"""`labelgate report`: the JSON document's exact shape, the demo's published numbers, the table."""

from __future__ import annotations

import json

import pytest
from sklearn.metrics import cohen_kappa_score

from labelgate.analysis import METRICS_BY_KIND
from labelgate.cli import main as cli
from tests.synthetic import TASK, make_biased_task

EST = {"estimate", "ci_low", "ci_high"}


def report_json(db, capsys, *args) -> dict:
    assert cli(["--db", str(db.path), "report", "--resamples", "200", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def check_est(e: dict) -> None:
    assert set(e) == EST | ({"n_groups", "n_groups_skipped"} if "n_groups" in e else set())
    assert e["ci_low"] <= e["estimate"] <= e["ci_high"]


def test_demo_json_shape_and_published_accuracies(demo_db, capsys):
    doc = report_json(demo_db, capsys, "--task", "mt-bench")
    assert set(doc) == {"task", "kind", "gold", "humans", "labelers", "criteria"}
    assert (doc["task"], doc["kind"]) == ("mt-bench", "pairwise")
    # a one-question task has one criterion, 'label', whose part is the top level (issue 11)
    (only,) = doc["criteria"]
    assert (only["name"], only["kind"], only["rate"]) == ("label", "pairwise", None)
    assert (only["humans"], only["labelers"]) == (doc["humans"], doc["labelers"])
    assert only["gold"] == {"release": None, "n_items": 200, "n_disputed": 0}
    assert only["human_split"] == {"n_items": 0, "n_split": 0, "share": None, "ci_low": None,
                                     "ci_high": None}   # one rater: no split
    assert doc["gold"] == {"n_items": 200, "n_disputed": 0, "release": None, "latest_release": None,
                           "unreleased_answers": 0, "draft": "No gold release yet: working on the unreleased draft."}
    assert set(doc["humans"]) == {"n_raters", "krippendorff_alpha", "pairwise_cohen_kappa"}
    assert doc["humans"] == {"n_raters": 1, "krippendorff_alpha": None, "pairwise_cohen_kappa": []}
    by_name = {lab["name"]: lab for lab in doc["labelers"]}
    assert sorted(by_name) == ["ChatGPT", "GPT-4", "LLaMA2", "PaLM2"]
    for lab in doc["labelers"]:
        assert set(lab) == {"name", "family", "version", "n", "invalid_outputs", "metrics"}
        # the demo loads only parsable judgments (at most 200 items x 2 orders), so none is invalid
        assert lab["invalid_outputs"]["n_invalid"] == 0 and 350 < lab["invalid_outputs"]["n_outputs"] <= 400
        assert set(lab["metrics"]) <= set(METRICS_BY_KIND["pairwise"])
        assert not {"mae", "pearson", "spearman"} & set(lab["metrics"])  # not applicable to pairwise
        for e in lab["metrics"].values():
            check_est(e)
    # LLMBar's published numbers (Vanilla_NoRules, mean over both orders)
    assert by_name["GPT-4"]["metrics"]["accuracy"]["estimate"] == pytest.approx(0.81)
    assert by_name["ChatGPT"]["metrics"]["accuracy"]["estimate"] == pytest.approx(0.7125)
    assert by_name["LLaMA2"]["metrics"]["accuracy"]["estimate"] == pytest.approx(0.72)
    assert (by_name["GPT-4"]["family"], by_name["LLaMA2"]["family"], by_name["PaLM2"]["family"]) == \
        ("gpt", "llama", "palm")
    assert by_name["GPT-4"]["n"] == 200 and len(by_name["GPT-4"]["version"]) == 12


def test_ordinal_task_with_group_by_and_two_experts(demo_db, capsys):
    info = make_biased_task(demo_db)
    doc = report_json(demo_db, capsys, "--task", TASK, "--labeler", "Lengthy", "--group-by", "system")
    assert doc["kind"] == "ordinal"
    assert {k: doc["gold"][k] for k in ("n_items", "n_disputed", "release")} == {
        "n_items": 240 - len(info["disputed"]), "n_disputed": len(info["disputed"]), "release": None}
    h = doc["humans"]
    assert h["n_raters"] == 2
    check_est(h["krippendorff_alpha"])
    with demo_db.connect() as con:
        pairs = con.execute("SELECT a.value, b.value FROM human_labels a JOIN human_labels b USING (task_id, item_id)"
                            " WHERE a.rater = 'exp-a' AND b.rater = 'exp-b' AND a.round = 1 AND b.round = 1"
                            " AND a.status = 'label' AND b.status = 'label'").fetchall()
    expected = cohen_kappa_score([p[0] for p in pairs], [p[1] for p in pairs], weights="quadratic",
                                 labels=["1", "2", "3", "4", "5"])
    assert h["pairwise_cohen_kappa"] == [{"a": "exp-a", "b": "exp-b", "n": 240, "kappa": pytest.approx(expected)}]
    assert 0.9 < expected < 1
    (lab,) = doc["labelers"]
    assert lab["name"] == "Lengthy" and lab["family"] == "gpt"
    m = lab["metrics"]
    assert {"quadratic_kappa", "spearman", "kendall_tau", "mae", "rmse", "mean_signed_error"} <= set(m)
    assert {"pearson_grouped", "spearman_grouped", "kendall_tau_grouped"} <= set(m)
    assert "macro_f1" not in m
    for e in m.values():
        check_est(e)
    assert 0.3 < m["mean_signed_error"]["estimate"] < 0.6 and m["mean_signed_error"]["ci_low"] > 0


def test_table_without_json_is_readable(demo_db, capsys):
    assert cli(["--db", str(demo_db.path), "report", "--task", "mt-bench", "--resamples", "100"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "task mt-bench (pairwise): 200 gold items in the unreleased draft, 0 in dispute"
    assert out[1] == "  No gold release yet: working on the unreleased draft."
    # the imported MT-Bench majority is a human rater of the gold, not one of the app's experts
    assert out[2] == "human raters: 1 (app experts and imported raters), Krippendorff's alpha -"
    header = next(line for line in out if line.startswith("labeler"))
    assert header.split()[:6] == ["labeler", "family", "version", "n", "invalid", "accuracy"]
    gpt4 = next(line for line in out if line.startswith("GPT-4"))
    assert "0.810 [" in gpt4 and " gpt " in gpt4


def test_bad_input_gets_a_clear_message(demo_db, capsys):
    assert cli(["--db", str(demo_db.path), "report", "--task", "mt-bench", "--labeler", "Nope"]) == 2
    assert "no labeler named Nope" in capsys.readouterr().err
    assert cli(["--db", str(demo_db.path), "report", "--task", "mt-bench", "--group-by", "domain"]) == 2
    assert "no metadata column 'domain'" in capsys.readouterr().err


def test_expert_kappa_on_a_ten_point_scale_orders_points_as_numbers():
    """Sorting "1".."10" as text put 10 between 1 and 2: quadratic kappa came out -0.09, not 0.96."""
    import pandas as pd

    from labelgate.analysis import human_reliability
    from labelgate.tasks import Task, make_spec

    task = Task(1, "t", "ordinal", make_spec("ordinal", scale=(1, 10)))
    a, b = [1, 2, 3, 9, 10, 5, 6], [2, 1, 3, 10, 9, 5, 7]
    experts = pd.DataFrame({"item_id": [f"i{i}" for i in range(7)] * 2, "rater": ["a"] * 7 + ["b"] * 7,
                            "value": [str(v) for v in a + b], "value_num": [float(v) for v in a + b]})
    (pair,) = human_reliability(task, experts, n_resamples=50)["pairwise_cohen_kappa"]
    assert pair["kappa"] == pytest.approx(cohen_kappa_score(a, b, weights="quadratic", labels=list(range(1, 11))))
    assert pair["kappa"] > 0.95
