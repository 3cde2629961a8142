"""Nothing from data is rendered as markdown or HTML, in a real browser: markdown image beacons
planted in an item id, item text, a label option, a batch, a labeler, a task, a comment, a user
name and the rubric never reach a small HTTP server the test runs, on any page, for any role;
the planted text shows literally."""

from __future__ import annotations

import http.server
import threading

from labelgate.importer import read_table, validate_items, validate_labels
from labelgate.labeling import draw_calibration_set
from labelgate.store import Database
from labelgate.store.imports import import_items, import_labels
from labelgate.store.tasks import create_task, get_task
from labelgate.store.users import add_user
from labelgate.tasks import make_spec
from tests.e2e.harness import TIMEOUT_MS, Server, launch_chromium, log_in, wait_idle

PASSWORD = "beacon-pass-1"
PAGES = {"expert": ["label"], "engineer": ["calibrate", "compare", "review", "labelers", "monitor", "gate", "data"],
         "lead": ["gate", "monitor", "data"], "admin": ["admin"]}


class Beacon:
    """A local HTTP server counting every request it gets (an image that loads is a request)."""

    def __init__(self):
        self.hits: list[str] = []
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server API
                hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def mark(self, what: str) -> str:
        """Markdown that bolds a word and loads an image from this server, named after the field."""
        return f"**{what}**![{what}](http://127.0.0.1:{self.port}/{what}.png)"

    def close(self) -> None:
        self.httpd.shutdown()


def _import(db, task, file_name: str, text: str, *, what: str) -> None:
    parsed = read_table(file_name, data=text.encode())
    if what == "items":
        rows, cols = validate_items(parsed, task, text_columns=["text"])
        import_items(db, task, parsed, rows, cols, created_by="test")
    else:
        from labelgate.store.items import get_items

        known = set(get_items(db, task.task_id)["item_id"])
        labels = validate_labels(parsed, task, source=what, known_items=known)
        import_labels(db, task, parsed, labels, source=what, family="gpt", created_by="test")


def plant(db: Database, b: Beacon) -> dict:
    """A project whose every name and text is a beacon; returns the planted strings."""
    m = {k: b.mark(k) for k in ("task", "label", "item", "text", "rater", "labeler", "batch", "comment", "user",
                                "expert", "rubric")}
    users = {"expert": m["user"], "engineer": b.mark("engineer"), "lead": b.mark("lead"), "admin": b.mark("admin")}
    for role, name in users.items():
        add_user(db, name, role, PASSWORD)
    task = create_task(db, m["task"], "categorical", make_spec("categorical", labels=[m["label"], "plain"]),
                       rubric=f"Read carefully. {m['rubric']} <img src=http://127.0.0.1:{b.port}/html.png>",
                       experts_per_item=1, created_by="test")
    ids = [f"{m['item']}{k}" for k in range(8)]
    lines = ["item_id,text"] + [f'"{i.replace(chr(34), 2 * chr(34))}","{m["text"]} number {k}"'
                                for k, i in enumerate(ids)]
    _import(db, task, "items.csv", "\n".join(lines) + "\n", what="items")
    task = get_task(db, m["task"])

    def q(s: str) -> str:
        return '"' + s.replace('"', '""') + '"'

    human = ["item_id,rater,value,comment"] + [
        ",".join(q(x) for x in (i, m["rater"], m["label"] if k % 2 else "plain", m["comment"]))
        for k, i in enumerate(ids[:6])]
    _import(db, task, "gold.csv", "\n".join(human) + "\n", what="human")
    llm = ["item_id,rater,value,batch,confidence"] + [
        ",".join(q(x) for x in (i, m["labeler"], m["label"] if k % 3 else "plain", m["batch"], "0.8"))
        for k, i in enumerate(ids)]
    _import(db, task, "llm.csv", "\n".join(llm) + "\n", what="llm")
    draw_calibration_set(db, task, size=len(ids), experts_per_item=1, created_by="test")
    return {"marks": m, "users": users}


def visit_every_tab(pg) -> None:
    wait_idle(pg)
    tabs = pg.get_by_role("tab")
    for k in range(tabs.count()):
        tabs.nth(k).click()
        wait_idle(pg)


def test_beacons_in_data_never_load_and_show_literally(tmp_path):
    from playwright.sync_api import sync_playwright

    beacon = Beacon()
    db_path = tmp_path / "beacons.duckdb"
    planted = plant(Database(db_path), beacon)
    marks, users = planted["marks"], planted["users"]
    server = Server(db_path)
    seen_by_browser: list[str] = []
    shown: dict[str, str] = {}
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            for role, pages in PAGES.items():
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                context.on("request", lambda r: seen_by_browser.append(r.url) if str(beacon.port) in r.url else None)
                pg = context.new_page()
                pg.set_default_timeout(TIMEOUT_MS)  # 2 shared cores: generous, never a timing assertion
                log_in(pg, server.url, users[role], PASSWORD)
                for name in pages:
                    pg.goto(f"{server.url}/{name}")
                    visit_every_tab(pg)
                    # as a reader sees it: plain() keeps bare links and " -- " inert with a word joiner (U+2060)
                    shown[f"{role}/{name}"] = pg.locator('[data-testid="stApp"]').inner_text().replace("\u2060", "")
                pg.screenshot(path=str(tmp_path / f"{role}.png"), full_page=True)
                context.close()
            browser.close()
    finally:
        server.stop()
        beacon.close()
    assert seen_by_browser == [] and beacon.hits == [], (seen_by_browser, beacon.hits)
    label_page = shown["expert/label"]
    for field in ("user", "item", "label"):
        assert marks[field] in label_page, (field, label_page[:2000])
    assert "**rubric**" not in label_page  # the rubric is markdown: bold, and its image only a link
    assert marks["batch"] in shown["engineer/monitor"] and marks["labeler"] in shown["engineer/gate"]
    assert users["admin"] in shown["admin/admin"]
