"""Pipeline commands beside experts labeling: how long each waits for the other, with and without turns.

    .venv/bin/python benchmarks/db_turns_bench.py [N_EXPERTS] [SECONDS]

One process plays the app: N_EXPERTS (default 10) threads share one `Database(linger=1.0)`, as
the Streamlit server's sessions do, and each answers its next demo item, fetches the next one
and thinks 0.05-0.3 s, for SECONDS (default 30). Meanwhile real `labelgate` commands run one
after another in their own processes (`gate check`, `report`, `import items`); each prints how
long it waited for the database and how long the command took in all.

The same workload runs twice: with this release's `labelgate.store.db` (fair turns on a lock
file) and with the previous one (open-and-retry, the app lingering 1 s after each use),
loaded from git commit 29583aa. Prints the commands' wait p50/p95 and the experts' next-item
p50/p95/max, quiet and while a command runs, side by side. Aims: command wait p95 < 2 s,
expert next-item < 1 s while a command runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PREVIOUS = "29583aa"   # the last commit before turns


def database_class(impl: str):
    """`Database` of this release ("turns") or of the previous one ("retry", from git)."""
    if impl == "turns":
        from labelgate.store.db import Database
        return Database
    source = subprocess.run(["git", "show", f"{PREVIOUS}:labelgate/store/db.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.gettempdir()) / f"labelgate-{PREVIOUS}" / "labelgate" / "store" / "db.py"
    path.parent.mkdir(parents=True, exist_ok=True)   # it finds its default path two levels up
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("labelgate_previous_db", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Database


def app(args) -> None:
    """The app's process: expert threads label until the time is up; prints their latencies as JSON."""
    from labelgate.labeling import next_item, submit_answer
    from labelgate.store.tasks import get_task

    db = database_class(args.impl)(args.db, linger=1.0)
    task = get_task(db, "mt-bench")
    stop = time.monotonic() + args.seconds
    samples: list[tuple[float, float]] = []   # (start, seconds from answer to next item)
    errors: list[str] = []

    def expert(name: str) -> None:
        rng = random.Random(name)
        try:
            item = next_item(db, task, name, retest_share=0)
            while item is not None and time.monotonic() < stop:
                t0 = time.monotonic()
                submit_answer(db, task, name, item, answer=rng.choice(["1", "2"]))
                item = next_item(db, task, name, retest_share=0)
                samples.append((t0, time.monotonic() - t0))
                time.sleep(rng.uniform(0.05, 0.3))
        except Exception as exc:  # noqa: BLE001 - reported, the benchmark goes on
            errors.append(f"{name}: {exc}")

    threads = [threading.Thread(target=expert, args=(f"bench-expert-{i}",)) for i in range(args.experts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"samples": samples, "errors": errors}))


def command(args) -> None:
    """One `labelgate` command with the chosen Database; prints its wait for the file and total time."""
    import labelgate.cli as cli

    Database = database_class(args.impl)
    waits = []

    class Timed(Database):   # the first open of the file is the wait; later ones are the command's own
        def connect(self):
            t0 = time.monotonic()
            inner = super().connect()
            con = inner.__enter__()
            if not waits:
                waits.append(time.monotonic() - t0)
            return _Entered(inner, con)

    cli.Database = Timed
    t0 = time.monotonic()
    code = cli.main(["--db", args.db, *json.loads(args.cmd)])
    print(json.dumps({"code": code, "wait": waits[0] if waits else None, "total": time.monotonic() - t0}))


class _Entered:
    def __init__(self, inner, con):
        self.inner, self.con = inner, con

    def __enter__(self):
        return self.con

    def __exit__(self, *exc):
        return self.inner.__exit__(*exc)


COMMANDS = [
    ["gate", "check", "--task", "mt-bench", "--labeler", "GPT-4"],
    ["report", "--task", "mt-bench", "--labeler", "GPT-4", "--resamples", "200"],
    ["import", "items", "{items}", "--task", "mt-bench"],
]


