"""Running the real app and driving Debian's Chromium: shared by the e2e tests and the benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
ARTIFACTS = ROOT / "test-artifacts"
# Every wait's deadline, for pages (new_page, the `page` fixture) and for `expect(...)` (whose own default is 5 s):
# generous, since a first page run took several seconds on a loaded 2-core CI runner. Never a timing assertion:
# a wait returns as soon as what it waits for is on the page.
TIMEOUT_MS = 120_000
SESSION_PATH = "/_labelgate/session"   # labelgate.ui.server.SESSION_PATH: where a login sets the session cookie

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
                time.sleep(0.2)  # sleep-ok: polling the health URL until the server answers
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


def launch_chromium(playwright, extra_args: tuple = (), *, low_priority: bool = False):
    """Debian's Chromium through Playwright; with `low_priority`, at nice 19 (see chromium_executable)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: install Debian's chromium (make test does this)")
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    browser = playwright.chromium.launch(executable_path=chromium_executable(low_priority=low_priority),
                                         args=CHROMIUM_FLAGS + list(extra_args))
    if low_priority:
        renice_tree(driver_pids(), LOW_PRIORITY)
    return browser


# Many experts' browsers on the server's machine. In a deployment each expert's Chromium runs on the expert's own
# computer; here 20 of them share the server's 2 cores, and took ~1.7 of them (124 CPU s against the server's 17 in
# one run): the server then starved, and every time measured was the browsers' CPU, not the app's. A test or a
# benchmark that models the deployment (tests/reliability/test_concurrency.py, benchmarks/concurrency_bench.py)
# runs the browsers -- Chromium and Playwright's driver -- at the lowest CPU priority instead, so that the server
# and the commands get the CPU they would have, and the browsers the rest. Other tests keep the default priority.
# Chromium is started under SCHED_IDLE, not only a nice value: it sets its own threads' nice (as root to -8 for
# its compositor), which a nice of 19 on the process does not survive, while the scheduling class is inherited
# by every thread and process it starts and its nice values do not matter within that class.
LOW_PRIORITY = 19


def chromium_executable(*, low_priority: bool = False) -> str:
    """CHROMIUM, or with `low_priority` a wrapper that execs it in the idle scheduling class at nice 19
    (every process and thread Chromium starts, renderers included, inherits the class)."""
    if not low_priority:
        return CHROMIUM
    wrapper = Path(tempfile.gettempdir()) / f"labelgate-chromium-idle-{os.getuid()}"
    text = f'#!/bin/sh\nexec chrt --idle 0 nice -n {LOW_PRIORITY} {CHROMIUM} "$@"\n'
    if not wrapper.exists() or wrapper.read_text() != text:
        staged = wrapper.with_name(f"{wrapper.name}.{os.getpid()}")
        staged.write_text(text)
        staged.chmod(0o755)
        os.replace(staged, wrapper)
    return str(wrapper)


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def process_tree(pids: list[int]) -> list[int]:
    """The processes and all their descendants still running (from /proc)."""
    seen, todo = [], list(pids)
    while todo:
        p = todo.pop()
        if p not in seen and os.path.exists(f"/proc/{p}"):
            seen.append(p)
            todo += _children(p)
    return seen


