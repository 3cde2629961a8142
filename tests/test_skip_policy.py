"""The skip policy fails a run with a skip nobody allowed, and says which test skipped and why."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path, allowed: dict[str, str]) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(textwrap.dedent(f"""
        from tests import skip_policy

        skip_policy.ALLOWED_SKIPS.update({allowed!r})

        def pytest_configure(config):
            skip_policy.register(config)
        """))
    (tmp_path / "test_some.py").write_text(textwrap.dedent("""
        import pytest

        def test_runs():
            pass

        def test_needs_data():
            pytest.skip("data file missing")

        @pytest.mark.xfail(reason="known bug")
        def test_known_bug():
            assert False
        """))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "."],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_an_unexpected_skip_or_xfail_fails_the_run_and_is_named(tmp_path):
    r = _run(tmp_path, {})
    assert r.returncode == 1, r.stdout + r.stderr
    assert "skipped tests: 2 (0 allowed)" in r.stdout
    assert "NOT ALLOWED: test_some.py::test_needs_data: Skipped: data file missing" in r.stdout
    assert "NOT ALLOWED: test_some.py::test_known_bug: xfail: known bug" in r.stdout


def test_allowed_skips_pass_and_are_counted(tmp_path):
    r = _run(tmp_path, {"test_some.py::test_needs_data": "optional data", "test_some.py::test_known": "bug #1"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "skipped tests: 2 (2 allowed)" in r.stdout and "NOT ALLOWED" not in r.stdout
