"""20 experts in Chromium on one server, with and without pipeline commands beside them: where the time goes.

    .venv/bin/python benchmarks/concurrency_bench.py [N_EXPERTS] [N_ANSWERS] [--only quiet|busy]

The workload of tests/reliability/test_concurrency.py (each expert its own Chromium context,
answering by clicks; `gate check`, `report`, `gate evaluate` and `import items` one after another
as processes, starting once a third of the answers are in) run twice on fresh copies of the demo
database, side by side:

- quiet: the same experts and answers with no command at all (the baseline: what N sessions on
  this machine cost by themselves);
- busy: the commands beside them.

Printed for each: the experts' click-to-next-item p50/p95/max; the commands' waits for their turns
on the file; the app's own waits for the file (a command holding it) and for the in-process lock on
the task's expert slots, and the time that lock is held per unit of work; and the CPU seconds used
by the server, by Chromium and by the commands over the run (2 cores: CPU-bound when the sum
approaches 2 x the wall time). The app's stopwatches come from running `streamlit run` through
this script (`--role server`), which wraps `Turns.acquire` and the slot lock of
labelgate.store.labels and appends each timing to a file; nothing else changes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def server_role(argv: list[str]) -> None:
    """`streamlit run` with stopwatches on the app's waits (LABELGATE_BENCH_TIMINGS names the file)."""
    from labelgate.store import labels, turns

    out = open(os.environ["LABELGATE_BENCH_TIMINGS"], "a", buffering=1)  # noqa: SIM115 - open for the process
    guard = threading.Lock()

    def note(kind: str, seconds: float) -> None:
        with guard:
            out.write(f"{kind} {time.monotonic():.4f} {seconds:.5f}\n")

    acquire = turns.Turns.acquire

    def timed_acquire(self, timeout):
        t0 = time.monotonic()
        try:
            return acquire(self, timeout)
        finally:
            note("file", time.monotonic() - t0)

    turns.Turns.acquire = timed_acquire
    task_lock = labels._task_lock

    class TimedLock:
        def __init__(self, lock):
            self.lock = lock

        def __enter__(self):
            t0 = time.monotonic()
            self.lock.acquire()
            self.t1 = time.monotonic()
            note("slot_wait", self.t1 - t0)
            return self

        def __exit__(self, *exc):
            note("slot_hold", time.monotonic() - self.t1)
            self.lock.release()

    labels._task_lock = lambda db, task_id: TimedLock(task_lock(db, task_id))
    from streamlit.web.cli import main

    sys.argv = ["streamlit", *argv]
    main()


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes and their descendants still alive (from /proc), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo, seen = 0.0, list(pids), set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def browser_pids(server_pid: int) -> list[int]:
    """This process's children other than the server: Playwright's driver, which runs Chromium."""
    with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as f:
        return [int(c) for c in f.read().split() if int(c) != server_pid]


def pct(values: list[float], q: float) -> str:
    v = sorted(values)
    return f"{v[min(len(v) - 1, int(q / 100 * len(v)))]:6.2f} s" if v else "     -  "


def pace(name: str, think: tuple[float, float] | None):
    """The seconds expert `name` reads item i before answering: seeded, uniform in `think`; None: no pause."""
    if think is None:
        return None
    import random

    rng = random.Random(f"think-{name}")
    pauses = {}
    return lambda i: pauses.setdefault(i, rng.uniform(*think))