def driver_pids() -> list[int]:
    """This process's children that run Playwright's driver (it starts Chromium)."""
    out = []
    for pid in _children(os.getpid()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"run-driver" in f.read():
                    out.append(pid)
        except FileNotFoundError:
            continue
    return out


def renice_tree(pids: list[int], nice: int) -> None:
    """Every thread of the processes and their descendants at `nice` (a thread started later inherits it)."""
    for pid in process_tree(pids):
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                os.setpriority(os.PRIO_PROCESS, int(task), nice)
        except (FileNotFoundError, ProcessLookupError):
            continue


def tree_priorities(pids: list[int]) -> dict[str, list[str]]:
    """The CPU priority of every thread of the processes and their descendants ("idle": the idle scheduling
    class, else "nice N"), by kind of process (Chromium's --type=renderer, gpu-process, ...; "browser" for its
    main process; else the program's name), read from /proc/<pid>/task/<tid>/stat."""
    out: dict[str, list[str]] = {}
    for pid in process_tree(pids):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                raw = f.read().decode(errors="replace")
            # Chromium rewrites its children's command line as one string with spaces
            argv = raw.split("\0") if raw.count("\0") > 1 else raw.split()
            kinds = [a.removeprefix("--type=") for a in argv if a.startswith("--type=")]
            kind = kinds[0] if kinds else ("browser" if "chromium" in argv[0] else Path(argv[0]).name)
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()  # from field 3 (state) on
                nice, policy = int(fields[16]), int(fields[38])
                out.setdefault(kind, []).append("idle" if policy == os.SCHED_IDLE else f"nice {nice}")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return out


def new_page(browser, width: int = 1400, height: int = 1000, **context_args):
    """A page in a context of its own (a user of their own), every wait in it allowed TIMEOUT_MS;
    `page.context.close()` ends it."""
    context = browser.new_context(viewport={"width": width, "height": height}, **context_args)
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


# The page is idle when its script is not running AND nothing the page sent is still unanswered. The script
# state alone is not enough: a widget change goes out as a rerun message without changing that state, so right
# after a click the page still reads "notRunning" until the server starts the rerun, and a test that reads the
# page then sees the old run (under CI load that window grew to seconds). The hooks are installed on the first
# wait of each document (patching the prototypes reaches the socket Streamlit already opened), then they note
# when a websocket message last went out and last came in, and count uploads (XHR/fetch) in flight.
QUIET_JS = """since => {
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
  // an element whose code is still loading (React.lazy) shows Streamlit's skeleton until it is drawn
  if (document.querySelector('[data-testid="stApp"] [data-testid="stSkeleton"]') !== null) return false;
  // sent, no answer yet; after 45 s (a rerun request under CI load took seconds to answer) it is taken as lost
  if (q.sent > q.got && now - q.sent < 45000) return false;
  // the answer is in and has been handled; and an action just taken (a click whose message the page
  // sends a moment later, under load) has had that moment: no wait returns on the state before it
  // (`since`: when the wait began, epoch ms, so that a document loaded meanwhile reads it on its own clock)
  return now - Math.max(q.sent, q.got, since - performance.timeOrigin) > 100;
}""".replace("IDLE", IDLE)


def wait_idle(pg) -> None:
    """Wait until the page's last action has been answered and its rerun has finished."""
    pg.wait_for_function(QUIET_JS, arg=time.time() * 1000, polling=25)


# The page a login opens has drawn its main content: the login form is gone, the page's title (or, for a
# page the role may not open, its message) is there, and nothing left of an earlier run is still shown.
DRAWN_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main || main.querySelector('[data-stale="true"]')) return false;
  if ([...main.querySelectorAll('button')].some(b => b.innerText.trim() === 'Log in')) return false;
  return main.querySelector('h1, [data-testid="stAlert"]') !== null;
}"""


def log_in(pg, url: str, name: str, password: str) -> None:
    """Log in on the login page at `url`; returns once the page it opens is drawn and idle, and the
    session cookie is set (a reload or a new tab then signs in again)."""
    from playwright.sync_api import expect

    pg.goto(url)
    wait_idle(pg)
    user, secret = pg.get_by_label("User name"), pg.get_by_role("textbox", name="Password")
    user.fill(name)
    secret.fill(password)
    expect(user).to_have_value(name)
    expect(secret).to_have_value(password)
    sidebar = pg.locator('[data-testid="stSidebar"]')  # drawn by the run after the login's rerun only
    # the run after a login has the browser POST a ticket for the HttpOnly cookie (labelgate.ui.session)
    with pg.expect_request_finished(lambda r: r.method == "POST" and r.url.endswith(SESSION_PATH)):
        pg.get_by_role("button", name="Log in").click()
        refused = pg.locator('[data-testid="stMain"] [data-testid="stAlert"]')  # said under the form
        sidebar.or_(refused).first.wait_for()
        if not sidebar.count():
            raise AssertionError(f"the login of {name} was refused: {refused.first.inner_text()}")
    pg.wait_for_function(DRAWN_JS, polling=25)
    wait_idle(pg)


def wait_keys(pg) -> None:
    """Wait until the Label page's key helper (labelgate/ui/label_keys.py) is mounted: it loads after the
    page's run, and until then Escape, "?" and leaving the task picker do nothing (the answer keys are
    Streamlit's own button shortcuts and work without it)."""
    pg.wait_for_selector(".labelgate-key-hint", state="attached")
