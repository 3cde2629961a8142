"""`labelgate align run`: variants from a file saved as labeler versions and run on dev only, against
the prompt-sensitive test server; the lab ranks them in the true order with `align compare`."""

from __future__ import annotations

import json
import re

import pytest

from labelgate.cli import main as cli
from labelgate.store.labelers import current_versions
from tests.labelgate import align_helpers
from tests.labelgate.align_helpers import NUMBER, PHRASE, lab
from tests.labelgate.llm_helpers import count, frame
from tests.llm_server import PromptSensitiveJudge

judge, server = align_helpers.judge, align_helpers.server   # the shared fixtures


def _variants(server, path, **override):
    base = {"provider": "openai", "model": "gpt-4o-mini", "base_url": server.openai_url,
            "api_key_env": "OPENAI_API_KEY"}
    rows = [dict(base, name="weak", prompt="Review:\n{item}\n\nAnswer with one of: {labels}.", few_shot=0),
            dict(base, name="mid", prompt=PHRASE + "\nReview:\n{item}\n\nAnswer with one of: {labels}.",
                 few_shot=3, seed=1),
            dict(base, name="strong", prompt=PHRASE + "\nReview:\n{item}\n\nAnswer with one of: {labels}.",
                 few_shot=9, seed=2, temperature=0.2)]
    for i, changes in override.items():
        rows[int(i[1:])].update(changes)
    lines = []
    for r in rows:   # YAML, as a user writes it
        lines.append(f"- name: {r['name']}")
        lines += [f"  {k}: {json.dumps(v)}" for k, v in r.items() if k != "name"]
    path.write_text("\n".join(lines) + "\n")
    return path


def cli_json(db, capsys, *args) -> tuple[int, dict | None]:
    capsys.readouterr()
    code = cli(["--db", str(db.path), *args])
    captured = capsys.readouterr()
    try:
        return code, json.loads(captured.out)
    except ValueError:
        return code, captured.err


def test_variants_run_on_dev_only_rank_in_the_true_order_and_rerunning_is_free(tmp_path, server, judge, capsys):
    db, task, split = lab(tmp_path)
    train, dev, test = (set(split.ids(p)) for p in ("train", "dev", "test"))
    assert (len(train), len(dev), len(test)) == (30, 60, 60)
    path = _variants(server, tmp_path / "variants.yaml")
    code, out = cli_json(db, capsys, "align", "run", "--task", task.name, "--variants", str(path), "--json")
    assert code == 0, out
    by = {v["name"]: v for v in out["variants"]}
    assert [v["name"] for v in out["variants"]] == ["weak", "mid", "strong"]
    assert {n: len(v["example_ids"]) for n, v in by.items()} == {"weak": 0, "mid": 3, "strong": 9}
    assert all(set(v["example_ids"]) <= train for v in by.values())
    assert all(v["labeled"] == 60 and v["failed"] == 0 and v["requests"] == 60 for v in by.values())
    assert out["estimate_usd"] > 0
    # each variant is a saved labeler version; its examples are in its template, so in its version
    saved = current_versions(db, task.task_id).set_index("name")["version"]
    assert {n: saved[n] for n in by} == {n: v["version"] for n, v in by.items()}
    assert len(set(saved[list(by)])) == 3

    # never a test item in a prompt; a dev item only as the item being labeled, never as an example
    assert server.request_count == 180
    for r in server.requests:
        k, examples, rest = PromptSensitiveJudge.split_prompt(r["prompt"])
        assert {f"r{n}" for n in NUMBER.findall(examples)} <= train
        (own,) = NUMBER.findall(rest)
        assert f"r{own}" in dev
    labeled = frame(db, "SELECT DISTINCT item_id, batch FROM llm_labels")
    assert set(labeled["item_id"]) == dev and set(labeled["batch"]) == {"align-dev"}

    # the lab ranks them in the true order (true accuracy: weak 0.30, mid 0.67, strong 0.91)
    assert [judge.true_accuracy(k, p) for k, p in ((0, False), (3, True), (9, True))] == pytest.approx(
        [0.30, 0.67, 0.91])
    for a, b in (("strong", "mid"), ("mid", "weak"), ("strong", "weak")):
        code, cmp = cli_json(db, capsys, "align", "compare", "--task", task.name, "--labelers", f"{a},{b}",
                             "--json", "--resamples", "500")
        acc = cmp["metrics"]["accuracy"]
        assert code == 0 and cmp["n_items"] == 60
        assert acc["estimate"] > 0 and acc["ci_low"] > 0 and acc["mcnemar_p"] < 0.05, (a, b, acc)

    # side by side against the weak baseline: metrics with CIs, usage per item, paired differences, Pareto front
    code, table = cli_json(db, capsys, "align", "compare", "--task", task.name, "--labelers", "weak,mid,strong",
                           "--json", "--resamples", "500")
    assert code == 0 and table["baseline"] == "weak" and table["primary_metric"] == "accuracy"
    rows = {r["name"]: r for r in table["variants"]}
    acc = {n: r["metrics"]["accuracy"]["estimate"] for n, r in rows.items()}
    assert acc["weak"] < acc["mid"] < acc["strong"]
    assert all(r["metrics"]["accuracy"]["ci_low"] < acc[n] < r["metrics"]["accuracy"]["ci_high"]
               for n, r in rows.items())
    assert all(r["invalid_rate"] == 0 and r["tokens_per_item"] > 0 and r["latency_ms_per_item"] > 0
               for r in rows.values())
    cost = {n: r["cost_per_item_usd"] for n, r in rows.items()}
    assert 0 < cost["weak"] < cost["mid"] < cost["strong"]      # the examples make longer prompts
    assert all(r["pareto"] for r in rows.values())              # each costs more and agrees better
    assert "versus_baseline" not in rows["weak"]
    d = rows["strong"]["versus_baseline"]["metrics"]["accuracy"]
    assert d["estimate"] == pytest.approx(acc["strong"] - acc["weak"]) and d["ci_low"] > 0 and d["mcnemar_p"] < 0.05

    # re-running the same file sends nothing and adds no label
    n_labels = count(db, "SELECT count(*) FROM llm_labels")
    code, again = cli_json(db, capsys, "align", "run", "--task", task.name, "--variants", str(path), "--json",
                           "--budget-usd", "0")
    assert code == 0 and again["estimate_usd"] == 0
    assert server.request_count == 180 and count(db, "SELECT count(*) FROM llm_labels") == n_labels
    assert all(v["requests"] == 0 and v["cached_calls"] == 60 for v in again["variants"])


