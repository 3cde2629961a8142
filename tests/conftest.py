"""Shared fixtures: a fresh database file per test, and the demo project copied from a template."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labelgate.store import Database

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"


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
    assert load_demo(Database(path))
    return path


@pytest.fixture
def demo_db(tmp_path, demo_template) -> Database:
    path = tmp_path / "demo.duckdb"
    shutil.copy(demo_template, path)
    return Database(path)
