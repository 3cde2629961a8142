# ruff: noqa: E501  (long SQL strings)
"""Monitor and gate check on 10M LLM labels in 2,000 batches: DuckDB aggregates vs pandas on all rows.

    .venv/bin/python benchmarks/monitor_bench.py [--db /tmp/monitor_bench.duckdb] [--keep]
        [--baseline-batches 200 | --full-baseline | --skip-baseline]

Generates (in DuckDB SQL, no Python loops) one categorical task with 200k items, 2,000 gold
items, a 50-item anchor set and four labelers (two of family gpt, one llama, one palm); each
labels 1,200 items per batch plus the anchor re-run (batch "anchor:<b>"): 4 x 2,000 x 1,250 =
10M rows, stored in created_at order (as the runner appends them: batch after batch). Then,
each in a fresh process (cold start: a new interpreter, nothing cached, the file just opened):

- the Monitor page's data for one labeler (labelgate.monitor.monitor: every batch's
  distribution, anchor drift, cross-family disagreement, AUROC/ECE; diversity for the last 20);
- `gate check` (labelgate.gate.check), and the whole `labelgate gate check` command;
- the baseline: the task's rows loaded into pandas and the same per-batch aggregates there. It
  takes minutes and GiBs on 10M rows, so by default it runs on the first 200 batches (1M rows)
  and is extrapolated linearly to all rows (said so in the output); --full-baseline runs it all.

Prints wall time and peak RSS of each side by side, and the ratios. Targets: monitor < 2 s and
< 1 GiB, gate check < 1 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
N_ITEMS, N_GOLD, N_ANCHORS, N_BATCHES, PER_BATCH = 200_000, 2_000, 50, 2_000, 1_200
LABELERS = [("L1", "gpt-4o", "gpt"), ("L2", "gpt-4o-mini", "gpt"), ("L3", "llama-3-70b", "llama"),
            ("L4", "text-bison", "palm")]


def generate(path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from labelgate.labelers import LabelerConfig
    from labelgate.store import Database
    from labelgate.store.items import record_set_draw
    from labelgate.store.labelers import save_labeler
    from labelgate.store.tasks import create_task
    from labelgate.tasks import make_spec

    db = Database(path)
    task = create_task(db, "bench", "categorical", make_spec("categorical", labels=["a", "b", "c"]),
                       text_columns=["text"])
    versions = {}
    for name, model, family in LABELERS:
        versions[name] = save_labeler(db, task.task_id, LabelerConfig(name=name, provider="openai", model=model,
                                                                      family=family, prompt_template="p"))
    record_set_draw(db, task.task_id, "anchor", [f"i{i:06d}" for i in range(N_ANCHORS)], seed=0, stratify_by=None,
                    created_by="bench")
    words = [f"w{k}" for k in range(400)]
    with db.transaction() as con:
        con.execute(
            "INSERT INTO items (task_id, item_id, fields, meta, content_hash)"
            " SELECT ?, 'i' || lpad(i::VARCHAR, 6, '0'),"
            "  json_object('text', array_to_string(list_transform(range(12), lambda x: (?::VARCHAR[])[(1 + hash(i, x) % 400)::BIGINT]), ' ')),"
            "  '{}', md5(i::VARCHAR) FROM range(?) t(i)", [task.task_id, words, N_ITEMS])
        # gold: the true label of item i is a/b/c by hash; one rater
        con.execute(
            "INSERT INTO human_label_rows (task_id, item_id, rater, status, value, source)"
            " SELECT ?, 'i' || lpad(i::VARCHAR, 6, '0'), 'e1', 'label', ['a','b','c'][(1 + hash(i) % 3)::BIGINT], 'import'"
            " FROM range(?) t(i)", [task.task_id, N_GOLD])
        labelers = ", ".join(f"('{n}', '{versions[n]}', {k})" for k, (n, _, _) in enumerate(LABELERS))
        # each labeler: the true label with 90% probability (85% for llama/palm); anchors get the same answer
        # every batch (a steady labeler);
        # batch b holds items (b * 97 + j * 13) mod N_ITEMS, and its anchor re-run labels items 0..49
        con.execute(
            f"INSERT INTO llm_labels (task_id, item_id, labeler, version, batch, sample_index, shown_order, value,"
            " value_num, confidence, source, created_at)"
            f" WITH lab(name, version, k) AS (VALUES {labelers}),"
            " rows AS ("
            "  SELECT b, j AS item, name, version, k, FALSE AS anchor FROM range(?) bb(b), range(?) jj(j0), lab,"
            "   LATERAL (SELECT (b * 97 + j0 * 13) % ? AS j)"
            "  UNION ALL"
            "  SELECT b, a AS item, name, version, k, TRUE FROM range(?) bb(b), range(?) aa(a), lab)"
            " SELECT ?, 'i' || lpad(item::VARCHAR, 6, '0'), name, version,"
            "  CASE WHEN anchor THEN 'anchor:' ELSE '' END || 'b' || lpad(b::VARCHAR, 4, '0'), 0, NULL,"
            "  CASE WHEN hash(item, CASE WHEN anchor THEN 0 ELSE b END, k) % 100 < (CASE WHEN k < 2 THEN 90 ELSE 85 END)"
            "   THEN ['a','b','c'][(1 + hash(item) % 3)::BIGINT] ELSE ['a','b','c'][(1 + (hash(item) + 1) % 3)::BIGINT] END,"
            "  NULL, 0.5 + (hash(item, b, k, 7) % 50) / 100.0, 'run',"
            "  TIMESTAMP '2025-01-01' + to_minutes(b::BIGINT * 60 + k)"
            " FROM rows ORDER BY b, k, anchor, item",  # appended in the order they are made
            [N_BATCHES, PER_BATCH, N_ITEMS, N_BATCHES, N_ANCHORS, task.task_id])


def run_child(code: str, db_path: Path) -> dict:
    """Run `code` in a fresh interpreter; it prints one JSON line with its measurements."""
    prelude = textwrap.dedent(f"""
        import json, sys, time
        t_start = time.perf_counter()
        sys.path.insert(0, {str(ROOT)!r})
        from labelgate.store import Database
        from labelgate.store.tasks import get_task
        db = Database({str(db_path)!r})
        def rss_mib():  # this process's peak RSS (VmHWM; ru_maxrss would include the parent's at fork)
            with open("/proc/self/status") as f:
                return next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")) / 1024
    """)
    out = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                         cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(out.stdout[-2000:] + out.stderr[-2000:])
    return json.loads(lines[-1])


# the measured call starts after the imports and get_task (which opens the file once: migrations checked)
MONITOR = """
from labelgate.monitor import monitor
task = get_task(db, "bench")
t_imports = time.perf_counter() - t_start
t0 = time.perf_counter()
m = monitor(db, task, "L1")
secs = time.perf_counter() - t0
print(json.dumps({"secs": secs, "imports": t_imports, "total": time.perf_counter() - t_start, "rss": rss_mib(),
                  "batches": len(m.batches), "blocked": int(m.batches["blocked"].sum()),
                  "latest": m.batches.iloc[-1]["batch"], "latest_blocked": bool(m.batches.iloc[-1]["blocked"])}))
