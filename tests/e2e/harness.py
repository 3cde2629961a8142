"""Running the real app and driving Debian's Chromium: shared by the e2e tests and the benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
ARTIFACTS = ROOT / "test-artifacts"

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The app as a user runs it; `stop()` ends it so the test can open the database itself."""

    def __init__(self, db_path: Path, env: dict | None = None, *, port: int | None = None, args: tuple = ()):
        self.db_path = db_path
        self.port = port or free_port()  # a port of its own, or the one a stopped server used (a restart)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = db_path.with_suffix(".log")
        environ = {**os.environ, "LABELGATE_DB": str(db_path), **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(self.port),
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", *args],
            cwd=ROOT, env=environ, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(self.url + "/_stcore/health", timeout=1).status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"streamlit did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def launch_chromium(playwright):
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: install Debian's chromium (make test does this)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)


# The page is idle when its script is not running AND nothing the page sent is still unanswered. The script
# state alone is not enough: a widget change goes out as a rerun message without changing that state, so right
# after a click the page still reads "notRunning" until the server starts the rerun, and a test that reads the
# page then sees the old run (under CI load that window grew to seconds). The hooks are installed on the first
# wait of each document (patching the prototypes reaches the socket Streamlit already opened), then they note
# when a websocket message last went out and last came in, and count uploads (XHR/fetch) in flight.
QUIET_JS = """() => {
  if (!window.__lgQuiet) {
    const q = window.__lgQuiet = {sent: 0, got: 0, http: 0};
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      if (!this.__lgHooked) {
        this.__lgHooked = true;
        this.addEventListener('message', () => { q.got = performance.now(); });
      }
      q.sent = performance.now();
      return send.call(this, data);
    };
    const xsend = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function (body) {
      q.http += 1;
      this.addEventListener('loadend', () => { q.http -= 1; q.got = performance.now(); }, {once: true});
      return xsend.call(this, body);
    };
    const fetch0 = window.fetch;
    window.fetch = function (...args) {
      q.http += 1;
      return fetch0.apply(this, args).finally(() => { q.http -= 1; q.got = performance.now(); });
    };
  }
  const q = window.__lgQuiet, now = performance.now();
  if (document.querySelector('IDLE') === null || q.http > 0) return false;
  if (q.sent > q.got && now - q.sent < 15000) return false;  // sent, no answer yet (15 s: never hang on one)
  return now - Math.max(q.sent, q.got) > 100;  // the answer is in and has been handled
}""".replace("IDLE", IDLE)


def wait_idle(pg) -> None:
    """Wait until the page's last action has been answered and its rerun has finished."""
    pg.wait_for_function(QUIET_JS, polling=25)


def log_in(pg, url: str, name: str, password: str) -> None:
    pg.goto(url)
    wait_idle(pg)
    pg.get_by_label("User name").fill(name)
    pg.get_by_role("textbox", name="Password").fill(password)
    pg.get_by_role("button", name="Log in").click()
    pg.wait_for_selector('[data-testid="stSidebar"]')
    wait_idle(pg)
