"""Shared fixtures: a fresh database file per test, and the demo project copied from a template."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labelgate.store import Database
from tests import skip_policy


def pytest_configure(config):
    skip_policy.register(config)


@pytest.fixture(scope="session", autouse=True)
def never_the_default_database(tmp_path_factory):
    """No test may touch data/labelgate.duckdb, the user's own database: anything that opens
    the default location without saying which file gets a throwaway one."""
    import os

    os.environ["LABELGATE_DB"] = str(tmp_path_factory.mktemp("default") / "default.duckdb")


@pytest.fixture
def db(tmp_path) -> Database:
    return Database(tmp_path / "test.duckdb")


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """The demo loaded once per session (scrypt hashing and imports take ~1 s)."""
    from labelgate.demo import load_demo

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    # the MT-Bench task alone: see cap_template and hanna_template
    assert load_demo(Database(path), student_demo=False, hanna_demo=False)
    return path


@pytest.fixture(scope="session")
def cap_template(tmp_path_factory) -> Path:
    """The student-preview demo task (UK Acts, CAP gold, five LLMs) alone, loaded once per session."""
    from labelgate.demo import load_cap_demo

    path = tmp_path_factory.mktemp("cap") / "cap.duckdb"
    assert load_cap_demo(Database(path))
    return path


@pytest.fixture(scope="session")
def hanna_template(tmp_path_factory) -> Path:
    """The six-criterion HANNA stories task alone, with the demo accounts, loaded once per session."""
    from labelgate.demo import add_demo_users, load_hanna_demo

    path = tmp_path_factory.mktemp("hanna") / "hanna.duckdb"
    add_demo_users(Database(path))
    assert load_hanna_demo(Database(path))
    return path


@pytest.fixture
def hanna_db(tmp_path, hanna_template) -> Database:
    path = tmp_path / "hanna.duckdb"
    shutil.copy(hanna_template, path)
    return Database(path)


@pytest.fixture
def cap_db(tmp_path, cap_template) -> Database:
    path = tmp_path / "cap.duckdb"
    shutil.copy(cap_template, path)
    return Database(path)


@pytest.fixture
def demo_db(tmp_path, demo_template) -> Database:
    path = tmp_path / "demo.duckdb"
    shutil.copy(demo_template, path)
    return Database(path)
