"""`labelgate align propose`: a proposer model rewrites a labeler's instructions from its errors on the TRAIN split.

Against the local test server (real openai / anthropic SDKs): the base labeler runs on train through the runner
and its cache, the proposer is asked once, every prompt sent (and the one recorded) holds train items only,
the usable rewrites become labeler versions that `align run` then runs on dev like any other variant, the costs
are recorded, and a bad answer is refused with a clear message and stores nothing."""

from __future__ import annotations

import json

import pytest

from labelgate.llm.pricing import estimate_cost
from labelgate.store import Database
from labelgate.store.labelers import current_versions, get_labeler
from tests.labelgate import align_helpers
from tests.labelgate.align_helpers import NUMBER, PHRASE, gold_of, lab
from tests.labelgate.llm_helpers import PLANTED_KEY, count, frame, labeler
from tests.labelgate.schema_helpers import schema_before
from tests.labelgate.test_align_run import cli_json
from tests.llm_server import FakeLLMServer, PromptSensitiveJudge, RawText

BASE_PROMPT = "Review:\n{item}\n\nAnswer with one of: {labels}."
GOOD = [PHRASE + "\nReview:\n{item}\n\nAnswer with one of: {labels}.",
        PHRASE + " Weigh every sentence.\nReview:\n{item}\n\nLabel it as one of: {labels}."]
MODEL = "claude-sonnet-4-6"
ASKED = "rewritten versions of the instructions"     # a phrase of the proposer's prompt only


class Proposer:
    """Answers the proposer's request with `reply` (settable per test); every other request as the judge."""

    def __init__(self, judge):
        self.judge = judge
        self.reply = {"proposals": [{"instructions": GOOD[0], "rationale": "asks to read the whole review"},
                                    {"instructions": "Label the review.", "rationale": "shorter"},
                                    {"instructions": GOOD[1], "rationale": "also weighs each sentence"}]}

    def __call__(self, ctx):
        return self.reply if ASKED in ctx.prompt else self.judge(ctx)


judge = align_helpers.judge   # the shared fixture: the prompt-sensitive judge answers the labeling requests


@pytest.fixture
def proposer(judge):
    return Proposer(judge)


@pytest.fixture
def llm(monkeypatch, proposer):
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    s = FakeLLMServer(answer=proposer).start()
    yield s
    s.stop()


def _setup(tmp_path, llm):
    db, task, split = lab(tmp_path)
    labeler(db, task, llm, name="weak", prompt_template=BASE_PROMPT)
    return db, task, split


def _numbers(text: str) -> set[str]:
    return {f"r{n}" for n in NUMBER.findall(text)}


