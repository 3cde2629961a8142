"""Peak memory of importing an 80 MB items upload: read in blocks and staged on disk, beside the whole-file path.

    .venv/bin/python benchmarks/upload_memory_bench.py [MEGABYTES]

Each way runs in a fresh process on a fresh copy of the demo database, as the Data page does it
after an upload: the file's bytes are in memory (Streamlit's copy of the upload), then

- blocks (this release): `stage_items` reads the CSV in 4 MB blocks into a Parquet file on disk,
  the upload is let go of, and `import_staged_items` inserts from that file;
- whole (the previous release's page): `read_table` parses the whole file, `validate_items`
  builds every row, the upload and the parsed frame are let go of, `import_items` inserts.

Prints VmHWM (the kernel's peak resident memory of the process) above what the process held before
the upload arrived, and the peak with the upload, side by side. The Data page's server adds its own
~320 MiB (Streamlit, the app) to these; tests/reliability/test_uploads.py (`-m slow`) measures the
real server in Chromium. Aim: an 80 MB upload under 800 MB of server memory.
"""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in MiB."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, value = line.split(":", 1)
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) // 1024
    return out


def one(way: str, db_path: str, csv_path: str) -> None:
    """In its own process: one import of the file the chosen way; prints the figures as JSON."""
    from dataclasses import replace

    from labelgate.importer import read_table, stage_items, validate_items
    from labelgate.store import Database
    from labelgate.store.imports import import_items, import_staged_items
    from labelgate.store.tasks import get_task

    db = Database(db_path)
    task = get_task(db, "mt-bench")
    gc.collect()
    start = status()["VmRSS"]
    data = Path(csv_path).read_bytes()   # the upload, as Streamlit holds it
    uploaded = status()["VmRSS"]
    t0 = time.monotonic()
    if way == "blocks":
        with stage_items(Path(csv_path).name, task, data=data) as staged:
            del data
            result = import_staged_items(db, task, staged)
    else:
        parsed = read_table(Path(csv_path).name, data=data)
        items, cols = validate_items(parsed, task)
        del data
        parsed = replace(parsed, frame=parsed.frame.iloc[:0])
        result = import_items(db, task, parsed, items, cols)
    seconds = time.monotonic() - t0
    print(json.dumps({"start": start, "upload": uploaded - start, "peak": status()["VmHWM"],
                      "added": result.n_added, "seconds": seconds}))


def main(megabytes: float) -> None:
    from labelgate.demo import load_demo
    from labelgate.store import Database
    from tests.reliability.test_uploads import items_csv

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        template = tmp / "demo.duckdb"
        load_demo(Database(template), student_demo=False, hanna_demo=False)
        Database(template).close()
        csv_path = tmp / "items.csv"
        n = items_csv(csv_path, megabytes)
        results = {}
        for way in ("blocks", "whole"):
            db_path = tmp / f"{way}.duckdb"
            shutil.copy(template, db_path)
            out = subprocess.run([sys.executable, __file__, "--one", way, str(db_path), str(csv_path)],
                                 capture_output=True, text=True, check=True, cwd=ROOT)
            results[way] = json.loads(out.stdout.strip().splitlines()[-1])
            assert results[way]["added"] == n, results[way]
        size = csv_path.stat().st_size / 1e6
    print(f"{size:.0f} MB items CSV, {n:,} rows; peak resident memory of the importing process (VmHWM)")
    for way, r in results.items():
        print(f"  {way:<6} {r['peak'] - r['start']:5d} MiB above the process before the upload "
              f"(the upload itself {r['upload']} MiB), peak {r['peak']} MiB; {r['seconds']:.1f} s")
    b, w = results["blocks"], results["whole"]
    print(f"  blocks / whole: {(b['peak'] - b['start']) / (w['peak'] - w['start']):.2f}x of the memory above start")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--one":
        one(*sys.argv[2:])
    else:
        main(float(sys.argv[1]) if len(sys.argv) > 1 else 80.0)
