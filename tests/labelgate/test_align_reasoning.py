"""A `reasoning: true` variant asks for its reasoning before the label (schema and system prompt) and the
rationale the model gives is stored with its label; a variant without it asks for none and stores none."""

from __future__ import annotations

import pytest

from labelgate.align import make_split
from labelgate.align.variants import Variant, run_variants
from tests.labelgate.align_helpers import FAST
from tests.labelgate.llm_helpers import PLANTED_KEY, expected_label, frame
from tests.labelgate.test_align_fewshot import _gold_task
from tests.llm_server import FakeLLMServer, _schema_of


def answer(ctx):
    schema = _schema_of(ctx.api, ctx.body) or {}
    label = expected_label(ctx.prompt.rsplit("Example", 1)[-1])
    if "rationale" in schema.get("properties", {}):
        return {"rationale": f"The review reads as {label} throughout.", "label": label, "confidence": 0.8}
    return label


@pytest.fixture
def llm(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    s = FakeLLMServer(answer=answer).start()
    yield s
    s.stop()


def test_a_reasoning_variant_stores_the_rationale_the_model_gives_before_its_label(tmp_path, llm):
    db, task = _gold_task(tmp_path, 30)
    split = make_split(db, task)
    common = dict(provider="openai", model="gpt-4o-mini", base_url=llm.openai_url, api_key_env="OPENAI_API_KEY")
    out = run_variants(db, task, [Variant(1, "plain", **common), Variant(2, "reasoned", reasoning=True, **common)],
                       options=FAST)
    assert [v["labeled"] for v in out["variants"]] == [12, 12]
    by_variant = {}
    for r in llm.requests:
        schema = _schema_of("openai", r["body"])
        system = r["body"]["messages"][0]["content"]
        by_variant.setdefault("reasoned" if "reason step by step" in r["prompt"] else "plain", []).append(
            (list(schema["properties"]), system))
    assert all(props == ["rationale", "label", "confidence"] and '"rationale": <your reasoning' in system
               for props, system in by_variant["reasoned"])
    assert all(props == ["label", "confidence"] and "rationale" not in system for props, system in by_variant["plain"])
    labels = frame(db, "SELECT labeler, item_id, value, rationale FROM llm_labels ORDER BY labeler, item_id")
    reasoned = labels[labels["labeler"] == "reasoned"]
    assert set(reasoned["item_id"]) == set(split.ids("dev"))
    assert (reasoned["rationale"] == "The review reads as " + reasoned["value"] + " throughout.").all()
    assert labels[labels["labeler"] == "plain"]["rationale"].isna().all()
    calls = frame(db, "SELECT rationale FROM llm_calls WHERE version = ?", [out["variants"][1]["version"]])
    assert calls["rationale"].str.startswith("The review reads as").all()