def test_rewrites_come_from_train_errors_only_become_variants_and_the_costs_are_recorded(tmp_path, llm, capsys):
    db, task, split = _setup(tmp_path, llm)
    train, dev, test = (set(split.ids(p)) for p in ("train", "dev", "test"))
    out_file = tmp_path / "rewrites.yaml"
    code, out = cli_json(db, capsys, "align", "propose", "--task", task.name, "--labeler", "weak",
                         "--proposer-model", "gpt-4o", "--n", "3", "--out", str(out_file), "--json")
    assert code == 0, out
    # the base labeler ran on train (30 calls, paid, cached), then the proposer was asked once
    assert out["train_run"]["requests"] == 30 and out["train_run"]["labeled"] == 30
    assert llm.request_count == 31
    asked = [r for r in llm.requests if ASKED in r["prompt"]]
    assert len(asked) == 1 and asked[0]["body"]["model"] == "gpt-4o"
    for r in llm.requests:            # no dev or test item reached any model
        assert _numbers(r["prompt"]) <= train

    # the recorded prompt is the one sent, and it holds train errors only: no dev or test item id or text
    rec = frame(db, "SELECT * FROM align_proposals").iloc[0]
    assert rec["proposal_id"] == out["proposal_id"] and rec["base_labeler"] == "weak"
    assert rec["base_version"] == get_labeler(db, task.task_id, "weak").version
    assert rec["prompt"].endswith(asked[0]["prompt"].split("\n", 1)[1])       # the user message as sent
    shown = json.loads(rec["error_item_ids"])
    assert set(shown) <= train and len(shown) == min(20, rec["n_errors"]) and rec["n_errors"] == out["n_errors"]
    for item_id in dev | test:
        assert item_id not in rec["prompt"] and f"review number {item_id[1:]}" not in rec["prompt"]
    assert _numbers(rec["prompt"]) == set(shown)        # exactly the errors shown
    labels = frame(db, "SELECT item_id, value FROM llm_labels WHERE labeler = 'weak [align-train]'")
    wrong = {i for i, v in zip(labels["item_id"], labels["value"], strict=True)
             if v != gold_of(f"review number {i[1:]}")}
    assert len(labels) == 30 and set(labels["item_id"]) == train
    # under a name of their own: the base labeler (its gate evaluation, its monitor batches) has no train labels
    assert count(db, "SELECT count(*) FROM llm_labels WHERE labeler = 'weak'") == 0
    assert len(wrong) == rec["n_errors"] and shown == sorted(wrong)[:20]        # the first 20 in item-id order
    for i in shown:                   # each error with the labeler's answer and the gold
        gold = gold_of(f"review number {i[1:]}")
        assert f"review number {i[1:]}\nThe labeler answered: " in rec["prompt"]
        assert f"The correct label: {gold}" in rec["prompt"]

    # costs: the proposer's call priced from the tokens the server reported; the train run's as its calls
    assert rec["cost_usd"] > 0
    assert rec["cost_usd"] == pytest.approx(estimate_cost("gpt-4o", rec["tokens_in"], rec["tokens_out"]))
    assert rec["tokens_in"] == len(asked[0]["prompt"]) // 4
    train_cost = count(db, "SELECT sum(cost_usd) FROM llm_calls WHERE run_id = ?", [int(rec["train_run_id"])])
    assert train_cost > 0 and rec["train_cost_usd"] == pytest.approx(train_cost, abs=1e-6)
    assert out["cost_usd"] == pytest.approx(rec["cost_usd"] + rec["train_cost_usd"], abs=1e-6)

    # two usable rewrites became variants (same model and settings, the new prompt); the one without {item} not
    assert [r["index"] for r in out["rejected"]] == [2] and "does not show the item" in out["rejected"][0]["reason"]
    base = get_labeler(db, task.task_id, "weak")
    names = [v["name"] for v in out["variants"]]
    assert [json.loads(rec["variants"])[k]["name"] for k in range(2)] == names
    for v, text in zip(out["variants"], GOOD, strict=True):
        cfg = get_labeler(db, task.task_id, v["name"])
        assert cfg.prompt_template == text and cfg.version == v["version"]
        assert (cfg.provider, cfg.model, cfg.base_url, cfg.temperature) == (base.provider, base.model,
                                                                            base.base_url, base.temperature)
        assert v["name"] == f"weak rewrite {v['version'][:6]}"
    assert count(db, "SELECT count(*) FROM llm_labels WHERE batch <> 'align-train'") == 0    # nothing ran on dev

    # the variants file runs them on dev like any other variant: the same versions, dev only
    entry = {"name": "weak", "provider": "openai", "model": "gpt-4o-mini", "base_url": llm.openai_url,
             "api_key_env": "OPENAI_API_KEY", "prompt": BASE_PROMPT}
    out_file.write_text(out_file.read_text() + "- " + "\n  ".join(f"{k}: {json.dumps(v)}" for k, v in entry.items())
                        + "\n")
    llm.reset_counts()
    code, ran = cli_json(db, capsys, "align", "run", "--task", task.name, "--variants", str(out_file), "--json")
    assert code == 0, ran
    assert {v["name"]: v["version"] for v in ran["variants"]} == {**{v["name"]: v["version"] for v in out["variants"]},
                                                                  "weak": base.version}
    assert all(v["labeled"] == 60 for v in ran["variants"]) and llm.request_count == 180
    for r in llm.requests:
        assert _numbers(PromptSensitiveJudge.split_prompt(r["prompt"])[2]) <= dev
    code, cmp = cli_json(db, capsys, "align", "compare", "--task", task.name, "--labelers", f"{names[0]},weak",
                         "--json")
    assert code == 0 and cmp["n_items"] == 60
    assert cmp["metrics"]["accuracy"]["estimate"] > 0      # the judge's true accuracy: 0.55 against 0.30


def test_asking_again_reuses_the_cached_train_run_and_records_a_second_proposal(tmp_path, llm, capsys):
    db, task, _ = _setup(tmp_path, llm)
    args = ("align", "propose", "--task", task.name, "--labeler", "weak", "--proposer-model", "gpt-4o-mini",
            "--n", "1")
    assert cli_json(db, capsys, *args, "--json")[0] == 0
    before = llm.request_count
    capsys.readouterr()
    from labelgate.cli import main as cli

    assert cli(["--db", str(db.path), *args]) == 0
    text = capsys.readouterr().out
    assert llm.request_count == before + 1            # the proposer only: train came from the cache
    assert "train run" in text and "30 cached, $0.0000" in text and "saved variant weak rewrite" in text
    assert "no dev or test item was shown to the proposer" in text
    props = frame(db, "SELECT proposal_id, n_requested, variants, train_cost_usd FROM align_proposals")
    assert list(props["proposal_id"]) == [1, 2] and list(props["n_requested"]) == [1, 1]
    assert props["train_cost_usd"].iloc[1] == 0
    assert len(json.loads(props["variants"].iloc[0])) == 1        # --n 1: the first usable rewrite only


