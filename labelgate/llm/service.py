"""What the Labelers page (and the CLI) call: plan, start in the background, watch, cancel, retry.

    plan = plan_run(db, task_name, labeler_name, "calibration")       # raises with a readable reason
    handle = start_run(db, plan, RunOptions(concurrency=8), started_by=user)
    st.session_state["labelers_run_id"] = handle.run_id                 # keep the id, not the handle
    ...
    handle = get_handle(run_id)       # None when the run belongs to another process (the CLI)
    handle.progress()                 # Progress: done, failed, total, cost_usd, eta ...
    handle.cancel()                   # stops at once; finished calls are kept (cached)
    list_runs(db, task_id)            # every run, any process, with counters refreshed every ~2 s
    run_failures(db, run_id)          # what failed and why
    start_run(db, plan_retry(db, run_id))    # ask the failed ones again
    start_run(db, plan_resume(db, run_id))   # finish a cancelled or interrupted run

The run executes in a daemon thread with its own event loop; the handle is thread-safe. The
run row exists (status running) when `start_run` returns, so the id can go in session_state.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from labelgate.llm.runner import (
    Progress,
    ProgressCallback,
    RunOptions,
    RunPlan,
    create_run_record,
    execute_run,
    run_in_new_loop,
)
from labelgate.llm.secrets import resolve_api_key, scrub
from labelgate.store.db import Database

_HANDLES: dict[int, RunHandle] = {}
_HANDLES_LOCK = threading.Lock()


class RunHandle:
    """A run executing in a background thread of this process."""

    def __init__(self, run_id: int, plan: RunPlan):
        self.run_id = run_id
        self.plan = plan
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._progress = Progress(run_id, 0, 0, len(plan.units), 0, 0, 0.0, 0, 0, 0.0, None)
        self._done = threading.Event()
        self.result: Progress | None = None
        self.error: str | None = None
        self.thread: threading.Thread | None = None

    def _on_progress(self, p: Progress) -> None:
        with self._lock:
            self._progress = p

    def progress(self) -> Progress:
        """The latest snapshot (the final one once the run has ended)."""
        with self._lock:
            return self._progress

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> Progress | None:
        """Block until the run ends (or timeout); the final Progress, or None if still running."""
        self._done.wait(timeout)
        return self.result if self._done.is_set() else None


def start_run(db: Database, plan: RunPlan, options: RunOptions | None = None, *,
              started_by: str | None = None, secrets: Mapping | None = None,
              on_progress: ProgressCallback | None = None) -> RunHandle:
    """Start `plan` in a background thread and return its handle at once.

    Raises MissingApiKeyError (naming the variable) before anything is recorded when the
    labeler's key is not set. `secrets` defaults to st.secrets inside the app.
    """
    options = options or RunOptions()
    resolve_api_key(plan.config, secrets=secrets)     # fail fast, in the caller's thread
    run_id = create_run_record(db, plan, options, started_by=started_by)
    handle = RunHandle(run_id, plan)

    def progress(p: Progress) -> None:
        handle._on_progress(p)
        if on_progress is not None:
            on_progress(p)

    def target() -> None:
        try:
            handle.result = run_in_new_loop(execute_run(
                db, plan, options, run_id=run_id, progress=progress, cancel=handle._cancel,
                started_by=started_by, secrets=secrets))
        except BaseException as exc:  # noqa: BLE001 - reported through the handle
            handle.error = scrub(f"{type(exc).__name__}: {exc}")
            handle.result = handle.progress()
        finally:
            handle._done.set()

    handle.thread = threading.Thread(target=target, name=f"labelgate-run-{run_id}", daemon=True)
    with _HANDLES_LOCK:
        _HANDLES[run_id] = handle
    handle.thread.start()
    return handle


def get_handle(run_id: int) -> RunHandle | None:
    """The handle of a run started by this process, else None (then read list_runs/get_run)."""
    with _HANDLES_LOCK:
        return _HANDLES.get(run_id)


def active_handles() -> list[RunHandle]:
    """Runs of this process that have not ended."""
    with _HANDLES_LOCK:
        return [h for h in _HANDLES.values() if not h.done]
