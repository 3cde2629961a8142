"""Benchmark qc's bootstrap and Krippendorff alpha against the naive/reference baselines.

Run: .venv/bin/python benchmarks/qc_bench.py

(a) bootstrap CI of quadratic kappa, n=500, B=1000: qc.uncertainty.bootstrap_ci vs a Python
    loop of sklearn.metrics.cohen_kappa_score over the same resample indices;
(b) Krippendorff alpha (interval), 1M units x 5 raters, 10% missing: qc vs the
    `krippendorff` package -- time and peak memory, each in its own subprocess;
(c) alpha on 100k units x 5 raters with 100 distinct interval values: the package needs a
    (units x values x values) float64 tensor; it runs in a subprocess under a memory rlimit
    (so it can never take the machine down) and we report how it fails.

Peak memory is the tracemalloc peak of the measured call (numpy reports its buffers to
tracemalloc), the input data excluded. Timings never gate the test suite.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PACKAGE_RLIMIT_BYTES = 6 * 2**30


def _likert_data(n_units: int, n_raters: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, n_units)
    data = np.clip(truth[None, :] + rng.integers(-1, 2, (n_raters, n_units)), 1, 5).astype(np.float64)
    data[rng.random(data.shape) < 0.1] = np.nan
    return data


def _many_values_data(n_units: int, n_raters: int, n_values: int = 100, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_values, n_units)
    data = np.clip(truth[None, :] + rng.integers(-3, 4, (n_raters, n_units)), 0, n_values - 1)
    data = data.astype(np.float64) * 0.5
    data[rng.random(data.shape) < 0.1] = np.nan
    return data


WORKLOADS = {
    "likert_1m": lambda: _likert_data(1_000_000, 5),
    "values100_100k": lambda: _many_values_data(100_000, 5),
}


def _measure(impl: str, workload: str) -> dict:
    """Run one alpha computation (in this process) and return time and peak memory."""
    data = WORKLOADS[workload]()
    if impl == "qc":
        from qc.krippendorff import krippendorff_alpha

        def run():
            return krippendorff_alpha(data, level="interval")
    else:
        import krippendorff

        def run():
            return float(krippendorff.alpha(data, level_of_measurement="interval"))

    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        value = run()
        error = None
    except MemoryError as exc:
        value, error = None, f"MemoryError: {exc}"
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"alpha": value, "seconds": seconds, "peak_bytes": peak, "error": error}


def _in_subprocess(impl: str, workload: str, rlimit: int | None = None) -> dict:
    def limit():
        if rlimit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (rlimit, rlimit))

    proc = subprocess.run(
        [sys.executable, __file__, "--measure", impl, workload],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        check=False,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"alpha": None, "seconds": None, "peak_bytes": None, "error": f"exit {proc.returncode}: {last}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt_mb(b):
    return "-" if b is None else f"{b / 2**20:,.0f} MB"


def _fmt_s(s):
    return "-" if s is None else (f"{s * 1000:,.1f} ms" if s < 1 else f"{s:,.2f} s")


def bench_bootstrap() -> list[str]:
    from sklearn.metrics import cohen_kappa_score

    from qc.uncertainty import bootstrap_ci

    n, b = 500, 1000
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 6, n)
    pred = np.clip(truth + rng.integers(-1, 2, n) * (rng.random(n) < 0.5), 1, 5)
    labels = np.arange(1, 6)

    bootstrap_ci(truth, pred, metric="quadratic_kappa", n_resamples=b, seed=0)  # warm up
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        est = bootstrap_ci(truth, pred, metric="quadratic_kappa", n_resamples=b, seed=0)
        times.append(time.perf_counter() - t0)
    qc_s = float(np.median(times))

    t0 = time.perf_counter()
    idx = np.random.default_rng(0).integers(0, n, size=(b, n))  # the same resamples
    reps = [cohen_kappa_score(truth[i], pred[i], weights="quadratic", labels=labels) for i in idx]
    lo, hi = np.percentile(reps, [2.5, 97.5])
    loop_s = time.perf_counter() - t0
    assert abs(lo - est.ci_low) < 1e-9 and abs(hi - est.ci_high) < 1e-9, (lo, hi, est)
    return [
        "(a) bootstrap 95% CI of quadratic kappa, n=500, B=1000 (identical intervals)",
        f"    qc.bootstrap_ci (median of 7)     {_fmt_s(qc_s):>12}   CI [{est.ci_low:.4f}, {est.ci_high:.4f}]",
        f"    loop of sklearn cohen_kappa_score {_fmt_s(loop_s):>12}   CI [{lo:.4f}, {hi:.4f}]",
        f"    speed-up                          {loop_s / qc_s:>11.0f}x",
    ]


def bench_alpha_1m() -> list[str]:
    ours = _in_subprocess("qc", "likert_1m")
    ref = _in_subprocess("package", "likert_1m", rlimit=PACKAGE_RLIMIT_BYTES)
    lines = ["(b) Krippendorff alpha (interval), 1,000,000 units x 5 raters, 10% missing"]
    for name, r in (("qc.krippendorff_alpha", ours), ("krippendorff.alpha", ref)):
        status = f"alpha={r['alpha']:.6f}" if r["alpha"] is not None else r["error"]
        lines.append(f"    {name:<22} {_fmt_s(r['seconds']):>10}  peak {_fmt_mb(r['peak_bytes']):>9}   {status}")
    if ours["alpha"] is not None and ref["alpha"] is not None:
        lines.append(
            f"    ratio (package / qc)   time {ref['seconds'] / ours['seconds']:.1f}x, "
            f"memory {ref['peak_bytes'] / ours['peak_bytes']:.1f}x, |diff| {abs(ref['alpha'] - ours['alpha']):.1e}"
        )
    return lines


def bench_alpha_many_values() -> list[str]:
    n_units, n_raters, n_values = 100_000, 5, 100
    tensor = n_units * n_values * n_values * 8
    ours = _in_subprocess("qc", "values100_100k")
    lines = [f"(c) Krippendorff alpha (interval), {n_units:,} units x {n_raters} raters, {n_values} distinct values"]
    lines.append(
        f"    qc.krippendorff_alpha  {_fmt_s(ours['seconds']):>10}  peak {_fmt_mb(ours['peak_bytes']):>9}   "
        f"alpha={ours['alpha']:.6f}"
    )
    need = f"needs an N x V x V float64 tensor of {tensor / 2**30:.1f} GiB (and an int64 one as large)"
    ref = _in_subprocess("package", "values100_100k", rlimit=PACKAGE_RLIMIT_BYTES)
    if ref["alpha"] is None:
        lines.append(
            f"    krippendorff.alpha     fails under a {PACKAGE_RLIMIT_BYTES / 2**30:.0f} GiB address-space "
            f"limit: {ref['error']}; it {need}"
        )
        ratio = tensor / ours["peak_bytes"]
        lines.append(f"    ratio (package tensor / qc peak) memory >= {ratio:.0f}x; time: n/a (package fails)")
    else:
        lines.append(f"    krippendorff.alpha     {_fmt_s(ref['seconds']):>10}  peak {_fmt_mb(ref['peak_bytes']):>9}")
    return lines


def main() -> None:
    print("qc benchmarks (this machine, one run; lower time/memory is better)")
    print("=" * 100)
    for bench in (bench_bootstrap, bench_alpha_1m, bench_alpha_many_values):
        print("\n".join(bench()))
        print("-" * 100)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        print(json.dumps(_measure(sys.argv[2], sys.argv[3])))
    else:
        main()
