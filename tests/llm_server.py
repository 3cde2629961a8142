"""A fake model API on 127.0.0.1 for tests and benchmarks: OpenAI chat.completions and Anthropic messages.

It answers enough of both wire formats for the real `openai` and `anthropic` SDKs to parse
(ids, choices/content, usage, finish/stop reasons, token logprobs) and injects faults by
configuration, so a runner can be tested end to end without a network (and, opt-in, answers
whose accuracy depends on the prompt: `PromptSensitiveJudge`):

    with FakeLLMServer(latency=0.01, faults=fault_mix(0.3, seed=1)) as server:
        ... point a labeler's base_url at server.openai_url / server.anthropic_url ...
        assert server.request_count == ...

Faults (see `Fault`): "429" (with Retry-After), "500", "503", "hang" (sleep past the client's
timeout), "bad_body" (HTTP 200 whose body is not JSON), "bad_json" (the model's text is broken
JSON), "refusal", "off_label" (a label outside the task's options), "prose" (no JSON at all),
"echo_auth" (a 500 whose body repeats the Authorization header, to test secret scrubbing),
"reject_structured" (400 naming response_format / output_config).

`python tests/llm_server.py --latency 0.1` runs one in its own process (the benchmark does, so
that the server does not share the client's GIL) and prints its port; GET /_stats returns counts.

The pytest fixture `fake_llm` (import it into a test module or conftest) yields a started server.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

OPENAI_PATH = "/v1/chat/completions"
ANTHROPIC_PATH = "/v1/messages"


@dataclass(frozen=True)
class Fault:
    """What to do instead of a normal answer. `persistent` faults recur on every attempt."""

    kind: str
    retry_after: float = 0.05
    seconds: float = 5.0
    persistent: bool = False


@dataclass
class RequestContext:
    """What a fault rule or answer function sees of one request."""

    api: str                 # "openai" | "anthropic"
    prompt: str              # the concatenated text of the request's messages (system included)
    attempt: int             # 1 for the first request with this prompt, 2 for the next, ...
    body: dict
    headers: dict

    @property
    def options(self) -> list[str] | None:
        """The label enum of the requested JSON schema, if the request asked for one."""
        schema = _schema_of(self.api, self.body)
        try:
            return list(schema["properties"]["label"]["enum"])
        except (KeyError, TypeError):
            return None


def stable_unit(text: str, salt: str = "") -> float:
    """A deterministic number in [0, 1) from a text (no Python hash randomisation)."""
    h = hashlib.sha256((salt + "\x00" + text).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def fault_mix(rate: float, *, seed: int = 0,
              transient: tuple[str, ...] = ("429", "500", "hang", "bad_body"),
              persistent: tuple[str, ...] = ("refusal", "off_label", "bad_json", "500"),
              persistent_share: float = 0.4, hang_seconds: float = 2.0,
              retry_after: float = 0.05) -> Callable[[RequestContext], Fault | None]:
    """A rule faulting a `rate` share of prompts (chosen by hash, so reproducible).

    Of the faulted prompts, `persistent_share` fail on every attempt (the runner must record them
    as failed with a reason); the rest fail on their first attempt only (retries must recover).
    """
    def rule(ctx: RequestContext) -> Fault | None:
        u = stable_unit(ctx.prompt, f"fault{seed}")
        if u >= rate:
            return None
        v = stable_unit(ctx.prompt, f"kind{seed}")
        if v < persistent_share:
            kinds, keep = persistent, True
        else:
            kinds, keep = transient, False
            if ctx.attempt > 1:
                return None
        w = stable_unit(ctx.prompt, f"which{seed}")
        kind = kinds[int(w * len(kinds))]
        return Fault(kind, retry_after=retry_after, seconds=hang_seconds, persistent=keep)
    return rule


def _schema_of(api: str, body: dict) -> dict | None:
    if api == "openai":
        rf = body.get("response_format") or {}
        if rf.get("type") == "json_schema":
            return (rf.get("json_schema") or {}).get("schema")
        return None
    fmt = (body.get("output_config") or {}).get("format") or {}
    return fmt.get("schema") if fmt.get("type") == "json_schema" else None


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(block.get("text", ""))
    return "".join(parts)


def _prompt_of(api: str, body: dict) -> str:
    parts = []
    if api == "anthropic" and body.get("system"):
        parts.append(_text_of(body["system"]))
    for m in body.get("messages", []):
        parts.append(_text_of(m.get("content")))
    return "\n".join(parts)


_TOKEN_RE = re.compile(r"\w+|[^\w\s]|\s+")


def default_answer(ctx: RequestContext) -> str:
    """A label chosen by hash of the prompt among the schema's options (else among 1/2)."""
    options = ctx.options or ["1", "2"]
    return options[int(stable_unit(ctx.prompt, "answer") * len(options))]