"""

CHECK = """
from labelgate.gate import check
task = get_task(db, "bench")
t_imports = time.perf_counter() - t_start
t0 = time.perf_counter()
r = check(db, task, "L1")
secs = time.perf_counter() - t0
print(json.dumps({"secs": secs, "imports": t_imports, "total": time.perf_counter() - t_start, "rss": rss_mib(),
                  "ok": r.ok, "batch": r.latest_batch, "blocked": bool(r.batch_breaches)}))
"""

# MAX_BATCH: only batches named below it (None: all rows)
BASELINE = """
import pandas as pd
from labelgate.gold import load_gold
task = get_task(db, "bench")
rss0 = rss_mib()
t0 = time.perf_counter()
subset = "" if MAX_BATCH is None else " AND replace(batch, 'anchor:', '') < ?"
with db.connect() as con:
    df = con.execute("SELECT item_id, labeler, version, batch, value, confidence, created_at FROM llm_labels"
                     " WHERE task_id = ?" + subset, [task.task_id] + ([] if MAX_BATCH is None else [MAX_BATCH])).df()
gold = load_gold(db, task).labels.set_index("item_id")["value"]
anchor = df["batch"].str.startswith("anchor:")
df["b"] = df["batch"].str.removeprefix("anchor:")
me = df[df["labeler"] == "L1"]
counts = me[~anchor.loc[me.index]].groupby(["b", "value"]).size().unstack(fill_value=0)
a = me[anchor.loc[me.index]]
first = a[a["b"] == a.groupby("b")["created_at"].min().idxmin()].set_index("item_id")["value"]
flip = (a["value"] != a["item_id"].map(first)).groupby(a["b"]).mean()
gold_agree = (a["value"] == a["item_id"].map(gold)).groupby(a["b"]).mean()
mine = me[~anchor.loc[me.index]].groupby(["b", "item_id"])["value"].agg(lambda v: v.mode().iloc[0]).reset_index()
others = df[(df["labeler"].isin(["L3", "L4"])) & ~anchor].groupby(["labeler", "item_id"])["value"].first().reset_index()
x = mine.merge(others, on="item_id")
cross = (x["value_x"] != x["value_y"]).groupby(x["b"]).mean()
secs = time.perf_counter() - t0
print(json.dumps({"secs": secs, "rss": rss_mib(), "rss_before": rss0, "rows": len(df), "batches": len(counts)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="/tmp/monitor_bench.duckdb")
    ap.add_argument("--keep", action="store_true", help="reuse an existing generated file")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--baseline-batches", type=int, default=200,
                    help="run the pandas baseline on the first N batches and extrapolate linearly (default 200)")
    ap.add_argument("--full-baseline", action="store_true", help="run the pandas baseline on all rows (minutes)")
    args = ap.parse_args()
    path = Path(args.db)
    if not (args.keep and path.exists()):
        path.unlink(missing_ok=True)
        t0 = time.perf_counter()
        generate(path)
        print(f"generated 10M labels in {time.perf_counter() - t0:.1f} s ({path.stat().st_size / 2**20:.0f} MiB)")
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        n, nb = con.execute("SELECT count(*), count(DISTINCT batch) FILTER (WHERE batch NOT LIKE 'anchor:%')"
                            " FROM llm_labels").fetchall()[0]
    print(f"{n:,} LLM labels, {nb:,} batches, 4 labelers; measuring labeler L1, each in a fresh process "
          f"(cold: new interpreter, file just opened)")

    mon = run_child(MONITOR, path)
    chk = run_child(CHECK, path)
    cli = [sys.executable, "-m", "labelgate.cli", "--db", str(path), "gate", "check", "--task", "bench",
           "--labeler", "L1"]
    t0 = time.perf_counter()
    proc = subprocess.run(cli, capture_output=True, text=True, cwd=ROOT)
    cli_secs = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise RuntimeError(proc.stderr[-2000:])
    agree = (chk["batch"] == mon["latest"]) and (chk["blocked"] == mon["latest_blocked"])

    base = None
    if not args.skip_baseline:
        max_batch = None if args.full_baseline else f"b{args.baseline_batches:04d}"
        base = run_child(f"MAX_BATCH = {max_batch!r}\n" + BASELINE, path)
        scale = n / base["rows"]
        base["secs_all"] = base["secs"] * scale
        base["rss_all"] = base["rss_before"] + (base["rss"] - base["rss_before"]) * scale

    w = 44
    print()
    print(f"{'':{w}} {'time':>8}  {'peak RSS':>10}  target")
    print(f"{'monitor, one labeler (DuckDB), cold':{w}} {mon['secs']:7.2f}s  {mon['rss']:7.0f} MiB  < 2 s, < 1024 MiB"
          f"   ({mon['batches']} batches, {mon['blocked']} blocked; process with imports {mon['total']:.2f} s)")
    print(f"{'gate check, function (DuckDB), cold':{w}} {chk['secs']:7.2f}s  {chk['rss']:7.0f} MiB  < 1 s"
          f"   (ok={chk['ok']}, latest batch {chk['batch']} blocked={chk['blocked']}; "
          f"process with imports {chk['total']:.2f} s)")
    print(f"{'`labelgate gate check`, whole command':{w}} {cli_secs:7.2f}s  {'':>10}  < 1 s"
          f"   (interpreter start, imports, exit {proc.returncode})")
    print(f"gate check and the full monitor agree on the latest batch: {agree}")
    if base is not None:
        if args.full_baseline:
            print(f"{'baseline: pandas on all rows':{w}} {base['secs']:7.2f}s  {base['rss']:7.0f} MiB"
                  f"   ({base['rows']:,} rows)")
            b_secs, b_rss = base["secs"], base["rss"]
        else:
            print(f"{'baseline: pandas, first ' + str(args.baseline_batches) + ' batches (measured)':{w}} "
                  f"{base['secs']:7.2f}s  {base['rss']:7.0f} MiB   ({base['rows']:,} rows)")
            print(f"{'baseline: pandas on all rows (extrapolated)':{w}} {base['secs_all']:7.2f}s  "
                  f"{base['rss_all']:7.0f} MiB   (x{n / base['rows']:.1f} rows: time and memory above the "
                  f"{base['rss_before']:.0f} MiB interpreter scaled linearly; --full-baseline measures it)")
            b_secs, b_rss = base["secs_all"], base["rss_all"]
        print(f"ratio: the DuckDB monitor is {b_secs / mon['secs']:.0f}x faster and uses {b_rss / mon['rss']:.1f}x "
              f"less memory than pandas on all rows; gate check is {b_secs / chk['secs']:.0f}x faster")


if __name__ == "__main__":
    main()
