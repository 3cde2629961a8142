"""The real-browser fixture of tests/e2e, for the reliability tests that drive Chromium."""

from tests.e2e.conftest import browser  # noqa: F401