def run(mode: str, template: Path, tmp: Path, n_experts: int, n_answers: int, *,
        think: tuple[float, float] | None = None, low_priority: bool = True) -> dict:
    from labelgate.store import Database
    from labelgate.store.users import add_user
    from tests.e2e.harness import CHROMIUM, CHROMIUM_FLAGS, Server
    from tests.reliability import test_concurrency as tc

    folder = tmp / mode
    folder.mkdir()
    db_path = folder / "bench.duckdb"
    shutil.copy(template, db_path)
    names = [f"expert{i:02d}" for i in range(n_experts)]
    db = Database(db_path)
    for name in names:
        add_user(db, name, "expert", "pw-" + name)
    db.close()
    timings = folder / "app-timings.txt"

    class TimedServer(Server):
        def __init__(self):
            os.environ["LABELGATE_BENCH_TIMINGS"] = str(timings)
            try:
                self._launch()
            finally:
                os.environ.pop("LABELGATE_BENCH_TIMINGS", None)

        def _launch(self):
            import subprocess
            real = subprocess.Popen

            def popen(cmd, *a, **k):
                cmd = [sys.executable, __file__, "--role", "server", *cmd[3:]]   # drop "python -m streamlit"
                return real(cmd, *a, **k)

            subprocess.Popen = popen
            try:
                Server.__init__(self, db_path)
            finally:
                subprocess.Popen = real

    server = TimedServer()
    stop, runs, log = threading.Event(), [], []
    commands = threading.Thread(target=tc.run_commands, args=(db_path, stop, runs, log, n_experts * n_answers // 3))
    cpu0 = {"server": cpu_seconds([server.proc.pid])}
    t0 = time.monotonic()
    chromium = {"cpu": 0.0}
    priorities: dict = {}

    async def experts():
        from playwright.async_api import async_playwright

        async with async_playwright() as p:
            if low_priority:
                browser = await tc.launch_low_priority(p)
            else:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            pids = browser_pids(server.proc.pid)
            try:
                logins, ready = asyncio.Semaphore(4), asyncio.Barrier(len(names))
                return await asyncio.gather(*(
                    tc.expert(browser, server.url, n, n_answers, log, logins, ready,
                              priorities=priorities if n == names[0] else None, think=pace(n, think))
                    for n in names))
            finally:
                chromium["cpu"] = cpu_seconds(pids)
                await browser.close()

    try:
        if mode == "busy":
            commands.start()
        asyncio.run(experts())
        wall = time.monotonic() - t0
        cpu_server = cpu_seconds([server.proc.pid]) - cpu0["server"]
    finally:
        stop.set()
        if mode == "busy":
            commands.join()
        server.stop()
    # each command's CPU seconds, written by tests/reliability/timed_cli.py when it ended
    cpu_commands = sum(json.loads(p.read_text()).get("cpu", 0.0) for p in folder.glob("turns-*.json"))
    app = {"file": [], "slot_wait": [], "slot_hold": []}
    for line in timings.read_text().splitlines():
        kind, _, seconds = line.split()
        app[kind].append(float(seconds))
    busy = [(a, b) for _, a, b, *_ in runs]
    beside = [s for t, s in log if any(a <= t <= b for a, b in busy)]
    alone = [s for t, s in log if not any(a <= t <= b for a, b in busy)]
    return {"mode": mode, "wall": wall, "log": log, "beside": beside, "alone": alone, "runs": runs, "app": app,
            "cpu": {"server": cpu_server, "chromium": chromium["cpu"], "commands": cpu_commands},
            "priorities": priorities}


def report(res: dict) -> None:
    all_answers = [s for _, s in res["log"]]
    print(f"\n{res['mode']}: {len(all_answers)} answers in {res['wall']:.0f} s; {len(res['runs'])} commands")
    print(f"  expert click-to-next-item, all      p50 {pct(all_answers, 50)}  p95 {pct(all_answers, 95)}"
          f"  max {pct(all_answers, 100)}")
    if res["runs"]:
        print(f"    while a command ran ({len(res['beside']):3})       p50 {pct(res['beside'], 50)}"
              f"  p95 {pct(res['beside'], 95)}  max {pct(res['beside'], 100)}")
        print(f"    while none ran ({len(res['alone']):3})            p50 {pct(res['alone'], 50)}"
              f"  p95 {pct(res['alone'], 95)}  max {pct(res['alone'], 100)}")
        waits = [r[5] for r in res["runs"]]
        print(f"  commands' wait for the file         p50 {pct(waits, 50)}  p95 {pct(waits, 95)}"
              f"  max {pct(waits, 100)}")
        for name in sorted({r[0] for r in res["runs"]}):
            mine = [r for r in res["runs"] if r[0] == name]
            print(f"    {name:<14} x{len(mine):<2} wait p50 {pct([r[5] for r in mine], 50)}"
                  f"  whole command p50 {pct([r[2] - r[1] for r in mine], 50)}")
    app = res["app"]
    print(f"  app's wait for the file ({len(app['file'])} opens)  p50 {pct(app['file'], 50)}"
          f"  p95 {pct(app['file'], 95)}  max {pct(app['file'], 100)}  sum {sum(app['file']):.1f} s")
    print(f"  app's wait for the slot lock        p50 {pct(app['slot_wait'], 50)}  p95 {pct(app['slot_wait'], 95)}"
          f"  max {pct(app['slot_wait'], 100)}")
    print(f"  slot lock held per unit ({len(app['slot_hold'])})     p50 {pct(app['slot_hold'], 50)}"
          f"  p95 {pct(app['slot_hold'], 95)}  sum {sum(app['slot_hold']):.1f} s")
    priorities = "; ".join(f"{kind} {'/'.join(map(str, sorted(set(v))))} ({len(v)} threads)"
                      for kind, v in sorted(res["priorities"].items()))
    print(f"  browser threads' CPU priority (/proc/<pid>/task/<tid>/stat): {priorities}")
    cpu = res["cpu"]
    print(f"  CPU seconds: server {cpu['server']:.0f}, Chromium and Playwright {cpu['chromium']:.0f}, "
          f"commands {cpu['commands']:.0f}"
          f" = {sum(cpu.values()) / res['wall']:.2f} cores busy on average")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("experts", nargs="?", type=int, default=20)
    parser.add_argument("answers", nargs="?", type=int, default=6)
    parser.add_argument("--only", choices=["quiet", "busy"])
    parser.add_argument("--think", nargs="?", const="2-6", default=None, metavar="LOW-HIGH",
                        help="each expert reads an item for a seeded uniform LOW-HIGH seconds before answering"
                             " (default without the option: no pause; with it, 2-6)")
    parser.add_argument("--normal-priority", action="store_true",
                        help="the browsers at the default CPU priority (as before: they then take the server's CPU)")
    args = parser.parse_args()
    think = tuple(float(x) for x in args.think.split("-")) if args.think else None
    from labelgate.demo import load_demo
    from labelgate.store import Database

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        template = tmp / "demo.duckdb"
        load_demo(Database(template), student_demo=False, hanna_demo=False)
        Database(template).close()
        load0 = os.getloadavg()[0]
        results = [run(mode, template, tmp, args.experts, args.answers, think=think,
                       low_priority=not args.normal_priority)
                   for mode in (["quiet", "busy"] if args.only is None else [args.only])]
    pause = f"reading {args.think} s before each answer" if think else "no pause between answers"
    print(f"{args.experts} expert sessions (Chromium contexts) x {args.answers} answers, {pause}; browsers at "
          f"{'the default priority' if args.normal_priority else 'the idle class'}; load average {load0:.1f} at the "
          f"start, {os.getloadavg()[0]:.1f} at the end, {os.cpu_count()} cores")
    for res in results:
        report(res)
    if len(results) == 2:
        q, b = (sorted(s for _, s in r["log"]) for r in results)
        print(f"\nbusy / quiet, expert p50: {b[len(b) // 2] / q[len(q) // 2]:.2f}x")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--role" and sys.argv[2] == "server":
        server_role(sys.argv[3:])
    else:
        main()