_EXAMPLE_RE = re.compile(r"^Example \d+:$", re.MULTILINE)
_EXAMPLE_LABEL_RE = re.compile(r"^Label: .*$", re.MULTILINE)


class PromptSensitiveJudge:
    """An opt-in answer function whose accuracy depends on the prompt, for alignment-lab tests:

        FakeLLMServer(answer=PromptSensitiveJudge(gold_of, phrase="Read the whole review"))

    It answers the gold label (``gold_of(text of the item being labeled)``) with probability
    ``base + per_example * k - (missing_penalty if phrase not in the prompt else 0)``, clipped to
    [floor, ceiling], where k counts the few-shot examples in the prompt ("Example N:" blocks, as
    labelgate.llm.prompts.examples_block renders them); otherwise a wrong option. Which prompts
    are answered correctly is decided by hash of the prompt (reproducible; independent between
    variants, whose prompts differ). `true_accuracy(k, has_phrase)` is the probability itself.
    """

    def __init__(self, gold_of: Callable[[str], str | None], *, phrase: str, base: float = 0.55,
                 per_example: float = 0.04, missing_penalty: float = 0.25, floor: float = 0.0,
                 ceiling: float = 0.97, seed: int = 0):
        self.gold_of, self.phrase, self.base, self.per_example = gold_of, phrase, base, per_example
        self.missing_penalty, self.floor, self.ceiling, self.seed = missing_penalty, floor, ceiling, seed

    def true_accuracy(self, k: int, has_phrase: bool) -> float:
        p = self.base + self.per_example * k - (0.0 if has_phrase else self.missing_penalty)
        return min(self.ceiling, max(self.floor, p))

    @staticmethod
    def split_prompt(prompt: str) -> tuple[int, str, str]:
        """(number of few-shot examples, the examples part, the rest: what is being labeled)."""
        k = len(_EXAMPLE_RE.findall(prompt))
        if not k:
            return 0, "", prompt
        last = list(_EXAMPLE_LABEL_RE.finditer(prompt))[-1]
        return k, prompt[:last.end()], prompt[last.end():]

    def __call__(self, ctx: RequestContext) -> str:
        options = ctx.options or ["1", "2"]
        k, _, rest = self.split_prompt(ctx.prompt)
        gold = self.gold_of(rest)
        if gold is None or gold not in options:
            return default_answer(ctx)
        p = self.true_accuracy(k, self.phrase in ctx.prompt)
        if stable_unit(ctx.prompt, f"judge{self.seed}") < p:
            return gold
        wrong = [o for o in options if o != gold] or options
        return wrong[int(stable_unit(ctx.prompt, f"wrong{self.seed}") * len(wrong))]


class RawText(str):
    """An answer function's return value sent as the model's text exactly (no JSON wrapping): prose, "" ..."""


