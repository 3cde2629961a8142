"""One request to a model outside a labeling run (the alignment lab's proposer), with the runner's retry rule.

    answer = ask(config, system, user, schema=schema, options=RunOptions(timeout=60))
    answer.text, answer.cost_usd, answer.tokens_in, answer.attempts

It goes through the same provider clients as the runner (labelgate.llm.providers: the real SDKs, SDK
retries off), retries 429 / 5xx / timeouts / connection errors / malformed bodies with the runner's
backoff (Retry-After honoured), and prices the answer with labelgate.llm.pricing. Nothing is cached:
the caller records what it asked and what came back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

from labelgate.labelers import LabelerConfig
from labelgate.llm.pricing import estimate_cost
from labelgate.llm.providers import CallFailure, Request, make_provider
from labelgate.llm.runner import RunOptions, _backoff, close_provider, complete_within_deadline, run_blocking
from labelgate.llm.secrets import resolve_api_key, scrub


@dataclass(frozen=True)
class Answer:
    text: str | None
    refusal: str | None
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float
    attempts: int
    latency_ms: float
    finish_reason: str | None


class AskFailed(RuntimeError):
    """The request got no answer (after the retries a retryable failure is allowed); the message is scrubbed."""


async def _ask(config: LabelerConfig, req: Request, options: RunOptions, api_key: str | None) -> Answer:
    provider = make_provider(config, api_key=api_key, timeout=options.timeout)
    attempts, t_start = 0, time.monotonic()
    try:
        while True:
            attempts += 1
            try:
                completion = await complete_within_deadline(provider, req, options)
            except CallFailure as f:
                if f.kind == "retryable" and attempts <= options.max_retries:
                    await asyncio.sleep(_backoff(attempts, f.retry_after, options))
                    continue
                tail = f" (gave up after {attempts} attempts)" if f.kind == "retryable" else ""
                raise AskFailed(scrub(f.message + tail)) from None
            cost = estimate_cost(config.model, completion.tokens_in, completion.tokens_out, config.provider)
            return Answer(completion.text, completion.refusal, completion.tokens_in, completion.tokens_out, cost,
                          attempts, (time.monotonic() - t_start) * 1000, completion.finish_reason)
    finally:
        await close_provider(provider)


def ask(config: LabelerConfig, system: str, user: str, *, schema: dict | None = None, options: RunOptions | None = None,
        secrets: Mapping | None = None) -> Answer:
    """Send one request (system + user message) to `config`'s model; raises MissingApiKeyError before sending
    when its key is not set, AskFailed when no answer came."""
    options = options or RunOptions()
    api_key = resolve_api_key(config, secrets=secrets)
    req = Request(system, user, schema, config.max_tokens, config.temperature)
    return run_blocking(_ask(config, req, options, api_key))
