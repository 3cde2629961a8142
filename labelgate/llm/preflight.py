"""Before a run: what it will cost, and whether the labeler's API answers at all.

`estimate_run_cost` renders every prompt of a plan and prices it at the model's list price
(labelgate.llm.pricing), with about four characters to a token, as the runner's rate limiter
counts them. Input tokens are estimated; output is priced twice: at the answer the schema asks
for (a label and a confidence, ~`ANSWER_TOKENS`) as the likely cost, and at max_tokens as the
ceiling. Answers already in the cache cost nothing; the estimate leaves them in (an upper bound).

`test_connection` sends one real request -- the first item's prompt -- through the same
provider client and parser a run uses, and reports what came back.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from labelgate.labelers import LabelerConfig
from labelgate.llm.parse import ParsedAnswer, parse_answer, parse_answers
from labelgate.llm.pricing import estimate_cost, price_for
from labelgate.llm.prompts import asks_reasoning, is_joint, label_schema, render, shown_orders, system_prompt
from labelgate.llm.providers import CallFailure, Request, make_provider
from labelgate.llm.runner import RunPlan, call_groups, run_in_new_loop
from labelgate.llm.secrets import MissingApiKeyError, resolve_api_key, scrub
from labelgate.tasks import Task

ANSWER_TOKENS = 25   # {"label": "...", "confidence": 0.9}


@dataclass(frozen=True)
class CostEstimate:
    n_calls: int
    tokens_in: int          # estimated, over all calls
    likely_usd: float       # with answers of ANSWER_TOKENS
    ceiling_usd: float      # every answer at max_tokens
    priced: bool            # False: the model is not in the price table (or local): 0 is not a price

    def describe(self) -> str:
        if not self.priced:
            return (f"{self.n_calls:,} calls, about {self.tokens_in:,} input tokens; no list price is known for "
                    "this model (or it runs locally), so no cost is estimated.")
        return (f"{self.n_calls:,} calls, about {self.tokens_in:,} input tokens: estimated "
                f"${self.likely_usd:,.2f} (at most ${self.ceiling_usd:,.2f} if every answer ran to max tokens). "
                "Answers already cached cost nothing.")


def estimate_run_cost(plan: RunPlan) -> CostEstimate:
    config = plan.config
    chars = 0
    for task, _ in call_groups(plan.task, config):
        system = system_prompt(task, reasoning=asks_reasoning(task, config.prompt_template))
        for unit in plan.units:
            for order in shown_orders(task, config):
                chars += (len(system) + len(render(config.prompt_template, task, unit.fields, shown_order=order))) \
                    * config.n_samples
    tokens_in = chars // 4
    n = plan.n_calls
    priced = price_for(config.model, config.provider) != (0.0, 0.0)
    return CostEstimate(n, tokens_in, estimate_cost(config.model, tokens_in, n * ANSWER_TOKENS, config.provider),
                        estimate_cost(config.model, tokens_in, n * config.max_tokens, config.provider), priced)


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str
    latency_s: float | None = None


def test_connection(config: LabelerConfig, task: Task, fields: dict, *, timeout: float = 20.0,
                    secrets=None) -> ConnectionCheck:
    """One request with the prompt of one item (`fields`); never raises for a failed call. A labeler
    asking each criterion of a task of several in its own call is tested on the first criterion."""
    task = call_groups(task, config)[0][0]
    try:
        api_key = resolve_api_key(config, secrets=secrets)
        user = render(config.prompt_template, task, fields, shown_order=shown_orders(task, config)[0])
    except (ValueError, MissingApiKeyError) as exc:  # a missing key, a bad template: named by the error
        return ConnectionCheck(False, f"Not sent: {exc}")

    async def once():
        provider = make_provider(config, api_key=api_key, timeout=timeout)
        try:  # a deadline of our own, as the runner's: a stalled connection never holds the page
            call = asyncio.ensure_future(provider.complete(
                Request(system_prompt(task, reasoning=asks_reasoning(task, config.prompt_template)), user,
                        label_schema(task, reasoning=asks_reasoning(task, config.prompt_template)), config.max_tokens,
                        config.temperature)))
            done, _ = await asyncio.wait({call}, timeout=timeout + 5)
            if not done:
                call.cancel()
                raise TimeoutError(f"no answer within {timeout + 5:.0f} s")
            return call.result()
        finally:
            await provider.aclose()

    t0 = time.monotonic()
    try:
        completion = run_in_new_loop(once())
    except CallFailure as exc:
        return ConnectionCheck(False, f"The call failed ({exc.kind}{f', HTTP {exc.status}' if exc.status else ''}): "
                                      f"{exc.message}")
    except (TimeoutError, OSError) as exc:
        return ConnectionCheck(False, scrub(f"The call failed: {type(exc).__name__} {exc}"))
    latency = time.monotonic() - t0
    cost = estimate_cost(config.model, completion.tokens_in, completion.tokens_out, config.provider)
    if is_joint(task):
        answers = parse_answers(completion.text, task, shown_order=shown_orders(task, config)[0])
        errors = [a.error for a in answers.values() if a is not None and not a.ok]
        given = ", ".join(f"{n} {a.value}" for n, a in answers.items() if a is not None and a.ok)
        parsed = ParsedAnswer(None if errors else given or None, None, None, None, None,
                              "; ".join(errors) or (None if given else "no criterion answered"))
    else:
        parsed = parse_answer(completion.text, task, shown_order=shown_orders(task, config)[0],
                              logprobs=completion.logprobs)
    tokens = f"{completion.tokens_in or 0:,} tokens in, {completion.tokens_out or 0:,} out, ${cost:.4f}"
    if completion.refusal:
        return ConnectionCheck(False, scrub(f"Connected in {latency:.1f} s, but the model refused: "
                                            f"{completion.refusal} ({tokens})"), latency)
    if not parsed.ok:
        return ConnectionCheck(False, scrub(f"Connected in {latency:.1f} s, but the answer is not a label: "
                                            f"{parsed.error} ({tokens})"), latency)
    return ConnectionCheck(True, scrub(f"Connected: {config.model} answered “{parsed.value}” in {latency:.1f} s "
                                       f"({tokens})."), latency)