class FakeLLMServer:
    """An HTTP/1.1 keep-alive server on 127.0.0.1 in a background thread (its own event loop).

    latency: seconds before each answer. answer: ctx -> label text, or a dict sent as the whole JSON
    answer (one member per criterion), or a RawText sent as the model's text as it is. faults: ctx -> Fault | None.
    confidence: the verbalized confidence in JSON answers. label_prob: probability given to the
    label's tokens in logprobs. reject_structured: answer 400 to requests asking for a schema.
    """

    def __init__(self, *, latency: float = 0.0, answer: Callable[[RequestContext], str] | None = None,
                 faults: Callable[[RequestContext], Fault | None] | None = None, confidence: float = 0.8,
                 label_prob: float = 0.9, reject_structured: bool = False, style: str = "auto",
                 port: int = 0):
        self.latency = latency
        self.answer = answer or default_answer
        self.faults = faults
        self.confidence = confidence
        self.label_prob = label_prob
        self.reject_structured = reject_structured
        self.style = style        # auto (JSON when a schema was asked, else prose) | prose | fenced
        self._port = port
        self.requests: list[dict] = []
        self.attempts: Counter = Counter()
        self.faults_served: Counter = Counter()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server = None
        self._handlers: set[asyncio.Task] = set()
        self.in_flight = 0
        self.max_in_flight = 0

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.attempts.clear()
            self.faults_served.clear()
            self.max_in_flight = 0

    def start(self) -> FakeLLMServer:
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", self._port, backlog=1024))
            self._port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-llm-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown():
            self._server.close()
            for t in list(self._handlers):
                t.cancel()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- HTTP ----------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._handlers.add(task)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    method, path, _ = line.decode("latin-1").split(" ", 2)
                except ValueError:
                    break
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                n = int(headers.get("content-length") or 0)
                body = await reader.readexactly(n) if n else b""
                status, extra, payload = await self._respond(method, path.split("?")[0], headers, body)
                head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}",
                        "content-type: application/json", f"content-length: {len(payload)}",
                        "x-request-id: req_fake"] + [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
                await writer.drain()
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            self._handlers.discard(task)
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - the peer may be gone already
                pass

    async def _respond(self, method: str, path: str, headers: dict, raw: bytes) -> tuple[int, dict, bytes]:
        if method == "GET" and path == "/_stats":
            with self._lock:
                stats = {"requests": len(self.requests), "faults": dict(self.faults_served)}
            return 200, {}, json.dumps(stats).encode()
        if method == "POST" and path == "/_reset":
            self.reset_counts()
            return 200, {}, b"{}"
        if method != "POST" or path not in (OPENAI_PATH, ANTHROPIC_PATH):
            return 404, {}, json.dumps({"error": {"message": f"no route {method} {path}"}}).encode()
        api = "openai" if path == OPENAI_PATH else "anthropic"
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return 400, {}, json.dumps({"error": {"message": "request body is not JSON"}}).encode()
        prompt = _prompt_of(api, body)
        with self._lock:
            self.attempts[prompt] += 1
            attempt = self.attempts[prompt]
            self.requests.append({"api": api, "prompt": prompt, "attempt": attempt, "body": body,
                                  "authorization": headers.get("authorization") or headers.get("x-api-key")})
        ctx = RequestContext(api, prompt, attempt, body, headers)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(api, ctx, body, headers, prompt)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _answer(self, api: str, ctx: RequestContext, body: dict, headers: dict,
                      prompt: str) -> tuple[int, dict, bytes]:
        attempt = ctx.attempt
        fault = self.faults(ctx) if self.faults else None
        if fault is not None and not fault.persistent and attempt > 1 and fault.kind != "reject_structured":
            fault = None
        if fault is not None:
            with self._lock:
                self.faults_served[fault.kind] += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        schema = _schema_of(api, body)
        if self.reject_structured and schema is not None:
            field_name = "response_format" if api == "openai" else "output_config.format"
            return 400, {}, _error(api, 400, f"{field_name}: json_schema is not supported by this server")
        label = self.answer(ctx)
        confidence = self.confidence
        text = None
        if isinstance(label, dict):   # a whole answer object (a call about several criteria)
            text, label = json.dumps(label), ""
        elif isinstance(label, RawText):
            text, label = str(label), ""
        refusal = False
        if fault is not None:
            k = fault.kind
            if k == "429":
                return 429, {"retry-after": f"{fault.retry_after:g}"}, _error(api, 429, "rate limited")
            if k.isdigit():     # any other status: 500, 503, 401, 404 ...
                return int(k), {}, _error(api, int(k), "the server had an error")
            if k == "echo_auth":
                leaked = headers.get("authorization") or headers.get("x-api-key") or ""
                return 500, {}, _error(api, 500, f"internal error while checking credentials {leaked}")
            if k == "hang":
                await asyncio.sleep(fault.seconds)
            elif k == "bad_body":
                return 200, {}, b'{"id": "chatcmpl-broken", "choices": [ {"index": 0, "mess'
            elif k == "bad_json":
                text = '{"label": "' + label + '", "confidence": '
            elif k == "refusal":
                refusal = True
            elif k == "off_label":
                label = "definitely-not-an-option"
            elif k == "prose":
                schema = None
            elif k == "reject_structured" and schema is not None:
                field_name = "response_format" if api == "openai" else "output_config.format"
                return 400, {}, _error(api, 400, f"{field_name}: json_schema is not supported")
        if text is None:
            if schema is not None and self.style == "auto":
                text = json.dumps({"label": label, "confidence": confidence})
            elif self.style == "fenced":
                text = f'Here is my verdict.\n```json\n{{"label": "{label}", "confidence": {confidence}}}\n```'
            else:
                text = f"After reading the item carefully, my answer is {label}."
        if api == "openai":
            return 200, {}, self._openai_body(body, text, label, refusal, prompt)
        return 200, {}, self._anthropic_body(body, text, refusal, prompt)

    def _logprobs(self, text: str, label: str, top: int = 0) -> list[dict]:
        """Per-token logprobs as OpenAI returns them; top_logprobs only when asked for (like the API)."""
        tokens = _TOKEN_RE.findall(text)
        label_lp = math.log(self.label_prob)
        out, pos, found = [], 0, text.find(label) if label else -1
        for tok in tokens:
            inside = found >= 0 and found <= pos < found + len(label)
            lp = label_lp if inside and pos == found else (0.0 if inside else -0.001)
            out.append({"token": tok, "logprob": lp, "bytes": list(tok.encode()),
                        "top_logprobs": [{"token": tok, "logprob": lp, "bytes": list(tok.encode())}][:top]})
            pos += len(tok)
        return out

    def _openai_body(self, body: dict, text: str, label: str, refusal: bool, prompt: str) -> bytes:
        message = {"role": "assistant", "content": None if refusal else text,
                   "refusal": "I can't help with labeling this content." if refusal else None}
        choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
        if body.get("logprobs") and not refusal:
            choice["logprobs"] = {"content": self._logprobs(text, label, int(body.get("top_logprobs") or 0)),
                                  "refusal": None}
        out_tokens = max(1, len(text) // 4)
        in_tokens = max(1, len(prompt) // 4)
        return json.dumps({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake"), "choices": [choice],
            "usage": {"prompt_tokens": in_tokens, "completion_tokens": out_tokens,
                      "total_tokens": in_tokens + out_tokens},
        }).encode()

    def _anthropic_body(self, body: dict, text: str, refusal: bool, prompt: str) -> bytes:
        content = [] if refusal else [{"type": "text", "text": text}]
        return json.dumps({
            "id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model", "fake"),
            "content": content, "stop_reason": "refusal" if refusal else "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": max(1, len(prompt) // 4), "output_tokens": max(1, len(text) // 4)},
        }).encode()


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error", 503: "Service Unavailable"}


def _error(api: str, status: int, message: str) -> bytes:
    if api == "anthropic":
        kind = {400: "invalid_request_error", 429: "rate_limit_error"}.get(status, "api_error")
        return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
    return json.dumps({"error": {"message": message, "type": "server_error", "code": None}}).encode()


try:  # the fixture, for test modules that import it
    import pytest

    @pytest.fixture
    def fake_llm():
        """A started FakeLLMServer (no latency, no faults); configure its attributes per test."""
        server = FakeLLMServer().start()
        try:
            yield server
        finally:
            server.stop()
except ImportError:  # pragma: no cover - the benchmark runs it without pytest
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description="fake OpenAI/Anthropic API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    server = FakeLLMServer(latency=args.latency, port=args.port).start()
    print(server.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
