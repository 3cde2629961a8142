"""The LLM run engine against a local fake API with 100 ms latency, beside a sequential loop.

    .venv/bin/python benchmarks/llm_runner_bench.py [N_ITEMS] [CONCURRENCY]

The fake server (tests/llm_server.py) runs in its own process so it does not share the
client's GIL. Prints items/s of `run_sync` at the given concurrency (default 5,000 items at 64),
its ratio to the ideal concurrency / latency (640 items/s), the same work as a plain sequential
loop of SDK calls (timed on a 40-item sample and extrapolated), and a cached re-run of the
same plan, which must make no request. Aim: at least 80% of ideal.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
LATENCY = 0.1


def start_server() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "llm_server.py"), "--latency", str(LATENCY)],
                            stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return proc, port


def server_requests(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats") as r:
        return json.load(r)["requests"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sequential_loop(base_url: str, task, prompts: list[str]) -> float:
    """The naive baseline: one SDK call after another, parsed; seconds per item."""
    import openai

    from labelgate.llm.parse import parse_answer
    from labelgate.llm.prompts import label_schema, system_prompt

    async def go() -> float:
        client = openai.AsyncOpenAI(api_key=os.environ["OPENAI_API_KEY"], base_url=base_url, max_retries=0)
        schema = label_schema(task)
        t0 = time.perf_counter()
        for p in prompts:
            r = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "system", "content": system_prompt(task)},
                                               {"role": "user", "content": p}],
                response_format={"type": "json_schema", "json_schema": {"name": "label", "schema": schema,
                                                                        "strict": True}})
            parse_answer(r.choices[0].message.content, task)
        elapsed = time.perf_counter() - t0
        await client.close()
        return elapsed / len(prompts)

    return asyncio.run(go())


def main(n_items: int = 5000, concurrency: int = 64) -> None:
    from labelgate.importer import read_table, validate_items
    from labelgate.labelers import LabelerConfig
    from labelgate.llm import RunOptions, plan_run, run_sync
    from labelgate.store import Database
    from labelgate.store.imports import import_items
    from labelgate.store.items import record_set_draw
    from labelgate.store.labelers import save_labeler
    from labelgate.store.tasks import create_task
    from labelgate.tasks import make_spec

    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key")
    proc, port = start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            db = Database(tmp / "bench.duckdb")
            task = create_task(db, "sent", "categorical",
                               make_spec("categorical", labels=["positive", "negative", "neutral"]),
                               rubric="Is the review positive, negative or neutral?", text_columns=["text"])
            ids = [f"r{i:05d}" for i in range(n_items)]
            pd.DataFrame({"item_id": ids, "text": [f"review number {i}: it was fine" for i in range(n_items)]}
                         ).to_csv(tmp / "items.csv", index=False)
            parsed = read_table(tmp / "items.csv")
            items, cols = validate_items(parsed, task, text_columns=["text"])
            import_items(db, task, parsed, items, cols)
            record_set_draw(db, task.task_id, "calibration", ids, seed=0, stratify_by=None, created_by="bench")
            base_url = f"http://127.0.0.1:{port}/v1"
            save_labeler(db, task.task_id, LabelerConfig(name="judge", provider="openai", model="gpt-4o-mini",
                                                         base_url=base_url, api_key_env="OPENAI_API_KEY"))

            sample = [f"Item:\ntext:\nsequential sample {i}" for i in range(40)]
            per_item = sequential_loop(base_url, task, sample)
            seq_rate = 1 / per_item

            plan = plan_run(db, task, "judge", "calibration")
            before = server_requests(port)
            t0, c0, s0 = time.perf_counter(), time.process_time(), cpu_seconds(proc.pid)
            result = run_sync(db, plan, RunOptions(concurrency=concurrency, timeout=30))
            elapsed = time.perf_counter() - t0
            client_cpu, server_cpu = time.process_time() - c0, cpu_seconds(proc.pid) - s0
            sent = server_requests(port) - before
            rate = n_items / elapsed
            ideal = concurrency / LATENCY

            before = server_requests(port)
            t0 = time.perf_counter()
            again = run_sync(db, plan_run(db, task, "judge", "calibration"), RunOptions(concurrency=concurrency))
            cached_elapsed = time.perf_counter() - t0
            cached_sent = server_requests(port) - before
    finally:
        proc.terminate()
        proc.wait(5)

    print(f"LLM runner, {n_items:,} items, server latency {LATENCY * 1000:.0f} ms, concurrency {concurrency}")
    print(f"  sequential loop (40-item sample, extrapolated): {seq_rate:8.1f} items/s"
          f"  -> {n_items * per_item:7.1f} s for {n_items:,}")
    print(f"  run_sync (concurrency {concurrency}):              {rate:8.1f} items/s"
          f"  -> {elapsed:7.1f} s; {result.done:,} labeled, {result.failed} failed, {sent:,} requests")
    print(f"  ideal concurrency / latency:                    {ideal:8.1f} items/s")
    print(f"  ratio to ideal: {rate / ideal:.0%}    speed-up over sequential: {rate / seq_rate:.1f}x")
    print(f"  CPU per item: client {client_cpu / n_items * 1000:.2f} ms, "
          f"fake server {server_cpu / n_items * 1000:.2f} ms ({os.cpu_count()} cores, shared)")
    print(f"  cached re-run: {cached_elapsed:.2f} s, {cached_sent} requests, {again.cached_calls:,} answers from cache")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
