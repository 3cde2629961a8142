"""Hostile strings the security tests plant in data, and a fingerprint of a whole database."""

from __future__ import annotations

from labelgate.store import Database

FORMULAS = ['=HYPERLINK("http://127.0.0.1:9/x","click")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r+2+cmd"]
MARKDOWN = ["**B**![B](http://127.0.0.1:9/x.png)", "[click](http://127.0.0.1:9/l)", "<img src=http://127.0.0.1:9/i>",
            "<script>alert(1)</script>", "# heading _em_ `code` :red[red] $x^2$ :smile:"]
RTL_EMOJI = ["مرحبا بالعالم", "שלום \u202egnp.exe", "👩‍👩‍👧‍👦 🏳️‍🌈 é", "\u200bzero\u200dwidth"]
SQL = ["x'); DROP TABLE items; --", "' OR '1'='1", 'a"; DELETE FROM human_labels; --', "%' OR 1=1 --"]


def database_state(db: Database) -> dict[str, tuple[int, str]]:
    """Every table's row count and a hash of its rows: equal states mean nothing was written."""
    with db.connect() as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT internal ORDER BY table_name").fetchall()]
        rows = "md5(coalesce(string_agg(x::VARCHAR, chr(1) ORDER BY x::VARCHAR), ''))"
        return {t: con.execute(f'SELECT count(*), {rows} FROM "{t}" x').fetchone() for t in tables}
