"""The security tests drive the app through AppTest and in Chromium, with the fixtures of those tests."""

from tests.e2e.conftest import browser, page, server  # noqa: F401 - the real-browser fixtures, shared
from tests.pages.conftest import app_for  # noqa: F401 - the AppTest fixture, shared