def test_a_budget_below_the_estimate_is_refused_before_any_call_or_save(tmp_path, server, capsys):
    db, task, _ = lab(tmp_path, n=60)
    path = _variants(server, tmp_path / "v.yaml")
    before = count(db, "SELECT count(*) FROM labeler_versions")
    code, err = cli_json(db, capsys, "align", "run", "--task", task.name, "--variants", str(path),
                         "--budget-usd", "0.000001")
    assert code == 2
    assert re.search(r"refused: the calls not yet cached are estimated at \$0\.\d{4}, over the budget of "
                     r"\$0\.0000 \(weak \$0\.\d{4} \(24 calls\)", err), err
    assert server.request_count == 0 and count(db, "SELECT count(*) FROM labeler_versions") == before


@pytest.mark.parametrize(("override", "message"), [
    ({"v1": {"temperature": 3}}, "variant 2 (mid): field 'temperature' must lie in [0, 2], got 3"),
    ({"v2": {"few_shot": "many"}}, "variant 3 (strong): field 'few_shot' must be a whole number, got 'many'"),
    ({"v2": {"few_shot": 40}}, "variant 3 (strong): field 'few_shot' is 40, but the train split"),
    ({"v0": {"provider": "import"}}, "variant 1 (weak): field 'provider' must be one of openai, anthropic"),
    ({"v1": {"name": "weak"}}, "variant 2 (weak): field 'name': 'weak' is also the name of variant 1"),
    ({"v1": {"prompt": "{nope}"}}, "variant 2 (mid): field 'prompt': unknown placeholder {nope}"),
    ({"v0": {"colour": "red"}}, "variant 1 (weak): unknown field 'colour'"),
])
def test_a_bad_variants_file_names_the_variant_and_field_and_saves_nothing(tmp_path, server, capsys, override,
                                                                          message):
    db, task, _ = lab(tmp_path, n=60)
    path = _variants(server, tmp_path / "v.yaml", **override)
    before = count(db, "SELECT count(*) FROM labeler_versions")
    code, err = cli_json(db, capsys, "align", "run", "--task", task.name, "--variants", str(path))
    assert code == 2 and message in err, err
    assert server.request_count == 0 and count(db, "SELECT count(*) FROM labeler_versions") == before


def test_the_pareto_front_keeps_only_points_no_other_beats_on_cost_and_agreement():
    from labelgate.align import pareto_front

    cost = [0.001, 0.002, 0.002, 0.004, None, 0.003]
    score = [0.60, 0.70, 0.65, 0.90, 0.99, 0.70]
    assert pareto_front(cost, score) == [True, True, False, True, False, False]
