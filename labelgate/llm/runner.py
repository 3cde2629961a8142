"""The run engine: a labeler over a selection of items, concurrently, cached, resumable.

Plan, then execute:

    plan = plan_run(db, "toxicity", "gpt4o-judge", "batch:week-32")
    summary = run_sync(db, plan, RunOptions(concurrency=16, rpm=500), progress=print)

Work: each item of the selection, in each batch it is labeled for, is a *unit*; each unit makes
n_samples x (1 or 2 shown orders) *calls*. Calls go through a queue to `concurrency` workers;
each waits for the shared RPM / TPM token buckets, sends one request through the provider
client (SDK retries off), and retries itself on 429 / 5xx / timeouts / connection errors /
malformed bodies with exponential backoff and full jitter, honouring Retry-After (and pausing
every worker on a 429 that carries one). A 400 is not retried; 401/403/404 stop the run (no
later request could succeed). Whatever happens to one call, it ends as a record with a status
(ok, invalid: answered without a valid label, error: no answer) and a reason, and the run goes on.

Cache: every answered call is kept in llm_calls under the key (labeler version, task spec hash,
item content hash, sample index, shown order, cache scope). A call whose key has an 'ok' answer
is never sent again, nor one with an 'invalid' answer unless the plan says `retry_invalid`
(what "retry failed" does). So a re-run, a resume after cancel or a crash, or a run of the
same items under another batch name makes no request for what is done. Identical keys within a
run are sent once.

Batches and anchors: a calibration run writes llm_labels with batch "calibration", an anchor run
"anchor", a batch run "NAME" for the batch's items plus, per issue 6, the task's anchor set
re-labeled under the sibling batch "anchor:NAME". Those anchor calls use cache scope
"anchor:NAME": anchors are asked again in every new batch (that is the point: they detect a
model that changed behind the same name) but never twice within one batch.

Writes: never holding the DuckDB file during a run, the engine buffers results and flushes them
(store.llm.flush_run: llm_calls, llm_run_items, llm_labels, counters) in one short transaction
every `flush_seconds` or `flush_every` results, from a worker thread so the event loop goes on.

Confidence stored with a label: with n_samples > 1 the agreement of the item's samples (share
of samples, same shown order, giving this label); otherwise the label tokens' probability when
the API returned logprobs, else the model's verbalized confidence. llm_calls keeps all of them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import pandas as pd

from labelgate.labelers import LabelerConfig
from labelgate.llm.parse import parse_answer, parse_answers
from labelgate.llm.pricing import estimate_cost
from labelgate.llm.prompts import (
    asks_reasoning,
    check_template,
    is_joint,
    label_schema,
    render,
    shown_orders,
    system_prompt,
)
from labelgate.llm.providers import CallFailure, Completion, Provider, Request, make_provider
from labelgate.llm.ratelimit import RateLimiter
from labelgate.llm.secrets import resolve_api_key, scrub
from labelgate.store import llm as store
from labelgate.store.db import Database
from labelgate.store.items import current_set, get_items
from labelgate.store.labelers import get_labeler
from labelgate.store.tasks import get_task
from labelgate.tasks import Task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """How a run talks to the API. None for rpm / tpm means no limit."""

    concurrency: int = 8
    rpm: float | None = None
    tpm: float | None = None
    burst_seconds: float = 5.0       # the buckets hold this many seconds' worth of rpm / tpm
    timeout: float = 60.0            # seconds per request
    max_retries: int = 5             # retries after the first attempt
    backoff_base: float = 0.5        # first backoff ceiling in seconds, doubled per retry
    backoff_max: float = 30.0
    max_retry_after: float = 120.0   # never wait longer than this on a Retry-After
    flush_every: int = 200
    flush_seconds: float = 2.0
    progress_interval: float = 0.2   # at most this often to the progress callback (final one always)

    def __post_init__(self):
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1; got {self.concurrency}")
        for name in ("rpm", "tpm"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ValueError(f"{name} must be positive; got {v}")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive; got {self.timeout}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0; got {self.max_retries}")


@dataclass(frozen=True)
class Unit:
    """One item labeled for one batch."""

    item_id: str
    content_hash: str
    fields: dict
    batch: str
    cache_scope: str = ""


@dataclass(frozen=True)
class RunPlan:
    task: Task
    config: LabelerConfig
    item_set: str
    batch: str
    units: tuple[Unit, ...]
    parent_run_id: int | None = None
    retry_invalid: bool = False

    @property
    def n_calls(self) -> int:
        per_unit = sum(len(shown_orders(g, self.config)) for g, _ in call_groups(self.task, self.config))
        return len(self.units) * self.config.n_samples * per_unit


@dataclass(frozen=True)
class Progress:
    """A snapshot for a progress bar. done/failed/total count units (items x batches)."""

    run_id: int
    done: int
    failed: int
    total: int
    cached_calls: int
    requests: int
    cost_usd: float
    tokens_in: int
    tokens_out: int
    elapsed: float
    eta: float | None
    status: str = "running"
    message: str | None = None

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def fraction(self) -> float:
        return self.finished / self.total if self.total else 1.0

    def as_text(self) -> str:
        eta = f", eta {self.eta:.0f}s" if self.eta is not None else ""
        return (f"run {self.run_id}: {self.finished}/{self.total} items ({self.failed} failed), "
                f"{self.requests} requests, {self.cached_calls} cached, ${self.cost_usd:.4f}{eta}")


ProgressCallback = Callable[[Progress], None]


# -- planning ----------------------------------------------------------------------------------
def _units(db: Database, task: Task, ids: list[str], batch: str, scope: str = "") -> list[Unit]:
    if not ids:
        return []
    items = get_items(db, task.task_id, ids)
    found = set(items["item_id"])
    missing = [i for i in ids if i not in found]
    if missing:
        raise LookupError(f"{len(missing)} item(s) of the selection are not in task {task.name}: "
                          f"{', '.join(missing[:5])}")
    by_id = {r.item_id: r for r in items.itertuples(index=False)}
    return [Unit(i, by_id[i].content_hash, by_id[i].fields, batch, scope) for i in dict.fromkeys(ids)]


def _resolve_task_config(db: Database, task: Task | str, labeler: LabelerConfig | str) -> tuple[Task, LabelerConfig]:
    task = get_task(db, task) if isinstance(task, str) else task
    config = get_labeler(db, task.task_id, labeler) if isinstance(labeler, str) else labeler
    if config.provider == "import":
        raise ValueError(f"labeler {config.name!r} is an import labeler: its labels come from files, not runs")
    return task, config


def plan_run(db: Database, task: Task | str, labeler: LabelerConfig | str, items: str, *,
             relabel_anchors: bool = True) -> RunPlan:
    """What a run over `items` ("calibration", "anchor" or "batch:NAME") will label.

    A batch run also re-labels the task's current anchor set under batch "anchor:NAME" (issue 6),
    unless relabel_anchors is False.
    """
    task, config = _resolve_task_config(db, task, labeler)
    items = (items or "").strip()
    if items in ("calibration", "anchor"):
        ids = current_set(db, task.task_id, items)
        if not ids:
            raise LookupError(f"task {task.name} has no {items} set yet; draw one first")
        units = _units(db, task, ids, items)
        batch = items
    elif items.startswith("batch:"):
        batch = store.check_batch_name(items[len("batch:"):])
        units = _units(db, task, store.batch_items(db, task.task_id, batch), batch)
        if relabel_anchors:
            anchors = current_set(db, task.task_id, "anchor")
            units += _units(db, task, anchors, f"anchor:{batch}", f"anchor:{batch}")
    else:
        raise ValueError(f"items must be calibration, anchor or batch:NAME; got {items!r}")
    _check_prompt(task, config, units)
    return RunPlan(task, config, items, batch, tuple(units))


def plan_items(db: Database, task: Task | str, labeler: LabelerConfig | str, item_ids: list[str], *,
               batch: str) -> RunPlan:
    """A run over explicit items, written to llm_labels under `batch` (any name, e.g. "adhoc")."""
    task, config = _resolve_task_config(db, task, labeler)
    scope = batch if batch.startswith("anchor:") else ""
    units = _units(db, task, list(item_ids), batch, scope)
    _check_prompt(task, config, units)
    return RunPlan(task, config, "items", batch, tuple(units))


def plan_resume(db: Database, run_id: int) -> RunPlan:
    """Re-plan a run (cancelled, interrupted or not) with the labeler version it ran with;
    executing it sends requests only for what the first run did not finish."""
    run = store.get_run(db, run_id)
    task = _task_by_id(db, run["task_id"])
    config = store.labeler_at_version(db, task.task_id, run["labeler"], run["version"])
    item_set = run["item_set"]
    if item_set.startswith("retry:"):
        return replace(plan_retry(db, int(item_set.split(":", 1)[1])), parent_run_id=run_id)
    if item_set in ("calibration", "anchor") or item_set.startswith("batch:"):
        plan = plan_run(db, task, config, item_set, relabel_anchors=run["options"].get("relabel_anchors", True))
    else:
        units = store.run_outcomes(db, run_id)[["item_id", "batch"]].drop_duplicates()
        plan = _plan_units(db, task, config, units, item_set, run["batch"])
    return replace(plan, parent_run_id=run_id)


def plan_retry(db: Database, run_id: int) -> RunPlan:
    """The failed items of a run, asked again (cached invalid answers too: retry_invalid)."""
    run = store.get_run(db, run_id)
    task = _task_by_id(db, run["task_id"])
    config = store.labeler_at_version(db, task.task_id, run["labeler"], run["version"])
    units = store.failed_units(db, run_id)
    if units.empty:
        raise LookupError(f"run {run_id} has no failed items")
    plan = _plan_units(db, task, config, units, f"retry:{run_id}", run["batch"])
    return replace(plan, parent_run_id=run_id, retry_invalid=True)


def _plan_units(db, task, config, units: pd.DataFrame, item_set: str, batch: str) -> RunPlan:
    out: list[Unit] = []
    for b, grp in units.groupby("batch", sort=False):
        out += _units(db, task, list(grp["item_id"]), b, b if str(b).startswith("anchor:") else "")
    _check_prompt(task, config, out)
    return RunPlan(task, config, item_set, batch, tuple(out))


def _task_by_id(db: Database, task_id: int) -> Task:
    from labelgate.store.tasks import list_tasks

    for t in list_tasks(db):
        if t.task_id == task_id:
            return t
    raise LookupError(f"no task with id {task_id}")


def _check_prompt(task: Task, config: LabelerConfig, units: list[Unit]) -> None:
    names: set[str] = set()
    for u in units[:50]:
        names |= set(u.fields)
    if config.prompt_template:
        check_template(config.prompt_template, task, names)


# -- execution ---------------------------------------------------------------------------------
@dataclass
class _Call:
    unit_index: int
    sample_index: int
    shown_order: str | None
    key: tuple
    group: int = 0                 # which of call_groups() it asks
    records: dict = field(default_factory=dict)    # criterion -> the llm_calls row that answers it
    outcomes: dict = field(default_factory=dict)   # criterion -> labeled | cached | failed


@dataclass
class _State:
    run_id: int
    total_units: int
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    failed: int = 0
    cached: int = 0
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    calls_buf: list = field(default_factory=list)
    items_buf: list = field(default_factory=list)
    labels_buf: list = field(default_factory=list)
    fatal: str | None = None
    flush_error: str | None = None
    flush_lock: threading.Lock = field(default_factory=threading.Lock)   # one writer at a time

    def counters(self) -> dict:
        return {"n_labeled": self.done, "n_failed": self.failed, "n_cached": self.cached,
                "n_requests": self.requests, "tokens_in": self.tokens_in, "tokens_out": self.tokens_out,
                "cost_usd": self.cost}

    def progress(self, status="running", message=None) -> Progress:
        elapsed = time.monotonic() - self.started
        finished = self.done + self.failed
        eta = None
        if status == "running" and finished and elapsed > 0:
            eta = (self.total_units - finished) * elapsed / finished
        return Progress(self.run_id, self.done, self.failed, self.total_units, self.cached, self.requests,
                        round(self.cost, 6), self.tokens_in, self.tokens_out, elapsed, eta, status, message)


def _options_json(plan: RunPlan, options: RunOptions, relabel_anchors: bool = True) -> dict:
    out = asdict(options)
    out.update(retry_invalid=plan.retry_invalid, relabel_anchors=relabel_anchors)
    return out


def create_run_record(db: Database, plan: RunPlan, options: RunOptions, *, started_by: str | None = None) -> int:
    """Insert the run row (status running) and return its id."""
    relabel = any(u.cache_scope for u in plan.units) or not plan.item_set.startswith("batch:")
    return store.create_run(
        db, task_id=plan.task.task_id, labeler=plan.config.name, version=plan.config.version,
        item_set=plan.item_set, batch=plan.batch, n_items=len(plan.units), n_calls=plan.n_calls,
        options=_options_json(plan, options, relabel), parent_run_id=plan.parent_run_id, started_by=started_by)


async def execute_run(db: Database, plan: RunPlan, options: RunOptions = RunOptions(), *,
                      run_id: int | None = None, progress: ProgressCallback | None = None,
                      cancel: threading.Event | None = None, started_by: str | None = None,
                      secrets=None, provider: Provider | None = None) -> Progress:
    """Run `plan` in the current event loop; returns the final Progress (status done, cancelled,
    failed or error). Raises MissingApiKeyError before creating a run when no key is set."""
    config = plan.config
    if provider is None:
        api_key = resolve_api_key(config, secrets=secrets)
    if run_id is None:
        run_id = create_run_record(db, plan, options, started_by=started_by)
    st = _State(run_id, len(plan.units))
    cancel = cancel or threading.Event()
    status, message = "done", None
    try:
        if provider is None:
            provider = make_provider(config, api_key=api_key, timeout=options.timeout)
        status, message = await _execute(db, plan, options, st, provider, progress, cancel)
    except asyncio.CancelledError:
        status, message = "cancelled", "the run was cancelled"
        raise
    except Exception as exc:  # noqa: BLE001 - recorded on the run, then re-raised
        status, message = "error", scrub(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if provider is not None:
            await close_provider(provider)
        await asyncio.shield(asyncio.to_thread(_final_flush, db, st, status, message))
        if progress is not None:
            _safe_callback(progress, st.progress(status, message))
    return st.progress(status, message)


def _final_flush(db: Database, st: _State, status: str, message: str | None) -> None:
    for attempt in range(3):
        try:
            _flush_now(db, st)
            with st.flush_lock:
                store.finish_run(db, st.run_id, status, counters=st.counters(), message=message)
            return
        except Exception as exc:  # noqa: BLE001 - the lock may be held for a while by the app
            if attempt == 2:
                raise
            log.warning("could not write the end of run %s yet: %s", st.run_id, scrub(str(exc)))
            time.sleep(1)


def _take(st: _State) -> tuple[list, list, list]:
    calls, items, labels = st.calls_buf, st.items_buf, st.labels_buf
    st.calls_buf, st.items_buf, st.labels_buf = [], [], []
    return calls, items, labels


def _flush_now(db: Database, st: _State) -> None:
    with st.flush_lock:
        calls, items, labels = _take(st)
        try:
            store.flush_run(db, st.run_id, calls=calls, run_items=items, labels=labels, counters=st.counters())
        except Exception:
            st.calls_buf[:0], st.items_buf[:0], st.labels_buf[:0] = calls, items, labels
            raise


def _safe_callback(cb: ProgressCallback, p: Progress) -> None:
    try:
        cb(p)
    except Exception as exc:  # noqa: BLE001 - a broken progress bar must not stop a run
        log.warning("progress callback failed: %s", scrub(str(exc)))


async def _execute(db: Database, plan: RunPlan, options: RunOptions, st: _State, provider: Provider,
                   progress: ProgressCallback | None, cancel: threading.Event) -> tuple[str, str | None]:
    task, config = plan.task, plan.config
    version = config.version          # a hash: computed once, not per item
    # What one call asks: the task's one criterion; every criterion of a task of several (one JSON
    # object back); or, with config.per_criterion, each criterion in a call of its own.
    groups = call_groups(task, config)
    bases = [{"run_id": st.run_id, "task_id": task.task_id, "labeler": config.name, "version": version,
              "task_spec": gtask.spec_hash()} for gtask, _ in groups]

    # Every call of the plan, keyed for the cache.
    calls: list[_Call] = []
    unit_calls: list[list[_Call]] = []
    for ui, unit in enumerate(plan.units):
        mine = []
        for g, (gtask, _) in enumerate(groups):
            for s in range(config.n_samples):
                for order in shown_orders(gtask, config):
                    c = _Call(ui, s, order, (g, unit.content_hash, unit.cache_scope, s, order), group=g)
                    mine.append(c)
                    calls.append(c)
        unit_calls.append(mine)

    # Answers already paid for: per group, per key, the stored answer of each criterion it asks.
    cache: dict[tuple, dict[str, dict]] = defaultdict(dict)
    if plan.units:
        keys = pd.DataFrame({"content_hash": [u.content_hash for u in plan.units],
                             "cache_scope": [u.cache_scope for u in plan.units]})
        for g, (_gtask, names) in enumerate(groups):
            for name in names:
                cached = await asyncio.to_thread(store.load_cache, db, task.task_id, version,
                                                 bases[g]["task_spec"], keys, criterion=name)
                for rec in cached.to_dict("records"):
                    order = rec["shown_order"] if isinstance(rec["shown_order"], str) else None
                    cache[(g, rec["content_hash"], rec["cache_scope"], int(rec["sample_index"]), order)][name] = \
                        _clean(rec)
    # a key is answered when a call of it was stored (a criterion it left out was not applicable);
    # `retry_invalid` asks again where one of its criteria got no valid answer
    answered = {k: parts for k, parts in cache.items()
                if not (plan.retry_invalid and any(r["status"] == "invalid" for r in parts.values()))}

    remaining = [len(c) for c in unit_calls]
    by_key: dict[tuple, list[_Call]] = defaultdict(list)
    queue: asyncio.Queue = asyncio.Queue()
    last_progress = [0.0]
    flush_needed = asyncio.Event()

    def report(force=False):
        if progress is None:
            return
        now = time.monotonic()
        if force or now - last_progress[0] >= options.progress_interval:
            last_progress[0] = now
            _safe_callback(progress, st.progress())

    def finish_unit(ui: int) -> None:
        unit = plan.units[ui]
        mine = unit_calls[ui]
        agree: dict[tuple, float] = {}
        if config.n_samples > 1:
            votes: dict[tuple, Counter] = defaultdict(Counter)
            for c in mine:
                for name, rec in c.records.items():
                    if rec["status"] == "ok":
                        votes[(name, c.shown_order)][rec["value"]] += 1
            for (name, order), vals in votes.items():
                n = sum(vals.values())
                for v, k in vals.items():
                    agree[(name, order, v)] = k / n
        all_ok = True
        for c in mine:
            for name, rec in c.records.items():
                outcome = c.outcomes[name]
                all_ok &= rec["status"] == "ok"
                st.items_buf.append({"run_id": st.run_id, "item_id": unit.item_id, "batch": unit.batch,
                                     "sample_index": c.sample_index, "shown_order": c.shown_order,
                                     "outcome": outcome, "call_id": rec["call_id"], "criterion": name,
                                     "error": rec["error"] if outcome == "failed" else None})
                if rec["status"] == "ok":
                    conf = agree.get((name, c.shown_order, rec["value"]), rec["confidence"]) if agree \
                        else rec["confidence"]
                    st.labels_buf.append({"task_id": task.task_id, "item_id": unit.item_id, "labeler": config.name,
                                          "version": version, "batch": unit.batch,
                                          "sample_index": c.sample_index, "shown_order": c.shown_order,
                                          "value": rec["value"], "value_num": rec["value_num"], "confidence": conf,
                                          "criterion": name, "rationale": rec.get("rationale")})
        if all_ok:
            st.done += 1
        else:
            st.failed += 1
        if len(st.items_buf) >= options.flush_every:
            flush_needed.set()
        report()

    def resolve(c: _Call, records: dict[str, dict], outcomes: dict[str, str]) -> None:
        c.records, c.outcomes = records, outcomes
        remaining[c.unit_index] -= 1
        if remaining[c.unit_index] == 0:
            finish_unit(c.unit_index)

    for c in calls:
        hit = answered.get(c.key)
        if hit is not None:
            st.cached += 1
            resolve(c, hit, {n: "cached" if r["status"] == "ok" else "failed" for n, r in hit.items()})
            continue
        by_key[c.key].append(c)
        if len(by_key[c.key]) == 1:
            queue.put_nowait(c.key)

    limiter = RateLimiter(rpm=options.rpm, tpm=options.tpm, burst_seconds=options.burst_seconds)
    reasoning = [asks_reasoning(gtask, config.prompt_template) for gtask, _ in groups]
    systems = [system_prompt(gtask, reasoning=r) for (gtask, _), r in zip(groups, reasoning, strict=True)]
    schemas = [label_schema(gtask, reasoning=r) for (gtask, _), r in zip(groups, reasoning, strict=True)]
    stop = asyncio.Event()

    async def one_call(key: tuple) -> dict[str, dict]:
        c0 = by_key[key][0]
        unit = plan.units[c0.unit_index]
        names = groups[c0.group][1]
        record = dict(bases[c0.group], call_id=uuid.uuid4().hex, cache_scope=unit.cache_scope, item_id=unit.item_id,
                      content_hash=unit.content_hash, sample_index=c0.sample_index, shown_order=c0.shown_order)
        try:
            return await send(record, unit, c0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one item's surprise must not stop the run
            log.exception("run %s: unexpected error on item %s", st.run_id, unit.item_id)
            record.update(status="error", error=scrub(f"{type(exc).__name__}: {exc}"[:500]), attempts=1,
                          cost_usd=0.0)
            return _per_criterion(record, names)

    async def send(record: dict, unit: Unit, c0: _Call) -> dict[str, dict]:
        gtask, names = groups[c0.group]
        system, schema = systems[c0.group], schemas[c0.group]
        user = render(config.prompt_template, gtask, unit.fields, shown_order=c0.shown_order)
        req = Request(system, user, schema, config.max_tokens, config.temperature)
        est = (len(system) + len(user)) // 4 + config.max_tokens
        attempts = 0
        t_start = time.monotonic()
        while True:
            attempts += 1
            await limiter.acquire(est)
            t0 = time.monotonic()
            try:
                completion = await complete_within_deadline(provider, req, options)
            except CallFailure as f:
                st.requests = provider.sent
                limiter.settle(est, 0)
                if f.kind == "retryable" and attempts <= options.max_retries and not stop.is_set():
                    delay = _backoff(attempts, f.retry_after, options)
                    if f.retry_after is not None and f.status == 429:
                        limiter.pause(delay)
                    await asyncio.sleep(delay)
                    continue
                if f.kind == "fatal":
                    st.fatal = f.message
                    stop.set()
                reason = f.message if f.kind != "retryable" else f"{f.message} (gave up after {attempts} attempts)"
                record.update(status="error", error=scrub(reason), attempts=attempts,
                              latency_ms=(time.monotonic() - t_start) * 1000, cost_usd=0.0)
                return _per_criterion(record, names)
            latency = (time.monotonic() - t0) * 1000
            st.requests = provider.sent
            limiter.settle(est, (completion.tokens_in or 0) + (completion.tokens_out or 0))
            return _answered(record, completion, gtask, names, config, c0.shown_order, attempts, latency, st)

    async def worker() -> None:
        while not stop.is_set():
            try:
                key = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            records = await one_call(key)
            # a criterion already answered validly under this key keeps that answer (a retry of the
            # others): the same key is never stored twice with status ok
            kept = {n: r for n, r in cache.get(key, {}).items() if r["status"] == "ok"}
            fresh = {n: r for n, r in records.items() if n not in kept}
            st.calls_buf.extend(fresh.values())
            records = {**fresh, **kept}
            followers = by_key[key]
            for i, c in enumerate(followers):
                outcomes = {n: ("failed" if r["status"] != "ok" else "labeled" if i == 0 and n in fresh
                                else "cached") for n, r in records.items()}
                if i > 0:
                    st.cached += 1
                resolve(c, records, outcomes)

    # The flusher ends when `finished` is set, not by being cancelled: Python 3.11's asyncio.wait_for
    # swallows a cancel that arrives just after the event it waits on fired, and a flusher looping on
    # past its cancel held the run open forever (a run stalled at its last items under xdist).
    finished = asyncio.Event()

    async def flusher() -> None:
        while not finished.is_set():
            wake = asyncio.ensure_future(flush_needed.wait())
            try:
                await asyncio.wait({wake}, timeout=options.flush_seconds)
            finally:
                wake.cancel()
            if finished.is_set():
                return
            flush_needed.clear()
            try:
                await asyncio.to_thread(_flush_now, db, st)
                st.flush_error = None
            except Exception as exc:  # noqa: BLE001 - kept in the buffer, tried again next time
                st.flush_error = scrub(str(exc))
                log.warning("run %s: could not write results yet (%s); will retry", st.run_id, st.flush_error)

    async def watch_cancel() -> None:
        while not cancel.is_set():
            await asyncio.sleep(0.05)

    report(force=True)
    n_workers = min(options.concurrency, max(1, queue.qsize()))
    workers = [asyncio.create_task(worker()) for _ in range(n_workers)]
    flush_task = asyncio.create_task(flusher())
    cancel_task = asyncio.create_task(watch_cancel())
    try:
        while not cancel_task.done():
            running = [w for w in workers if not w.done()]
            if not running:
                break
            await asyncio.wait([*running, cancel_task], return_when=asyncio.FIRST_COMPLETED)
    finally:
        cancelled = cancel.is_set()
        for t in workers:
            t.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        finished.set()
        flush_needed.set()      # wakes the flusher, which then ends (a flush under way first finishes)
        cancel_task.cancel()
        await asyncio.wait({flush_task, cancel_task}, timeout=db.lock_timeout + options.flush_seconds)
        flush_task.cancel()     # only if it outlived that: the final flush writes what it left
        await asyncio.gather(flush_task, cancel_task, return_exceptions=True)
    for w in workers:
        if not w.cancelled() and w.exception() is not None:
            raise w.exception()
    if cancelled:
        return "cancelled", "cancelled; run again (or resume) to finish: done calls are cached"
    if st.fatal:
        return "failed", f"stopped: {st.fatal}"
    return "done", None


async def complete_within_deadline(provider, req: Request, options: RunOptions) -> Completion:
    """One attempt at `req`, with a hard deadline of our own on top of the HTTP client's.

    Not asyncio.wait_for: it waits for the cancelled call to finish, and an HTTP stack that defers
    cancellation (a shielded cleanup) would then hold the worker, and the run, forever. Past the
    deadline the attempt is left to wind down on its own and a retryable CallFailure is raised.
    """
    attempt = asyncio.ensure_future(provider.complete(req))
    attempt.add_done_callback(_retrieve)
    try:
        finished, _ = await asyncio.wait({attempt}, timeout=options.timeout * 1.5 + 1)
    except asyncio.CancelledError:  # the caller was cancelled: this attempt's answer is not wanted
        attempt.cancel()
        raise
    if not finished:
        attempt.cancel()
        raise CallFailure("retryable", "timeout: no response within the client timeout")
    return attempt.result()


async def close_provider(provider) -> None:
    """Close a provider's client without letting an abandoned connection block the end (5 s at most);
    a failed close is retrieved, not an error of the caller."""
    closing = asyncio.ensure_future(provider.aclose())
    await asyncio.wait({closing}, timeout=5)
    if closing.done() and not closing.cancelled():
        closing.exception()


def _retrieve(attempt: asyncio.Future) -> None:
    """Read the outcome of an ended attempt, so that one nobody awaits any more (abandoned past its
    deadline, or cut by a cancel and then by the client's close) is not logged by asyncio as
    "Task exception was never retrieved"; the runner has recorded that call its own way."""
    if not attempt.cancelled():
        attempt.exception()


def _clean(rec: dict) -> dict:
    out = {}
    for k, v in rec.items():
        if isinstance(v, float) and v != v:   # NaN from the frame
            v = None
        out[k] = v
    return out


def _backoff(attempt: int, retry_after: float | None, options: RunOptions) -> float:
    """Seconds before retry number `attempt`: Retry-After if the server gave one, else full jitter."""
    if retry_after is not None:
        return min(retry_after, options.max_retry_after) * (1 + 0.1 * random.random())
    ceiling = min(options.backoff_max, options.backoff_base * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def call_groups(task: Task, config: LabelerConfig) -> list[tuple[Task, tuple[str, ...]]]:
    """What each call of an item asks: (the task or view rendered, the criteria it answers).

    A one-question task (or a view of one criterion): one call about it. A task of several
    criteria: one call answering all of them in one JSON object, or, when the labeler says
    `per_criterion`, a call per criterion through the task's view of it."""
    if not is_joint(task):
        return [(task, (task.criterion_name,))]
    if config.per_criterion:
        return [(task.criterion(n), (n,)) for n in task.criterion_names]
    return [(task, tuple(task.criterion_names))]


def _per_criterion(record: dict, names) -> dict[str, dict]:
    """A call's record as one llm_calls row per criterion it asks (each with its own call id; the
    request's tokens and cost on the first only, so that sums count the request once)."""
    out = {}
    for k, name in enumerate(names):
        rec = dict(record, criterion=name)
        if k:
            rec.update(call_id=f"{record['call_id']}-{k}", tokens_in=0, tokens_out=0, cost_usd=0.0)
        out[name] = rec
    return out


def _answered(record: dict, completion: Completion, task: Task, names, config: LabelerConfig, shown_order,
              attempts: int, latency_ms: float, st: _State) -> dict[str, dict]:
    cost = estimate_cost(config.model, completion.tokens_in, completion.tokens_out, config.provider)
    st.tokens_in += completion.tokens_in or 0
    st.tokens_out += completion.tokens_out or 0
    st.cost += cost
    record.update(tokens_in=completion.tokens_in, tokens_out=completion.tokens_out, latency_ms=latency_ms,
                  cost_usd=cost, attempts=attempts)
    if completion.refusal:
        record.update(status="invalid", raw_response=scrub(completion.refusal),
                      error=scrub(f"refusal: {completion.refusal}"[:500]))
        return _per_criterion(record, names)
    if is_joint(task):
        parsed_by = parse_answers(completion.text, task, shown_order=shown_order)
    else:
        parsed_by = {names[0]: parse_answer(completion.text, task, shown_order=shown_order,
                                            logprobs=completion.logprobs)}
    record.update(raw_response=scrub(completion.text))
    out = _per_criterion(record, names)
    for name in names:
        parsed = parsed_by.get(name)
        if parsed is None:   # a conditional or optional criterion the model left out: no answer, no row
            del out[name]
            continue
        rec = out[name]
        conf, source = parsed.confidence
        rec.update(raw_label=scrub(parsed.raw_label), conf_verbalized=parsed.conf_verbalized,
                   conf_logprob=parsed.conf_logprob, rationale=scrub(parsed.rationale))
        if parsed.ok:
            rec.update(status="ok", value=parsed.value, value_num=parsed.value_num, confidence=conf,
                       confidence_source=source)
        else:
            reason = parsed.error
            if completion.finish_reason in ("length", "max_tokens"):
                reason += " (the answer was cut at max_tokens)"
            rec.update(status="invalid", error=scrub(reason))
    if not out:   # nothing applicable was answered: keep the call (its cost) on the first criterion
        first = _per_criterion(record, names[:1])
        first[names[0]].update(status="invalid", error="no criterion answered")
        return first
    if names[0] not in out:   # the request's tokens and cost stay on a stored row
        k = next(iter(out))
        out[k].update(tokens_in=record["tokens_in"], tokens_out=record["tokens_out"], cost_usd=record["cost_usd"])
    return out


def run_sync(db: Database, plan: RunPlan, options: RunOptions = RunOptions(), **kwargs) -> Progress:
    """execute_run in a fresh event loop (the CLI; a background thread).

    When this thread already runs an event loop (a notebook, or a library such as
    Playwright's sync API), asyncio.run would refuse: the run then gets a thread of its own.
    """
    return run_blocking(execute_run(db, plan, options, **kwargs))


def run_blocking(coro):
    """`coro` to its end from synchronous code: in a new event loop, or, when this thread already
    runs one, in a thread of its own (asyncio.run would refuse)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run_in_new_loop(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="labelgate-run") as pool:
        return pool.submit(run_in_new_loop, coro).result()


def run_in_new_loop(coro):
    """Like asyncio.run, but without waiting forever for tasks that ignore cancellation.

    asyncio.run cancels leftover tasks and waits for each to finish; an abandoned HTTP attempt
    (see complete_within_deadline) may never do so. Leftovers get 5 s, then the loop is closed.
    """
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=5))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
