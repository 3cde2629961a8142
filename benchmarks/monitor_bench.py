# ruff: noqa: E501  (long SQL strings)
"""Monitor and gate check on 10M LLM labels in 2,000 batches: DuckDB aggregates vs pandas on all rows.

    .venv/bin/python benchmarks/monitor_bench.py [--db /tmp/monitor_bench.duckdb] [--keep]

Generates (in DuckDB SQL, no Python loops) one categorical task with 200k items, 2,000 gold
items, a 50-item anchor set and four labelers (two of family gpt, one llama, one palm); each
labels 1,200 items per batch plus the anchor re-run (batch "anchor:<b>"): 4 x 2,000 x 1,250 =
10M rows. Then, each in a fresh process (cold start: nothing cached, the file just opened):

- the Monitor page's data for one labeler (labelgate.monitor.monitor: every batch's
  distribution, anchor drift, cross-family disagreement, AUROC/ECE; diversity for the last 20);
- `gate check` (labelgate.gate.check) and the whole CLI command;
- the baseline: the task's rows loaded into pandas and the same per-batch aggregates there.

Prints wall time and peak RSS of each, and the ratios. Target: monitor < 2 s and < 1 GiB, check < 1 s.
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
            "INSERT INTO human_labels (task_id, item_id, rater, status, value, source)"
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
            " FROM rows",
            [N_BATCHES, PER_BATCH, N_ITEMS, N_BATCHES, N_ANCHORS, task.task_id])


def run_child(code: str, db_path: Path) -> dict:
    """Run `code` in a fresh interpreter; it prints one JSON line with its measurements."""
    prelude = textwrap.dedent(f"""
        import json, resource, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        t_start = time.perf_counter()
        from labelgate.store import Database
        from labelgate.store.tasks import get_task
        db = Database({str(db_path)!r})
        def rss_mib():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    """)
    out = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                         cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(out.stdout[-2000:] + out.stderr[-2000:])
    return json.loads(lines[-1])


MONITOR = """
from labelgate.monitor import monitor
t0 = time.perf_counter()
m = monitor(db, get_task(db, "bench"), "L1")
secs = time.perf_counter() - t0
print(json.dumps({"secs": secs, "rss": rss_mib(), "batches": len(m.batches),
                  "blocked": int(m.batches["blocked"].sum())}))
"""

CHECK = """
from labelgate.gate import check
t0 = time.perf_counter()
r = check(db, get_task(db, "bench"), "L1")
secs = time.perf_counter() - t0
print(json.dumps({"secs": secs, "rss": rss_mib(), "ok": r.ok, "batch": r.latest_batch}))
"""

BASELINE = """
import pandas as pd
from labelgate.gold import load_gold
t0 = time.perf_counter()
task = get_task(db, "bench")
with db.connect() as con:
    df = con.execute("SELECT item_id, labeler, version, batch, value, confidence, created_at FROM llm_labels"
                     " WHERE task_id = ?", [task.task_id]).df()
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
print(json.dumps({"secs": secs, "rss": rss_mib(), "batches": len(counts)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="/tmp/monitor_bench.duckdb")
    ap.add_argument("--keep", action="store_true", help="reuse an existing generated file")
    ap.add_argument("--skip-baseline", action="store_true")
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
    print(f"{n:,} LLM labels, {nb:,} batches, 4 labelers; measuring labeler L1, each in a fresh process")

    mon = run_child(MONITOR, path)
    print(f"monitor (DuckDB)     {mon['secs']:6.2f} s  peak RSS {mon['rss']:6.0f} MiB  "
          f"({mon['batches']} batches, {mon['blocked']} blocked)  target < 2 s, < 1024 MiB")
    chk = run_child(CHECK, path)
    print(f"gate check (DuckDB)  {chk['secs']:6.2f} s  peak RSS {chk['rss']:6.0f} MiB  "
          f"(ok={chk['ok']}, latest batch {chk['batch']})  target < 1 s")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "labelgate.cli", "--db", str(path), "gate", "check", "--task", "bench",
                           "--labeler", "L1"], capture_output=True, text=True, cwd=ROOT)
    print(f"`labelgate gate check` whole command (interpreter start and imports included): "
          f"{time.perf_counter() - t0:.2f} s, exit {proc.returncode}")
    if not args.skip_baseline:
        base = run_child(BASELINE, path)
        print(f"baseline (pandas, all rows)  {base['secs']:6.2f} s  peak RSS {base['rss']:6.0f} MiB")
        print(f"ratio: DuckDB monitor is {base['secs'] / mon['secs']:.1f}x faster and uses "
              f"{base['rss'] / mon['rss']:.1f}x less memory than pandas on all rows")


if __name__ == "__main__":
    main()
