"""Provider clients: the only code that talks to model APIs, through the real SDKs.

`openai` (and any OpenAI-compatible server: vLLM, Ollama, LM Studio) goes through
`openai.AsyncOpenAI` (the chat.completions request, sent with `client.post`, see
OpenAIProvider._send); `anthropic` through
`anthropic.AsyncAnthropic(...).messages.create`. Both clients are built with `max_retries=0`:
the runner's own retry loop (backoff with jitter, Retry-After, shared rate limits) is the only
one, so a request is never retried twice over and every attempt is counted.

Structured outputs are asked for where the API has them (OpenAI `response_format` json_schema
strict; Anthropic `output_config.format` json_schema), token logprobs from OpenAI-style APIs.
A server that rejects one of these optional features with a 400 naming it (many compatible
servers do) makes the provider drop that feature for the rest of the run and ask again;
the tolerant parser then reads the plain text.

Anthropic's SDK 2.x sends API version 2026-10-21, which rejects sampling parameters, and the SDK
no longer accepts `temperature`: a labeler's temperature is therefore not sent to Anthropic.
"""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass

from labelgate.labelers import LabelerConfig
from labelgate.llm.secrets import scrub

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 529}
FATAL_STATUS = {401, 402, 403, 404}


@dataclass(frozen=True)
class Request:
    system: str
    user: str
    schema: dict | None
    max_tokens: int
    temperature: float


@dataclass(frozen=True)
class Completion:
    text: str | None
    refusal: str | None
    tokens_in: int | None
    tokens_out: int | None
    logprobs: list[tuple[str, float]] | None
    finish_reason: str | None


