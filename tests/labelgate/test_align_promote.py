"""Promote: the final evaluation labels test only when asked (and counts the look), dev against test, and the
chosen variant saved as the task's labeler goes to the gate with its dev and test numbers in the evidence."""

from __future__ import annotations

import pytest

from labelgate import gate
from labelgate.align import final_evaluation
from labelgate.align.promote import PromotionRefused, dev_versus_test, promote
from labelgate.align.variants import parse_variants, run_variants
from labelgate.store.labelers import current_versions
from labelgate.store.users import User
from tests.labelgate import align_helpers
from tests.labelgate.align_helpers import FAST, NUMBER, PHRASE, lab
from tests.labelgate.llm_helpers import count, frame
from tests.llm_server import PromptSensitiveJudge

ENGINEER, EXPERT = User("engineer", "engineer"), User("expert", "expert")

judge, server = align_helpers.judge, align_helpers.server   # the shared fixtures


def _two(server):
    base = (f"provider: openai\n  model: gpt-4o-mini\n  base_url: {server.openai_url}\n"
            "  api_key_env: OPENAI_API_KEY\n")
    return parse_variants(f"- name: weak\n  {base}  prompt: \"Review:\\n{{item}}\\n\\nAnswer: {{labels}}.\"\n"
                          f"- name: strong\n  {base}  prompt: \"{PHRASE}\\nReview:\\n{{item}}\\n\\nAnswer: "
                          "{labels}.\"\n  few_shot: 9\n  seed: 2\n")


def test_final_labels_test_once_asked_and_the_promoted_labeler_carries_dev_and_test_to_the_gate(tmp_path, server,
                                                                                                judge):
    db, task, split = lab(tmp_path)
    train, dev, test = (set(split.ids(p)) for p in ("train", "dev", "test"))
    run_variants(db, task, _two(server), options=FAST, created_by="engineer")
    assert server.request_count == 120
    seen = {f"r{n}" for r in server.requests for n in NUMBER.findall(PromptSensitiveJudge.split_prompt(r["prompt"])[2])}
    assert seen == dev                                   # test is sealed: no variant has seen a test item

    with pytest.raises(PromotionRefused, match=r"strong \(version \w+\) has no final evaluation on the test split"):
        promote(db, task, "strong", user=ENGINEER, name="judge")
    with pytest.raises(PermissionError, match="only engineers and leads run a final evaluation"):
        final_evaluation(db, task, "strong", user=EXPERT, options=FAST)
    assert server.request_count == 120 and count(db, "SELECT count(*) FROM align_final_evaluations") == 0

    out = final_evaluation(db, task, "strong", user=ENGINEER, options=FAST)
    assert out["run"]["labeled"] == 60 and out["run"]["requests"] == 60 and out["test_looks"] == 1
    assert server.request_count == 180
    for r in server.requests[120:]:                      # the test items, each only as the item labeled
        k, examples, rest = PromptSensitiveJudge.split_prompt(r["prompt"])
        assert k == 9 and {f"r{n}" for n in NUMBER.findall(examples)} <= train
        assert {f"r{n}" for n in NUMBER.findall(rest)} <= test
    # the chosen one on test lies within its CI of the true accuracy (0.91)
    acc = out["metrics"]["accuracy"]
    assert acc["ci_low"] <= judge.true_accuracy(9, True) <= acc["ci_high"], acc
    again = final_evaluation(db, task, "strong", user=ENGINEER, options=FAST)
    assert again["run"] is None and again["test_looks"] == 2 and server.request_count == 180

    view = dev_versus_test(db, task, "strong")
    assert view["test_looks"] == 2 and view["n_dev_items"] == 60 and view["n_test_items"] == 60
    rows = {r["metric"]: r for r in view["rows"]}
    assert rows["accuracy"]["test"] == again["metrics"]["accuracy"]
    assert rows["accuracy"]["gap"] == pytest.approx(rows["accuracy"]["dev"]["estimate"] - acc["estimate"])
    assert dev_versus_test(db, task, "weak")["final"] is None     # weak was never looked at on test

    with pytest.raises(PermissionError, match="only engineers and leads promote"):
        promote(db, task, "strong", user=EXPERT, name="judge")
    p = promote(db, task, "strong", user=ENGINEER, name="judge", options=FAST)
    assert server.request_count == 180                   # the labels under the new name come from the cache
    versions = current_versions(db, task.task_id).set_index("name")["version"]
    assert versions["judge"] == versions["strong"] == p["version"]
    labeled = frame(db, "SELECT DISTINCT item_id FROM llm_labels WHERE labeler = 'judge'")
    assert set(labeled["item_id"]) == dev | test
    stored = frame(db, "SELECT variant, labeler, labeler_version, final_id, test_looks, created_by, primary_metric"
                       " FROM align_promotions")
    assert stored.to_dict("records") == [{"variant": "strong", "labeler": "judge", "labeler_version": p["version"],
                                          "final_id": again["final_id"], "test_looks": 2, "created_by": "engineer",
                                          "primary_metric": "cohen_kappa"}]

    ev = gate.evaluate(db, task, "judge")
    note = ev.notes["alignment_lab"]
    kappa_dev, kappa_test = p["dev"]["cohen_kappa"], p["test"]["cohen_kappa"]
    assert note.startswith("promoted from the alignment lab (variant strong) by engineer on ")
    assert f"Cohen's kappa on dev {kappa_dev['estimate']:.3f} [" in note and "(60 items)" in note
    assert f"on the sealed test split {kappa_test['estimate']:.3f} [" in note
    assert f"optimism gap (dev minus test) {kappa_dev['estimate'] - kappa_test['estimate']:+.3f}" in note
    assert "the test split had been looked at 2 times" in note
    stored = ev.metrics_json()
    assert stored["align_test_accuracy"]["estimate"] == pytest.approx(acc["estimate"])
    assert stored["align_dev_cohen_kappa"]["ci_low"] == pytest.approx(kappa_dev["ci_low"])
    assert ev.to_dict()["alignment_lab"] == note
    assert "alignment_lab" not in gate.evaluate(db, task, "weak").notes


def test_an_imported_labeler_is_evaluated_on_its_own_test_labels_without_a_run(demo_db):
    from labelgate.align import make_split
    from labelgate.store.tasks import get_task

    task = get_task(demo_db, "mt-bench")
    make_split(demo_db, task)
    out = final_evaluation(demo_db, task, "GPT-4", user=ENGINEER)
    assert out["run"] is None and out["n_items"] == 80
    p = promote(demo_db, task, "GPT-4", user=ENGINEER)
    assert p["labeler"] == "GPT-4" and p["n_test_items"] == 80
    assert "promoted from the alignment lab by engineer" in gate.evaluate(demo_db, task, "GPT-4").notes["alignment_lab"]
