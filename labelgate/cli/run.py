"""labelgate run --task T --labeler NAME --items calibration|anchor|batch:NAME  (and batches add/list)

A terminal progress bar on stderr, a summary on stdout. Exit code 0 when every item got a
label, 1 when some failed (their count and reasons are printed), 130 when interrupted. Ctrl-C
cancels cleanly: what was answered is kept, and the same command (or --resume RUN) finishes it.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from tqdm import tqdm

from labelgate.cli.common import CommandError
from labelgate.llm.runner import Progress, RunOptions, plan_resume, plan_retry, plan_run, run_sync
from labelgate.llm.secrets import resolve_api_key, scrub
from labelgate.store.llm import create_item_batch, list_item_batches, run_failures
from labelgate.store.tasks import get_task


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="label items with an LLM labeler")
    p.add_argument("--task", help="task name (not needed with --resume / --retry-failed)")
    p.add_argument("--labeler", help="labeler name")
    p.add_argument("--items", help="calibration, anchor or batch:NAME (a batch run re-labels the anchor set too)")
    p.add_argument("--resume", type=int, metavar="RUN", help="finish a cancelled or interrupted run")
    p.add_argument("--retry-failed", type=int, metavar="RUN", help="ask the failed items of a run again")
    p.add_argument("--no-anchors", action="store_true", help="batch run without re-labeling the anchor set")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    p.add_argument("--rpm", type=float, help="requests per minute limit")
    p.add_argument("--tpm", type=float, help="tokens per minute limit")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    p.add_argument("--retries", type=int, default=5, help="retries per request on 429/5xx/timeouts (default 5)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)

    b = subparsers.add_parser("batches", help="named batches of items to label")
    sub = b.add_subparsers(dest="batches_command", metavar="ACTION", required=True)
    a = sub.add_parser("add", help="create a batch from a file of item ids (one per line)")
    a.add_argument("name")
    a.add_argument("--task", required=True)
    a.add_argument("--file", required=True, help="text file with one item id per line")
    a.set_defaults(func=_batch_add)
    ls = sub.add_parser("list", help="the batches of a task")
    ls.add_argument("--task", required=True)
    ls.set_defaults(func=_batch_list)


def _plan(args):
    if args.resume is not None:
        return plan_resume(args.db, args.resume)
    if args.retry_failed is not None:
        return plan_retry(args.db, args.retry_failed)
    missing = [f"--{n}" for n in ("task", "labeler", "items") if not getattr(args, n)]
    if missing:
        raise CommandError(f"run needs {', '.join(missing)} (or --resume RUN / --retry-failed RUN)")
    return plan_run(args.db, args.task, args.labeler, args.items, relabel_anchors=not args.no_anchors)


def _run(args) -> int:
    plan = _plan(args)
    options = RunOptions(concurrency=args.concurrency, rpm=args.rpm, tpm=args.tpm, timeout=args.timeout,
                         max_retries=args.retries)
    try:
        resolve_api_key(plan.config)
    except RuntimeError as exc:
        raise CommandError(str(exc)) from None
    cancel = threading.Event()
    bar = None if args.no_progress else tqdm(total=len(plan.units), unit="item", desc=f"{plan.config.name}",
                                             dynamic_ncols=True)

    def progress(p: Progress) -> None:
        if bar is None:
            return
        bar.n = p.finished
        bar.set_postfix_str(scrub(f"failed={p.failed} cached={p.cached_calls} ${p.cost_usd:.4f}"), refresh=False)
        bar.refresh()

    def on_sigint(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()

    previous = signal.signal(signal.SIGINT, on_sigint) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        result = run_sync(args.db, plan, options, progress=progress, cancel=cancel, started_by="cli")
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if bar is not None:
            bar.close()
    _summary(args, plan, result)
    if result.status == "cancelled":
        return 130
    if result.status in ("failed", "error") or result.failed:
        return 1
    return 0


def _summary(args, plan, p: Progress) -> None:
    print(f"run {p.run_id} ({plan.config.name} v{plan.config.version} on {plan.item_set}): {p.status}; "
          f"{p.done} of {p.total} items labeled, {p.failed} failed; {p.requests} requests, "
          f"{p.cached_calls} answers from cache; {p.tokens_in:,} tokens in, {p.tokens_out:,} out; "
          f"est. ${p.cost_usd:.4f}; {p.elapsed:.1f} s")
    if p.message:
        print(scrub(p.message))
    if p.failed:
        fails = run_failures(args.db, p.run_id)
        print(f"{p.failed} item(s) failed:")
        for r in fails.head(10).itertuples():
            order = f" order {r.shown_order}" if isinstance(r.shown_order, str) else ""
            print(f"  {r.item_id} [{r.batch}] sample {r.sample_index}{order}: {scrub(r.error)}")
        if len(fails) > 10:
            print(f"  ... and {len(fails) - 10} more")
        print(f"retry them with: labelgate run --retry-failed {p.run_id}")
    if p.status == "cancelled":
        print(f"finish it with: labelgate run --resume {p.run_id} (answers so far are kept)")


def _batch_add(args) -> int:
    task = get_task(args.db, args.task)
    try:
        lines = Path(args.file).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from None
    ids = [x.strip() for x in lines if x.strip() and not x.startswith("#")]
    n = create_item_batch(args.db, task.task_id, args.name, ids, created_by="cli")
    print(f"batch {args.name}: {n} items; label it with: labelgate run --task {task.name} --labeler NAME"
          f" --items batch:{args.name}")
    return 0


def _batch_list(args) -> int:
    task = get_task(args.db, args.task)
    batches = list_item_batches(args.db, task.task_id)
    if batches.empty:
        print(f"task {task.name} has no batches yet")
    for r in batches.itertuples():
        print(f"{r.batch}\t{r.n_items} items")
    return 0
