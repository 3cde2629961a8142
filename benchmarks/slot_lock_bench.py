"""Experts' next item in one process, this release's slot lock path beside a previous one's, side by side.

    .venv/bin/python benchmarks/slot_lock_bench.py [N_EXPERTS] [N_ANSWERS] [--base COMMIT] [--rounds R]

What the Label page does per answer, without Streamlit or a browser: N_EXPERTS (default 20) threads share
one `Database(linger=1.0)`, as the server's sessions do; each stores an answer to its item
(`append_human_answer` with the task's slot policy, and the item to take next when the version has
`then_take`) and gets its next one (`queue_snapshot`, which takes a slot unless the answer did),
N_ANSWERS times (default 6) with no pause: the worst case for the task's in-process lock
(labelgate.store.labels._in_turn). The same workload runs with `labelgate/store/labels.py` of this
checkout and of `--base` (default main's previous commit, loaded from git), alternating for `--rounds`
rounds (default 3) on fresh copies of the demo, so that both meet the same load of the shared machine.

Printed for each: next-item p50/p95 (answer stored + next item shown), the lock's wait and hold per unit
of work, the units per answer, the sum of holds over the wall time (near 1: the lock is what they queue
on), and the ratio of the p50s. Also checked: every answer stored once.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def labels_module(commit: str | None):
    """labelgate.store.labels of this checkout (None) or of a git commit."""
    if commit is None:
        from labelgate.store import labels
        return labels
    source = subprocess.run(["git", "show", f"{commit}:labelgate/store/labels.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.gettempdir()) / f"labelgate-labels-{commit}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"labelgate_labels_{commit}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run(labels, template: Path, folder: Path, n_experts: int, n_answers: int) -> dict:
    from labelgate.labeling import slot_policy
    from labelgate.store import Database
    from labelgate.store.tasks import get_task

    path = folder / f"run-{time.monotonic_ns()}.duckdb"
    shutil.copy(template, path)
    db = Database(path, linger=1.0)
    task = get_task(db, "mt-bench")
    policy = slot_policy(task)
    guard = threading.Lock()
    waits, holds, latency, errors = [], [], [], []
    real_lock = labels._task_lock

    class Timed:
        def __init__(self, lock):
            self.lock = lock

        def __enter__(self):
            t0 = time.monotonic()
            self.lock.acquire()
            self.t1 = time.monotonic()
            with guard:
                waits.append(self.t1 - t0)

        def __exit__(self, *exc):
            with guard:
                holds.append(time.monotonic() - self.t1)
            self.lock.release()

    labels._task_lock = lambda d, t: Timed(real_lock(d, t))

    takes_next = "then_take" in inspect.signature(labels.append_human_answer).parameters

    def expert(name: str) -> None:
        try:
            snap = labels.queue_snapshot(db, task.task_id, name, policy)
            for i in range(n_answers):
                t0 = time.monotonic()
                more = {"then_take": snap.get("after")} if takes_next else {}
                labels.append_human_answer(db, task_id=task.task_id, item_id=snap["item_id"], rater=name,
                                           rows=[labels.AnswerRow("label", "label", "1" if i % 2 else "2")],
                                           shown_order="12", slots=policy, **more)
                snap = labels.queue_snapshot(db, task.task_id, name, policy)
                with guard:
                    latency.append(time.monotonic() - t0)
        except Exception as exc:  # noqa: BLE001 - counted and printed
            errors.append(f"{name}: {exc}")

    threads = [threading.Thread(target=expert, args=(f"bench{i:02d}",)) for i in range(n_experts)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    labels._task_lock = real_lock
    with db.connect() as con:
        stored, distinct = con.execute("SELECT count(*), count(DISTINCT (rater, item_id)) FROM human_labels"
                                       " WHERE rater LIKE 'bench%'").fetchone()
    db.close()
    return {"latency": latency, "waits": waits, "holds": holds, "wall": wall, "errors": errors,
            "stored": stored, "distinct": distinct}


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q / 100 * len(v)))] if v else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("experts", nargs="?", type=int, default=20)
    parser.add_argument("answers", nargs="?", type=int, default=6)
    parser.add_argument("--base", default="main~1")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base = subprocess.run(["git", "rev-parse", "--short", args.base], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()
    from labelgate.demo import load_demo
    from labelgate.store import Database

    impls = {f"base {base}": labels_module(base), "this checkout": labels_module(None)}
    results = {name: [] for name in impls}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        template = folder / "demo.duckdb"
        load_demo(Database(template), student_demo=False, hanna_demo=False)
        Database(template).close()
        for _ in range(args.rounds):
            for name, module in impls.items():
                results[name].append(run(module, template, folder, args.experts, args.answers))
    print(f"{args.experts} experts x {args.answers} answers in one process, no pause, {args.rounds} rounds each "
          "(alternating)")
    print(f"{'':<22}{'next p50':>10}{'p95':>8}{'lock wait p50':>15}{'hold p50':>10}{'units/answer':>14}"
          f"{'held/wall':>11}  stored once")
    p50 = {}
    for name, runs in results.items():
        lat = [x for r in runs for x in r["latency"]]
        waits = [x for r in runs for x in r["waits"]]
        holds = [x for r in runs for x in r["holds"]]
        p50[name] = pct(lat, 50)
        ok = all(r["stored"] == r["distinct"] == args.experts * args.answers and not r["errors"] for r in runs)
        print(f"{name:<22}{pct(lat, 50):>9.3f}s{pct(lat, 95):>7.3f}s{pct(waits, 50):>14.3f}s{pct(holds, 50):>9.3f}s"
              f"{len(holds) / max(len(lat), 1):>14.2f}{sum(holds) / sum(r['wall'] for r in runs):>11.2f}  "
              f"{'yes' if ok else 'NO'}")
        for r in runs:
            for e in r["errors"][:2]:
                print(f"  error: {e[:160]}")
    a, b = p50.values()
    print(f"next-item p50, this checkout / base: {b / a:.2f}x")


if __name__ == "__main__":
    main()
