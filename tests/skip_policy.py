"""No silent skips: every skipped or xfailed test must be on the allow-list below, with its reason.

A test that skips because data, a package or a program is missing proves nothing while the run
still says "passed", so the run fails instead. `make test` prints the count on every run. To
allow a skip, add the test's node id (or a prefix of it) with the reason it may skip.
Registered by tests/conftest.py; on xdist workers it stays idle, the controller sees every report.
"""

from __future__ import annotations

import pytest

# node id (or prefix) -> why skipping it is expected; keep it empty unless there is no other way
ALLOWED_SKIPS: dict[str, str] = {}


def _allowed(nodeid: str) -> bool:
    return any(nodeid.startswith(prefix) for prefix in ALLOWED_SKIPS)


class SkipPolicy:
    def __init__(self) -> None:
        self.skipped: list[tuple[str, str]] = []  # (node id, reason)

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report) -> None:
        if not report.skipped:
            return
        if hasattr(report, "wasxfail"):
            reason = f"xfail: {report.wasxfail}"
        else:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        self.skipped.append((report.nodeid, reason))

    def unexpected(self) -> list[tuple[str, str]]:
        return [(nodeid, reason) for nodeid, reason in self.skipped if not _allowed(nodeid)]

    @pytest.hookimpl
    def pytest_sessionfinish(self, session) -> None:
        # a skip nobody allowed fails an otherwise green run (other failures keep their own code,
        # and exit 5, "no tests collected", stays 5)
        if self.unexpected() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter) -> None:
        bad = self.unexpected()
        terminalreporter.write_sep("-", f"skipped tests: {len(self.skipped)} ({len(self.skipped) - len(bad)} allowed)")
        for nodeid, reason in bad:
            terminalreporter.write_line(f"NOT ALLOWED: {nodeid}: {reason}", red=True)
        if bad:
            terminalreporter.write_line("skips fail the run: fix the cause, or add the test to ALLOWED_SKIPS in "
                                        "tests/skip_policy.py with the reason", red=True)


def register(config) -> None:
    if not hasattr(config, "workerinput"):  # the xdist controller, or a run without xdist
        config.pluginmanager.register(SkipPolicy(), "labelgate-skip-policy")