def run(impl: str, db: Path, experts: int, seconds: float, items_file: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    me = [sys.executable, __file__]
    app_proc = subprocess.Popen([*me, "--role", "app", "--impl", impl, "--db", str(db), "--experts", str(experts),
                                 "--seconds", str(seconds)], stdout=subprocess.PIPE, text=True, env=env)
    time.sleep(2.0)   # the experts get going
    runs = []
    deadline = time.monotonic() + seconds - 4
    k = 0
    while time.monotonic() < deadline:
        cmd = [c.replace("{items}", str(items_file)) for c in COMMANDS[k % len(COMMANDS)]]
        t0 = time.monotonic()
        out = subprocess.run([*me, "--role", "command", "--impl", impl, "--db", str(db), "--cmd", json.dumps(cmd)],
                             capture_output=True, text=True, env=env)
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
        result = json.loads(line) if line.startswith("{") else {"code": out.returncode}
        result.update(start=t0, end=time.monotonic(), name=" ".join(cmd[:2]),
                      error=(out.stderr.strip().splitlines() or [""])[-1])
        runs.append(result)
        k += 1
        time.sleep(0.5)
    report = json.loads(app_proc.communicate()[0])
    return {"runs": runs, **report}


def summarize(impl: str, res: dict) -> None:
    runs = res["runs"]
    ok = [r for r in runs if r.get("code") in (0, 1)]   # gate check exits 1 for "not approved"
    waits = np.array([r["wait"] for r in ok if r.get("wait") is not None])
    failed = [r for r in runs if r.get("code") not in (0, 1)]
    busy = [(r["start"], r["end"]) for r in runs]
    lat = np.array([s for _, s in res["samples"]])
    during = np.array([s for t, s in res["samples"] if any(a <= t <= b for a, b in busy)])
    quiet = np.array([s for t, s in res["samples"] if not any(a <= t <= b for a, b in busy)])

    def pct(a, q):
        return f"{np.percentile(a, q) * 1000:7.0f} ms" if len(a) else "      -   "

    print(f"\n{impl}: {len(runs)} commands, {len(failed)} failed, {len(lat)} expert answers, "
          f"{len(res['errors'])} expert errors")
    print(f"  command wait for the file   p50 {pct(waits, 50)}  p95 {pct(waits, 95)}  max {pct(waits, 100)}")
    print(f"  expert next item, quiet     p50 {pct(quiet, 50)}  p95 {pct(quiet, 95)}  max {pct(quiet, 100)}")
    print(f"  expert next item, command   p50 {pct(during, 50)}  p95 {pct(during, 95)}  max {pct(during, 100)}")
    for name in sorted({r["name"] for r in ok}):
        mine = [r for r in ok if r["name"] == name]
        w = np.array([r["wait"] for r in mine])
        print(f"    {name:<14} x{len(mine):<3} wait p50 {pct(w, 50)}  total p50 "
              f"{pct(np.array([r['total'] for r in mine]), 50)}")
    for r in failed[:3]:
        print(f"  failed: {r['name']}: {r['error'][:160]}")
    for e in res["errors"][:3]:
        print(f"  expert error: {e[:160]}")


def main(experts: int, seconds: float) -> None:
    from labelgate.demo import load_demo
    from labelgate.labeling import draw_calibration_set
    from labelgate.store import Database
    from labelgate.store.tasks import get_task

    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template.duckdb"
        db = Database(template)
        load_demo(db)
        draw_calibration_set(db, get_task(db, "mt-bench"), size=200, experts_per_item=experts + 1)
        db.close()
        items_file = Path(tmp) / "more_items.csv"
        items_file.write_text("item_id,input,output_1,output_2\n" + "".join(
            f"bench-{i},question {i},answer a {i},answer b {i}\n" for i in range(2000)))
        results = {}
        for impl in ("turns", "retry"):
            path = Path(tmp) / f"{impl}.duckdb"
            path.write_bytes(template.read_bytes())
            results[impl] = run(impl, path, experts, seconds, items_file)
    print(f"{experts} experts answering every 0.05-0.3 s for {seconds:.0f} s; pipeline commands one after another")
    for impl, res in results.items():
        summarize(impl, res)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("experts", nargs="?", type=int, default=10)
    parser.add_argument("seconds", nargs="?", type=float, default=30.0)
    parser.add_argument("--role", choices=["bench", "app", "command"], default="bench")
    parser.add_argument("--impl", choices=["turns", "retry"], default="turns")
    parser.add_argument("--db")
    parser.add_argument("--experts", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--cmd", help="the labelgate command, as a JSON list")
    a = parser.parse_args()
    if a.role == "app":
        app(a)
    elif a.role == "command":
        command(a)
    else:
        main(a.experts, a.seconds)
