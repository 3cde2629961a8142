"""Shared set-up for the alignment lab tests: the prompt-sensitive judge, its server, the run options
and a lab (a gold task with its split). A test module uses the fixtures by importing them."""

from __future__ import annotations

import re

import pytest

from labelgate.align import make_split
from labelgate.llm import RunOptions
from tests.labelgate.llm_helpers import PLANTED_KEY, expected_label
from tests.labelgate.test_align_fewshot import _gold_task
from tests.llm_server import FakeLLMServer, PromptSensitiveJudge

PHRASE = "Read the whole review before you decide."
NUMBER = re.compile(r"review number (\d{3})")
# quick retries against the local test server
FAST = RunOptions(concurrency=8, timeout=5.0, max_retries=2, backoff_base=0.01, backoff_max=0.05, flush_seconds=0.2)


def gold_of(text: str) -> str | None:
    return expected_label(text) if NUMBER.search(text) else None


@pytest.fixture
def judge():
    return PromptSensitiveJudge(gold_of, phrase=PHRASE, base=0.55, per_example=0.04, missing_penalty=0.25)


@pytest.fixture
def server(monkeypatch, judge):
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    s = FakeLLMServer(answer=judge).start()
    yield s
    s.stop()


def lab(tmp_path, n=150):
    """A gold task of `n` reviews and its train/dev/test split: (db, task, split)."""
    db, task = _gold_task(tmp_path, n)
    return db, task, make_split(db, task)
