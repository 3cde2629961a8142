"""Hostile text typed into the app's forms in Chromium -- a task name (Data page), a user name
(Users page), a labeler name (Labelers page), a batch name (Data page import) and a comment
(Label page) made of markdown and HTML image beacons, a link to javascript:, RTL, emoji and SQL --
is stored exactly as typed (or refused with a message naming the field) and shown as its literal
text on every page that shows it: no request ever reaches the beacon server the test runs, no
link or image is made of it, and Plotly draws a labeler named as a link as its text."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import duckdb
import pytest

from tests.e2e.harness import ARTIFACTS, ROOT, Server, launch_chromium, log_in, wait_idle
from tests.llm_server import FakeLLMServer
from tests.security.test_inert_rendering_browser import Beacon

pytestmark = pytest.mark.e2e
PASSWORD = "hostile-pass-1"


def hostile(port: int) -> dict[str, str]:
    b = f"http://127.0.0.1:{port}"
    return {
        "task": f"**T** ![t]({b}/task.png) <img src={b}/task2> '; DROP TABLE items; -- مرحبا",
        "user": f"<img/src={b}/user.png>**U**![u]({b}/user2.png)👩‍👩‍👧\u202eRTL",  # user names have no spaces
        "labeler": f'<a href="{b}/labeler">L</a> [link](javascript:alert(1)) ![j]({b}/labeler.png) 🏳️‍🌈',
        "batch": f"<img src={b}/batch.png> [b](javascript:alert(1)) **B** ✅ שלום",
        "comment": f"**C** ![c]({b}/comment.png) <img src={b}/comment2> '; DROP TABLE items; --",
    }


def cli(db, *args):
    out = subprocess.run([sys.executable, "-m", "labelgate.cli", "--db", str(db), *args], capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


def shown_box(pg, label: str):
    """The visible widget with this label (a hidden tab or a closed expander may hold another)."""
    return pg.get_by_label(label, exact=True).filter(visible=True).first


def choose(pg, label: str, option: str) -> None:
    shown_box(pg, label).click()
    pg.get_by_role("option", name=option, exact=True).click()
    wait_idle(pg)


def fill(pg, label: str, text: str) -> None:
    box = shown_box(pg, label)
    box.fill(text)
    box.press("Enter")
    wait_idle(pg)


def click(pg, name: str, then: str | None = None) -> None:
    """Press a button; with `then`, wait for that text to appear (the rerun may start after a
    first idle state)."""
    pg.get_by_role("button", name=name, exact=True).click()
    wait_idle(pg)
    if then:
        pg.get_by_text(then).first.wait_for()
        wait_idle(pg)


def app_text(pg) -> str:
    """The page's text as a reader sees it, with what its boxes hold (plain() puts an invisible word
    joiner, U+2060, inside " -- " so that Streamlit does not turn it into a dash)."""
    values = pg.eval_on_selector_all('[data-testid="stApp"] input', "els => els.map(e => e.value)")
    return "\n".join([pg.locator('[data-testid="stApp"]').inner_text(), *values]).replace("\u2060", "")


# app_text's text, in the page: waited on until it holds what a page must show
APP_TEXT_JS = """() => [document.querySelector('[data-testid="stApp"]').innerText,
  ...[...document.querySelectorAll('[data-testid="stApp"] input')].map(e => e.value)]
  .join('\\n').replaceAll('\\u2060', '')"""


def visit(pg, url: str, task: str, *, tabs: bool = True, shows: tuple[str, ...] = ()) -> str:
    """Open a page, pick the hostile task, wait until its first view `shows` each text (the picker
    holds the task; widgets whose code loads lazily are drawn after the page is idle), then open every
    tab; the page's text as shown."""
    pg.goto(url)
    wait_idle(pg)
    seen = []

    def pick():
        box = pg.get_by_label("Task", exact=True).filter(visible=True)
        if box.count() and box.first.input_value() != task:  # the picker's box holds the chosen task
            choose(pg, "Task", task)
        seen.append(app_text(pg))

    pick()
    pg.wait_for_function(f"ts => {{ const t = ({APP_TEXT_JS})(); return ts.every(x => t.includes(x)); }}",
                         arg=[task, *shows])
    seen.append(app_text(pg))
    for k in range(pg.get_by_role("tab").count() if tabs else 0):
        pg.get_by_role("tab").nth(k).click()
        wait_idle(pg)
        pick()
    return "\n".join(seen)