def test_an_anthropic_proposer_is_asked_through_its_own_api(tmp_path, llm, capsys, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED_KEY)
    db, task, _ = _setup(tmp_path, llm)
    code, out = cli_json(db, capsys, "align", "propose", "--task", task.name, "--labeler", "weak",
                         "--proposer-model", MODEL, "--provider", "anthropic",
                         "--base-url", llm.anthropic_url, "--api-key-env", "ANTHROPIC_API_KEY", "--json")
    assert code == 0, out
    asked = [r for r in llm.requests if ASKED in r["prompt"]]
    assert [r["api"] for r in asked] == ["anthropic"] and asked[0]["body"]["output_config"]["format"]["schema"]
    assert out["proposer"]["provider"] == "anthropic" and len(out["variants"]) == 2
    rec = frame(db, "SELECT proposer_provider, proposer_model, cost_usd, tokens_in, tokens_out FROM align_proposals")
    assert rec.iloc[0]["proposer_model"] == MODEL
    row = rec.iloc[0]
    assert row["cost_usd"] > 0
    assert row["cost_usd"] == pytest.approx(estimate_cost(MODEL, int(row["tokens_in"]), int(row["tokens_out"]),
                                                          "anthropic"))


@pytest.mark.parametrize("reply, message", [
    (RawText(""), "the proposer's answer was empty"),
    (RawText("Be clearer about sarcasm, and read everything."), "is not JSON with a list of proposals"),
    ({"proposals": []}, "an empty list of proposals"),
    ({"advice": "be clearer"}, "is not JSON with a list of proposals"),
    ({"proposals": [{"instructions": "Label the review.", "rationale": ""},
                    {"instructions": "Review {review_text}: {item}", "rationale": ""},
                    {"instructions": BASE_PROMPT, "rationale": ""}]},
     "proposal 1: it does not show the item (no {item} placeholder); proposal 2: unknown placeholder "
     "{review_text}"),
])
def test_a_bad_proposer_answer_is_refused_clearly_and_stores_nothing(tmp_path, llm, proposer, capsys, reply,
                                                                    message):
    db, task, _ = _setup(tmp_path, llm)
    proposer.reply = reply
    versions = len(current_versions(db, task.task_id))
    code, err = cli_json(db, capsys, "align", "propose", "--task", task.name, "--labeler", "weak",
                         "--proposer-model", "gpt-4o", "--json")
    assert code == 2 and message in err and "nothing was stored" in err, err
    assert "the proposer's answer cost $" in err and "the train run cost $" in err
    assert count(db, "SELECT count(*) FROM align_proposals") == 0
    assert len(current_versions(db, task.task_id)) == versions
    if isinstance(reply, dict) and reply.get("proposals"):
        assert "proposal 3: the same as the current instructions" in err


def test_a_missing_proposer_key_is_named_before_any_call(tmp_path, llm, capsys, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    db, task, _ = _setup(tmp_path, llm)
    code, err = cli_json(db, capsys, "align", "propose", "--task", task.name, "--labeler", "weak",
                         "--proposer-model", MODEL, "--provider", "anthropic",
                         "--api-key-env", "ANTHROPIC_API_KEY")
    assert code == 2 and "ANTHROPIC_API_KEY" in err and PLANTED_KEY not in err
    assert llm.request_count == 0 and count(db, "SELECT count(*) FROM llm_runs") == 0


def test_a_base_labeler_without_train_errors_is_not_sent_to_the_proposer(tmp_path, llm, proposer, capsys):
    db, task, _ = _setup(tmp_path, llm)
    proposer.judge = lambda ctx: gold_of(PromptSensitiveJudge.split_prompt(ctx.prompt)[2])   # always right
    code, err = cli_json(db, capsys, "align", "propose", "--task", task.name, "--labeler", "weak",
                         "--proposer-model", "gpt-4o")
    assert code == 2 and "weak made no error on the 30 train items" in err and "the proposer was not asked" in err
    assert llm.request_count == 30 and count(db, "SELECT count(*) FROM align_proposals") == 0


def test_migration_0025_forward_from_the_previous_schema(tmp_path):
    path = tmp_path / "old.duckdb"
    con = schema_before(path, "0025")
    con.execute("INSERT INTO align_promotions (task_id, split_id, final_id, variant, labeler, labeler_version,"
                " primary_metric, dev_metrics, test_metrics, n_dev_items, n_test_items, test_looks, created_by)"
                " VALUES (1, 1, 1, 'v', 'judge', 'abc', 'accuracy', '{}', '{}', 10, 10, 1, 'lead')")
    con.close()
    db = Database(path)
    assert count(db, "SELECT count(*) FROM align_promotions") == 1
    assert count(db, "SELECT count(*) FROM align_proposals") == 0
    assert count(db, "SELECT count(*) FROM schema_migrations WHERE name = '0025_align_proposals'") == 1


def test_a_proposer_with_no_list_price_has_no_cost_not_zero(tmp_path, llm, capsys):
    # a model the price table does not know (a local or new one): its cost is unknown, said so, never "$0.0000"
    db, task, _ = _setup(tmp_path, llm)
    args = ("align", "propose", "--task", task.name, "--labeler", "weak", "--proposer-model", "house-model-7b",
            "--n", "1")
    code, out = cli_json(db, capsys, *args, "--json")
    assert code == 0, out
    assert out["proposer"]["cost_usd"] is None and out["cost_usd"] is None
    assert out["train_run"]["cost_usd"] is not None            # the labeler's own model is priced
    from labelgate.cli import main as cli

    assert cli(["--db", str(db.path), *args]) == 0
    text = capsys.readouterr().out
    assert "no price data for house-model-7b" in text and "$0.0000" not in text.split("proposer:")[1]