class CallFailure(Exception):
    """A request that did not produce a completion, classified for the retry loop.

    kind: retryable (429, 5xx, timeouts, connection errors, malformed bodies), bad_request (a
    400 about the request itself), fatal (401/403/404: no later request can succeed), error.
    The message is scrubbed of secrets.
    """

    def __init__(self, kind: str, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(scrub(message))
        self.kind = kind
        self.status = status
        self.retry_after = retry_after

    @property
    def message(self) -> str:
        return str(self.args[0])


def parse_retry_after(headers) -> float | None:
    """Seconds to wait from retry-after-ms / retry-after (seconds or an HTTP date)."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def classify(exc: BaseException) -> CallFailure:
    """Turn an SDK exception into a CallFailure (without ever including a key)."""
    if isinstance(exc, CallFailure):
        return exc
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    if "Timeout" in name:
        return CallFailure("retryable", "timeout: no response within the client timeout")
    if status is None and "Connection" in name:
        return CallFailure("retryable", f"connection error: {exc}")
    if isinstance(exc, (json.JSONDecodeError, ValueError)) and status is None or "ResponseValidation" in name:
        return CallFailure("retryable", f"malformed response body: {name}: {str(exc)[:200]}")
    if isinstance(status, int):
        response = getattr(exc, "response", None)
        retry_after = parse_retry_after(getattr(response, "headers", None))
        message = f"HTTP {status} {name}: {str(exc)[:400]}"
        if status in RETRYABLE_STATUS or status >= 500:
            return CallFailure("retryable", message, status=status, retry_after=retry_after)
        if status in FATAL_STATUS:
            return CallFailure("fatal", message, status=status)
        if status in (400, 413, 422):
            return CallFailure("bad_request", message, status=status)
        return CallFailure("error", message, status=status)
    return CallFailure("error", f"{name}: {str(exc)[:400]}")


# Optional request features a server may reject; dropped (for the rest of the run) when it does.
_FEATURE_WORDS = {
    "structured": ("response_format", "json_schema", "output_config", "structured", "schema"),
    "logprobs": ("logprobs", "logprob"),
    "temperature": ("temperature",),
}


class Provider:
    """One API client for one run. `complete` sends a request once; the runner retries."""

    name = "base"

    def __init__(self, config: LabelerConfig, *, api_key: str | None, timeout: float):
        self.config = config
        self.timeout = timeout
        self.features = {"structured": True, "logprobs": False, "temperature": True}
        self.dropped: list[str] = []
        self.sent = 0          # requests sent, feature-dropping re-sends included

    async def _send(self, req: Request) -> Completion:  # pragma: no cover - abstract
        raise NotImplementedError

    async def complete(self, req: Request) -> Completion:
        """Send `req`; on a 400 naming an optional feature, drop it and send once more per feature."""
        while True:
            self.sent += 1
            try:
                return await self._send(req)
            except Exception as exc:  # noqa: BLE001 - classified below
                failure = classify(exc)
                if failure.kind != "bad_request" or not self._drop_feature(failure.message):
                    raise failure from None

    def _drop_feature(self, message: str) -> bool:
        low = message.lower()
        on = [f for f, enabled in self.features.items() if enabled]
        named = [f for f in on if any(w in low for w in _FEATURE_WORDS[f])]
        if not named and "structured" in on:
            named = ["structured"] + (["logprobs"] if "logprobs" in on else [])
        for f in named:
            self.features[f] = False
            self.dropped.append(f)
        return bool(named)

    async def aclose(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            await client.close()


class OpenAIProvider(Provider):
    """OpenAI and OpenAI-compatible servers (chat.completions)."""

    name = "openai"

    def __init__(self, config: LabelerConfig, *, api_key: str | None, timeout: float):
        super().__init__(config, api_key=api_key, timeout=timeout)
        import openai
        from openai.types.chat import ChatCompletion

        self._completion_type = ChatCompletion
        self.features["logprobs"] = True
        self.client = openai.AsyncOpenAI(
            api_key=api_key or "no-key-needed",   # local servers take any key; never a real one here
            base_url=config.base_url or None,
            max_retries=0,
            timeout=timeout,
        )

    async def _send(self, req: Request) -> Completion:
        kwargs: dict = {
            "model": self.config.model,
            "messages": [{"role": "system", "content": req.system}, {"role": "user", "content": req.user}],
        }
        if self.config.provider == "openai":
            kwargs["max_completion_tokens"] = req.max_tokens
        else:  # compatible servers know the older name more widely
            kwargs["max_tokens"] = req.max_tokens
        if self.features["temperature"]:
            kwargs["temperature"] = req.temperature
        if self.features["structured"] and req.schema is not None:
            kwargs["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": "label", "schema": req.schema, "strict": True}}
        if self.features["logprobs"]:
            kwargs["logprobs"] = True
        # The same request chat.completions.create sends (path, bearer auth, typed ChatCompletion
        # back, SDK errors), without its parameter transform: that walks the messages and the
        # schema on every call and was ~20% of the client's CPU at 600 requests/s (see
        # benchmarks/llm_runner_bench.py). Our body is plain JSON, which the transform leaves as is.
        resp = await self.client.post("/chat/completions", body=kwargs, cast_to=self._completion_type,
                                      options={"security": {"bearer_auth": True}})
        if not resp.choices:
            raise CallFailure("retryable", "malformed response: no choices")
        choice = resp.choices[0]
        msg = choice.message
        refusal = getattr(msg, "refusal", None)
        if not refusal and choice.finish_reason == "content_filter":
            refusal = "content filter"
        tokens = None
        lp = getattr(choice, "logprobs", None)
        if lp is not None and getattr(lp, "content", None):
            tokens = [(t.token, float(t.logprob)) for t in lp.content]
        usage = resp.usage
        return Completion(
            text=msg.content, refusal=refusal,
            tokens_in=getattr(usage, "prompt_tokens", None), tokens_out=getattr(usage, "completion_tokens", None),
            logprobs=tokens, finish_reason=choice.finish_reason)


class AnthropicProvider(Provider):
    """Anthropic messages API."""

    name = "anthropic"

    def __init__(self, config: LabelerConfig, *, api_key: str | None, timeout: float):
        super().__init__(config, api_key=api_key, timeout=timeout)
        import anthropic

        self.features["temperature"] = False   # rejected by API version 2026-10-21 (see module doc)
        self.client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=config.base_url or None, max_retries=0, timeout=timeout)

    async def _send(self, req: Request) -> Completion:
        kwargs: dict = {
            "model": self.config.model,
            "max_tokens": req.max_tokens,
            "system": req.system,
            "messages": [{"role": "user", "content": req.user}],
        }
        if self.features["structured"] and req.schema is not None:
            kwargs["output_config"] = {"format": {"type": "json_schema", "schema": req.schema}}
        resp = await self.client.messages.create(**kwargs)
        text = "".join(getattr(b, "text", "") for b in resp.content if getattr(b, "type", None) == "text")
        refusal = None
        if resp.stop_reason == "refusal":
            refusal = text or "the model refused"
        usage = resp.usage
        return Completion(
            text=text or None, refusal=refusal,
            tokens_in=getattr(usage, "input_tokens", None), tokens_out=getattr(usage, "output_tokens", None),
            logprobs=None, finish_reason=resp.stop_reason)


def make_provider(config: LabelerConfig, *, api_key: str | None, timeout: float) -> Provider:
    """The client for a labeler's provider (must be created inside the event loop that uses it)."""
    if config.provider == "anthropic":
        return AnthropicProvider(config, api_key=api_key, timeout=timeout)
    if config.provider in ("openai", "openai-compatible"):
        return OpenAIProvider(config, api_key=api_key, timeout=timeout)
    raise ValueError(f"labeler {config.name!r} has provider {config.provider!r}: its labels are imported, not run")