def wait_shown(pg, text: str) -> None:
    """Poll (generous deadline) until the page shows `text` as written."""
    pg.wait_for_function("t => document.querySelector('[data-testid=\"stApp\"]').innerText"
                         ".replaceAll('\\u2060', '').includes(t)", arg=text)
    wait_idle(pg)


def no_live_markup(pg, port: int) -> None:
    """Nothing of the planted values became a link, an image or a script target."""
    assert pg.locator(f'img[src*=":{port}"], a[href*=":{port}"], a[href^="javascript:"]').count() == 0
    links = pg.locator('[data-testid="stMarkdownContainer"] a:not([href^="#"])')  # headings' own anchors aside
    assert links.count() == 0, [links.nth(k).get_attribute("href") for k in range(links.count())]
    assert pg.locator(".js-plotly-plot svg a").count() == 0


def test_hostile_form_inputs_are_stored_verbatim_and_shown_literally(tmp_path, demo_template):
    from playwright.sync_api import sync_playwright

    beacon = Beacon()
    v = hostile(beacon.port)
    db = tmp_path / "forms.duckdb"
    shutil.copy(demo_template, db)
    items = tmp_path / "items.csv"
    items.write_text("item_id,text\n" + "".join(f"i{k:02d},plain text number {k}\n" for k in range(12)))
    gold = tmp_path / "gold.csv"
    gold.write_text("item_id,rater,value\n" + "".join(f"i{k:02d},gold-rater,{'pos' if k % 3 else 'neg'}\n"
                                                      for k in range(12)))
    judged = tmp_path / "judged.csv"
    judged.write_text("item_id,rater,value,confidence\n" + "".join(
        f"i{k:02d},imported-judge,{'pos' if k % 2 else 'neg'},0.{k % 9 + 1}\n" for k in range(12)))

    shots = ARTIFACTS
    shots.mkdir(exist_ok=True)
    requested: list[str] = []
    dialogs: list[str] = []
    shown: dict[str, str] = {}
    llm = FakeLLMServer(answer=lambda ctx: "pos").start()
    server = Server(db)
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)

            def context():
                c = browser.new_context(viewport={"width": 1400, "height": 1000})
                c.on("request", lambda r: requested.append(r.url) if f":{beacon.port}" in r.url else None)
                pg = c.new_page()
                pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
                pg.set_default_timeout(180_000)  # 2 shared cores: generous, never a timing assertion
                return c, pg

            # the admin adds the user (and a name with a space is refused, naming the field)
            c, pg = context()
            log_in(pg, server.url, "admin", "admin-demo")
            said = []
            for name, answer in (("two words", "a user name must"), (v["user"], "Created expert")):
                fill(pg, "User name", name)
                fill(pg, "Password (8+ characters)", PASSWORD)
                click(pg, "Add user", answer)
                said.append(app_text(pg))
            assert "a user name must be non-empty and contain no spaces" in said[0]
            assert f"Created expert {v['user']}." in said[1], said[1][:1500]
            no_live_markup(pg, beacon.port)
            c.close()

            # the engineer creates the task; items and gold arrive from the command line meanwhile
            c, pg = context()
            log_in(pg, server.url, "engineer", "engineer-demo")
            pg.goto(server.url + "/data")
            wait_idle(pg)
            pg.get_by_text("Create a task", exact=True).click()
            wait_idle(pg)
            fill(pg, "Name", v["task"])
            fill(pg, "Labels, comma-separated", "pos, neg")
            click(pg, "Create task", "Created the categorical task")
            said = app_text(pg)
            assert f"Created the categorical task {v['task']}" in said, said[said.find("Created"):][:400]
            cli(db, "import", "items", str(items), "--task", v["task"])
            cli(db, "import", "labels", str(gold), "--task", v["task"], "--source", "human")
            cli(db, "calibration", "draw", "--task", v["task"], "--size", "12", "--experts-per-item", "1")

            # an imported judge's labels, the batch name typed on the Data page
            pg.goto(server.url + "/data")
            wait_idle(pg)
            pg.get_by_role("tab", name="Import", exact=True).click()
            wait_idle(pg)
            choose(pg, "Task", v["task"])
            # the radio's option, not the task table's "labels" column beside it
            pg.get_by_test_id("stRadioGroup").get_by_text("labels", exact=True).click()
            wait_idle(pg)
            pg.get_by_test_id("stRadioGroup").get_by_text("llm", exact=True).click()
            wait_idle(pg)
            pg.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(judged))
            wait_idle(pg)
            fill(pg, "Batch (rows without one)", v["batch"])
            click(pg, "Import", "added 12")

            # the labeler, typed on the Labelers page and run against the local model server
            pg.goto(server.url + "/labelers")
            wait_idle(pg)
            choose(pg, "Task", v["task"])
            fill(pg, "Name", v["labeler"])
            choose(pg, "Provider", "openai-compatible")
            fill(pg, "Model", "qwen2.5-7b-instruct")
            fill(pg, "Base URL", llm.openai_url)
            click(pg, "Save labeler", "Created labeler")
            assert f"Created labeler {v['labeler']}" in app_text(pg)
            pg.get_by_role("tab", name="Run", exact=True).click()
            wait_idle(pg)
            click(pg, "Start run")
            pg.get_by_text("done: 12 labeled, 0 failed of 12 items").wait_for(timeout=600_000)
            shown["labelers"] = app_text(pg)
            no_live_markup(pg, beacon.port)
            c.close()

            # the new expert labels with a comment; the sidebar shows their name
            c, pg = context()
            log_in(pg, server.url, v["user"], PASSWORD)
            assert v["user"] in pg.locator('[data-testid="stSidebar"]').inner_text().replace("\u2060", "")
            pg.goto(server.url + "/label")
            wait_idle(pg)
            if shown_box(pg, "Task").input_value() != v["task"]:
                choose(pg, "Task", v["task"])
            fill(pg, "Comment (optional)", v["comment"])
            pg.get_by_role("button", name=re.compile(r"^pos")).first.click()
            wait_idle(pg)
            shown["label"] = app_text(pg)
            no_live_markup(pg, beacon.port)
            c.close()

            # every page that shows them, as the engineer
            c, pg = context()
            log_in(pg, server.url, "engineer", "engineer-demo")
            for name, shows in (("data", ()), ("calibrate", (v["labeler"],)), ("gate", (v["labeler"],)),
                                ("review", ())):
                shown[name] = visit(pg, f"{server.url}/{name}", v["task"], shows=shows)
                no_live_markup(pg, beacon.port)
            shown["calibrate"] = visit(pg, f"{server.url}/calibrate", v["task"], tabs=False, shows=(v["labeler"],))
            pg.locator(".js-plotly-plot .gtitle").first.wait_for()
            drawn = " ".join(pg.locator(".js-plotly-plot svg text").all_text_contents())
            no_live_markup(pg, beacon.port)
            pg.screenshot(path=str(shots / "hostile_forms_calibrate.png"), full_page=True)
            shown["monitor"] = visit(pg, f"{server.url}/monitor", v["task"], tabs=False)
            choose(pg, "Labeler", "imported-judge")
            wait_shown(pg, v["batch"])
            shown["monitor"] = app_text(pg)
            no_live_markup(pg, beacon.port)
            pg.screenshot(path=str(shots / "hostile_forms_monitor.png"), full_page=True)
            c.close()
            browser.close()
    finally:
        server.stop()
        llm.stop()
        beacon.close()

    assert requested == [] and beacon.hits == [] and dialogs == [], (requested, beacon.hits, dialogs)
    # the literal text, where each is shown
    assert v["task"] in shown["data"] and v["task"] in shown["calibrate"] and v["task"] in shown["gate"]
    assert v["labeler"] in shown["calibrate"] and v["labeler"] in shown["gate"] and v["labeler"] in shown["labelers"]
    assert v["labeler"] in drawn  # Plotly's own text: the link drawn as its characters
    assert v["batch"] in shown["monitor"]
    assert v["user"] in shown["label"]
    # stored exactly as typed
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM tasks WHERE name = ?", [v["task"]]).fetchone() == (1,)
        assert con.execute("SELECT role FROM users WHERE name = ?", [v["user"]]).fetchone() == ("expert",)
        assert con.execute("SELECT count(*) FROM users WHERE name = 'two words'").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM labeler_versions WHERE name = ?", [v["labeler"]]).fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM llm_labels WHERE labeler = ?", [v["labeler"]]).fetchone() == (12,)
        assert con.execute("SELECT count(*) FROM llm_labels WHERE batch = ?", [v["batch"]]).fetchone() == (12,)
        assert con.execute("SELECT rater, comment FROM human_labels WHERE comment IS NOT NULL AND rater = ?",
                           [v["user"]]).fetchall() == [(v["user"], v["comment"])]
        assert con.execute("SELECT count(*) FROM items").fetchone()[0] >= 12  # the SQL was text
    finally:
        con.close()
