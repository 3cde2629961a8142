"""The suite's own rules, checked on its source so that new tests keep them (see README, Tests):
data from inside the checkout only, no skipping on a missing package, no timing assertions, no
assertion that only bounds a value to [0, 1], no browser test that sleeps or asserts on what a page
shows at one instant."""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
BUILDERS = {TESTS / "data" / "build.py"}  # regenerates tests/data from the shared datasets, on request
CLOCKS = re.compile(r"\b(time\.monotonic|time\.perf_counter|perf_counter|monotonic|time\.time)\(|\b(elapsed|waited)\b")


def _sources():
    return [p for p in sorted(TESTS.rglob("*.py")) if p not in BUILDERS and p != Path(__file__).resolve()]


def test_no_test_reads_data_from_outside_the_checkout():
    outside = re.compile(r"""["'](/work/|/home/)|shared[/"', ]+datasets|\.\./shared""")
    found = [f"{p.relative_to(TESTS)}:{n}" for p in _sources()
             for n, line in enumerate(p.read_text().splitlines(), 1) if outside.search(line)]
    assert not found, f"ship the data under tests/data instead: {found}"


def test_a_missing_test_dependency_fails_instead_of_skipping():
    found = [str(p.relative_to(TESTS)) for p in _sources() if "importorskip(" in p.read_text()]
    assert not found, f"import the package (pin it in pyproject.toml) instead of importorskip: {found}"


def test_no_assertion_bounds_a_duration():
    """A wait polls against a deadline (`assert time.monotonic() < deadline, ...` is fine); an
    assertion on how long something took flakes on a loaded machine."""
    found = []
    for p in _sources():
        text = p.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Assert):
                src = ast.get_source_segment(text, node.test) or ""
                if CLOCKS.search(src) and "deadline" not in src:
                    found.append(f"{p.relative_to(TESTS)}:{node.lineno}: {src}")
        found += [f"{p.relative_to(TESTS)}:{n}" for n in _asserts_on_clock_readings(text)]
    assert not found, found


def _asserts_on_clock_readings(text: str) -> list[int]:
    """Lines of asserts on a name that holds a clock difference (`took = time.monotonic() - t0`)."""
    tree = ast.parse(text)
    timed = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.BinOp) and isinstance(node.value.op, ast.Sub):
            if CLOCKS.search(ast.get_source_segment(text, node.value) or ""):
                timed |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)
            and {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)} & timed]


UNIT_RANGE = re.compile(r"^0(\.0)? <= [^<>=]+ <= 1(\.0)?$|\.between\(0(\.0)?, 1(\.0)?\)")


def test_no_assertion_only_bounds_a_value_to_the_unit_interval():
    """`0 <= accuracy <= 1` holds for any accuracy: assert the value (a reference, a closed form)."""
    found = []
    for p in _sources():
        text = p.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Assert):
                parts = node.test.values if isinstance(node.test, ast.BoolOp) else [node.test]
                for part in parts:
                    src = ast.get_source_segment(text, part) or ""
                    if UNIT_RANGE.search(src):
                        found.append(f"{p.relative_to(TESTS)}:{node.lineno}: {src}")
    assert not found, found


def test_browser_tests_wait_for_what_they_check():
    """A real-browser test waits for the state it checks (`locator.wait_for()`, `expect(...)`,
    `wait_for_function`); `assert x.is_visible()` reads the page at one instant, and a sleep is a
    guess at how long the page takes: both flaked under CI load. A sleep that is the point (a kill
    at a random moment) says `# sleep-ok:` on its line."""
    browser_dirs = [TESTS / "e2e", TESTS / "security", TESTS / "reliability"]
    peek = re.compile(r"^\s*assert\b.*\.is_(visible|hidden)\(\)")
    sleep = re.compile(r"\bwait_for_timeout\(|\btime\.sleep\(")
    found = []
    for p in _sources():
        text = p.read_text()
        if not any(d in p.parents for d in browser_dirs) or "playwright" not in text and "log_in" not in text:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if peek.search(line) or (sleep.search(line) and "sleep-ok:" not in line):
                found.append(f"{p.relative_to(TESTS)}:{n}: {line.strip()}")
    assert not found, found
