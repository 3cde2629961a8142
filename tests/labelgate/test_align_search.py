"""`labelgate align run --search`: variants in order within a budget, the dominated ones stopped after a first
chunk of dev (paired CI of the gate metric's difference against the best below 0), the best proposed."""

from __future__ import annotations

import pytest

from tests.labelgate.align_helpers import NUMBER, PHRASE, gold_of, lab
from tests.labelgate.llm_helpers import PLANTED_KEY, count
from tests.labelgate.test_align_run import _variants, cli_json
from tests.llm_server import FakeLLMServer, PromptSensitiveJudge


@pytest.fixture
def llm(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    s = FakeLLMServer(answer=PromptSensitiveJudge(gold_of, phrase=PHRASE, base=0.55, per_example=0.04,
                                                  missing_penalty=0.25)).start()
    yield s
    s.stop()


def _strong_first(llm, path):
    # the file lists weak, mid, strong; the search is run strong first so the others meet a good best
    text = _variants(llm, path).read_text().split("- name: ")[1:]
    path.write_text("".join("- name: " + t for t in (text[2], text[0], text[1])))
    return path


def test_the_search_stops_dominated_variants_after_the_first_chunk_and_proposes_the_best(tmp_path, llm, capsys):
    db, task, split = lab(tmp_path)
    dev = set(split.ids("dev"))
    path = _strong_first(llm, tmp_path / "v.yaml")
    code, out = cli_json(db, capsys, "align", "run", "--task", task.name, "--variants", str(path), "--search",
                         "--first-chunk", "20", "--json")
    assert code == 0, out
    assert out["gate_metric"] == "cohen_kappa" and out["first_chunk"] == 20 and out["proposed"] == "strong"
    by = {v["name"]: v for v in out["variants"]}
    assert by["strong"]["status"] == "complete" and by["strong"]["labeled"] == 60
    assert by["weak"]["status"] == "dominated" and by["weak"]["labeled"] == 20        # true kappa far below
    assert by["weak"]["versus_best"]["best"] == "strong" and by["weak"]["versus_best"]["ci_high"] < 0
    # 60 for strong, the first chunk of 20 for each other, unless mid (true accuracy 0.67) was not dominated
    expected = 60 + 20 + (20 if by["mid"]["status"] == "dominated" else 60)
    assert out["calls"] == llm.request_count == expected
    for r in llm.requests:                                    # dev only
        assert {f"r{n}" for n in NUMBER.findall(PromptSensitiveJudge.split_prompt(r["prompt"])[2])} <= dev
    # the first chunk is the same dev items for every variant
    with db.connect() as con:
        chunks = con.execute("SELECT labeler, list(DISTINCT item_id ORDER BY item_id) FROM llm_labels GROUP BY ALL"
                             ).fetchall()
    firsts = {n: ids[:20] for n, ids in chunks}
    assert firsts["weak"] == firsts["strong"] == sorted(dev)[:20]

    # the text form says the rule and the proposal; a re-run is answered from the cache
    capsys.readouterr()
    from labelgate.cli import main as cli

    code = cli(["--db", str(db.path), "align", "run", "--task", task.name, "--variants", str(path), "--search",
                "--first-chunk", "20"])
    text = capsys.readouterr().out
    assert code == 0 and llm.request_count == expected
    assert "rule: each variant labels a first chunk of dev; it is dominated" in text
    assert "  weak: dominated, vs strong on 20 items -" in text and text.rstrip().endswith("proposed: strong")


def test_a_budget_of_calls_stops_the_search_before_the_chunk_that_would_pass_it(tmp_path, llm, capsys):
    db, task, _ = lab(tmp_path)
    path = _strong_first(llm, tmp_path / "v.yaml")
    labels_before = count(db, "SELECT count(*) FROM llm_labels")
    code, out = cli_json(db, capsys, "align", "run", "--task", task.name, "--variants", str(path), "--search",
                         "--first-chunk", "20", "--budget-calls", "70", "--json")
    assert code == 0 and out["proposed"] == "strong"
    by = {v["name"]: v for v in out["variants"]}
    assert by["strong"]["status"] == "complete"
    assert by["weak"]["status"] == "not run: budget spent" and by["mid"]["status"] == "not run"
    assert out["stopped"].startswith("budget spent: weak's next 20 dev items need 20 uncached calls")
    assert out["calls"] == llm.request_count == 60 <= 70
    assert count(db, "SELECT count(*) FROM llm_labels") == labels_before + 60
