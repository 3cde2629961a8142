"""A corpus of malformed and hostile files: each is refused with a message naming the row or column
and leaves the database exactly as it was, or is stored exactly as written (and later shown inertly,
see test_inert_rendering); formula cells never come out live in a CSV export."""

from __future__ import annotations

import csv
import datetime
import decimal
import io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelgate import export as exporter
from labelgate.cli import main as cli
from labelgate.store import items as item_store
from labelgate.store.tasks import create_task, get_task
from labelgate.store.users import User
from labelgate.tasks import make_spec
from tests.security.hostile import FORMULAS, MARKDOWN, RTL_EMOJI, SQL, database_state


@pytest.fixture
def task_db(db):
    create_task(db, "sent", "categorical", make_spec("categorical", labels=["pos", "neg", "neu"]))
    return db


def run(db, *args) -> int:
    return cli(["--db", str(db.path), *args])


def parquet(table: dict) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table(table), buf)
    return buf.getvalue()


def csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)  # CRLF rows: fields holding a CR or LF are quoted
    return out.getvalue()


TEN_MB = "x" * 10_000_000

BAD_ITEMS = {
    "unquoted_commas.csv": ("item_id,text\nr1,Hello, this is the first story\nr2,Second story, told twice\n",
                            ["2 rows do not have the header's 2 fields (item_id, text): 3 fields in rows 1, 2",
                             "double quotes"]),
    "some_rows_ragged.csv": ("item_id,text\nr1,fine\nr2,Hello, there\nr3,fine\nr4\n",
                             ["3 fields in row 2", "1 field in row 4"]),
    "all_rows_short.csv": ("item_id,text,domain\na,x\nb,y\n", ["2 fields in rows 1, 2"]),
    "unclosed_quote.csv": ('item_id,text\na,"never closed\nb,fine\nc,fine\n', ["row 1 opens a double quote"]),
    "nul_byte.csv": (b"item_id,text\na,he\x00llo\n", ["NUL byte at offset 17 (line 2)"]),
    "utf16.csv": ("item_id,text\na,hello\n".encode("utf-16"), ["not UTF-8", "offset 0"]),
    "cp1252.csv": ("item_id,text\na,\u201csmart quotes\u201d\n".encode("cp1252"), ["not UTF-8", "offset 15"]),
    "png_renamed.csv": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["NUL byte"]),
    "ten_mb_field.csv": (f"item_id,text\na,short\nb,{TEN_MB}\n", ["column text: a value longer than 1,000,000 "
                                                                  "characters in row 2"]),
    "ten_mb_field.jsonl": (json.dumps({"item_id": "a", "text": TEN_MB}) + "\n",
                           ["column text: a value longer than 1,000,000 characters in row 1"]),
    "semicolons.csv": ("item_id;text\na;hello\n", ["missing column item_id", "found: item_id;text"]),
    "wrong_columns.csv": ("id,body\n1,hello\n", ["missing column item_id", "found: id, body"]),
    "whitespace_ids.csv": ("item_id,text\n   ,hello\nb,x\n", ["column item_id: empty id in row 1"]),
    "formula_dupes.csv": (csv_text([["item_id", "text"], [FORMULAS[0], "a"], ["ok", "b"], [FORMULAS[0], "c"]]),
                          ["duplicate ids", "rows 1 ('=HYPERLINK(", "3 ('=HYPERLINK("]),
    "header_only.csv": ("item_id,text\n", ["header but no rows"]),
    "blank.csv": ("\n\n  \n", ["the file is empty"]),
    "dup_columns.csv": ("item_id,text,text \na,x,y\n", ["text appear more than once"]),
    "array_line.jsonl": ('{"item_id": "a", "text": "x"}\n[1, 2]\n"just a string"\n',
                         ["line 2: a JSON list, not an object", "line 3: a JSON str, not an object"]),
    "broken.jsonl": ('{"item_id": "a", "text": "x"}\n{"item_id": "b", "text": \n', ["line 2: not valid JSON"]),
    "nested_text.jsonl": ('{"item_id": "a", "text": {"html": "<b>x</b>"}}\n',
                          ["column text: a list or object where text is expected, in row 1"]),
    "list_text.parquet": (parquet({"item_id": ["a", "b"], "text": [["a", "list"], ["b"]]}),
                          ["column text: a list or object where text is expected, in rows 1 (", "), 2 ("]),
    "garbage.parquet": (b"PAR1 this is not parquet at all", ["cannot be read as PARQUET"]),
    "sheet.xlsx": (b"PK\x03\x04", ["unknown file type .xlsx"]),
}


@pytest.mark.parametrize("name", sorted(BAD_ITEMS))
def test_hostile_item_files_are_refused_naming_the_place_and_change_nothing(task_db, tmp_path, capsys, name):
    content, fragments = BAD_ITEMS[name]
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = database_state(task_db)
    assert run(task_db, "import", "items", str(path), "--task", "sent", "--text-columns", "text") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"labelgate: error: {name}:")
    for fragment in fragments:
        assert fragment in err, err
    assert len(err) < 1000  # one readable sentence, not a 10 MB echo of the file
    assert database_state(task_db) == before


HOSTILE = FORMULAS + MARKDOWN + RTL_EMOJI + SQL


def test_hostile_text_ids_and_metadata_are_stored_exactly_as_written(task_db, tmp_path, capsys):
    rows = [["item_id", "text", "note"]] + [[value, f"text {value}\nsecond line, with a comma", value]
                                           for value in HOSTILE]
    path = tmp_path / "hostile.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv_text(rows).encode())  # with a BOM and CRLF line ends
    assert run(task_db, "import", "items", str(path), "--task", "sent", "--text-columns", "text") == 0
    assert f"added {len(HOSTILE)} items" in capsys.readouterr().out
    items = item_store.get_items(task_db, get_task(task_db, "sent").task_id).set_index("item_id")
    # every character is kept (quoted CR and LF, tabs, RTL marks); ids are stripped of surrounding blanks
    assert sorted(items.index) == sorted(v.strip() for v in HOSTILE)
    for value in HOSTILE:
        assert items.loc[value.strip(), "fields"] == {"text": f"text {value}\nsecond line, with a comma"}
    with task_db.connect() as con:  # the SQL fragments were data, not statements
        assert con.execute("SELECT count(*) FROM items").fetchone()[0] == len(HOSTILE)


def test_metadata_of_any_parquet_type_is_kept_as_text(task_db, tmp_path, capsys):
    utc = datetime.UTC
    path = tmp_path / "typed.parquet"
    path.write_bytes(parquet({
        "item_id": ["a", "b"], "text": ["first", "second"],
        "seen": pa.array([datetime.datetime(2024, 5, 1, 12, 30), None], pa.timestamp("us")),
        "seen_utc": pa.array([datetime.datetime(2024, 5, 1, tzinfo=utc), None], pa.timestamp("ms", tz="UTC")),
        "day": [datetime.date(2024, 5, 1), None], "took": [datetime.timedelta(seconds=90), None],
        "tags": [["x", "y"], []], "source": [{"model": "gpt", "scores": [1.5, 2.0]}, None],
        "price": pa.array([decimal.Decimal("1.25"), None]), "blob": [b"\x00\x01", b"ok"],
        "score": [float("inf"), float("nan")]}))
    assert run(task_db, "import", "items", str(path), "--task", "sent", "--text-columns", "text") == 0
    meta = item_store.item_meta_frame(task_db, get_task(task_db, "sent").task_id).set_index("item_id")
    a = meta.loc["a"]
    assert (a["seen"], a["seen_utc"], a["day"], a["took"]) == \
        ("2024-05-01T12:30:00", "2024-05-01T00:00:00+00:00", "2024-05-01", "0 days 00:01:30")
    assert json.loads(a["tags"]) == ["x", "y"] and json.loads(a["source"]) == {"model": "gpt", "scores": [1.5, 2.0]}
    assert (a["price"], a["blob"], a["score"]) == ("1.25", "\x00\x01", "inf")
    assert meta.loc["b", "tags"] == "[]" and pd.isna(meta.loc["b", "seen"])


def test_jsonl_dates_and_nested_metadata_are_kept_as_written(task_db, tmp_path):
    lines = [{"item_id": "a", "text": "t1", "created_at": "2024-01-02", "timestamp": 1700000000,
              "extra": {"k": [1, None]}},
             {"item_id": "b", "text": "t2", "created_at": "not a date"}]
    path = tmp_path / "meta.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines))
    assert run(task_db, "import", "items", str(path), "--task", "sent", "--text-columns", "text") == 0
    meta = item_store.item_meta_frame(task_db, get_task(task_db, "sent").task_id).set_index("item_id")
    assert meta.loc["a", "created_at"] == "2024-01-02" and meta.loc["b", "created_at"] == "not a date"
    assert meta.loc["a", "timestamp"] == 1700000000 and json.loads(meta.loc["a", "extra"]) == {"k": [1, None]}


@pytest.fixture
def items_db(task_db, tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("item_id,text\na,first text\nb,second text\n")
    assert run(task_db, "import", "items", str(path), "--task", "sent") == 0
    return task_db


BAD_LABELS = {
    "ragged.csv": ("item_id,rater,value\na,ann,pos\nb,ann,pos,extra\n", ["3 fields", "4 fields in row 2"]),
    "formula_value.csv": ("item_id,rater,value\na,ann,=1+1\n",
                          ["column value: not one of pos, neg, neu in row 1 ('=1+1')"]),
    "sql_item.csv": (csv_text([["item_id", "rater", "value"], [SQL[1], "ann", "pos"]]),
                     ["unknown item ids in row 1 (\"' OR '1'='1\")"]),
    "nan_confidence.csv": ("item_id,rater,value,confidence\na,ann,pos,NaN\nb,ann,pos,high\n",
                           ["column confidence: not a number from 0 to 1 in rows 1 ('NaN'), 2 ('high')"]),
    "negative_sample.csv": ("item_id,rater,value,sample_index\na,gpt,pos,-1\n",
                            ["column sample_index: not a whole number >= 0 in row 1"]),
    "bom_nul.csv": (b"\xef\xbb\xbfitem_id,rater,value\na,ann,pos\x00\n", ["NUL byte"]),
    "injected_column.csv": ("item_id,rater,value,\"value); DROP TABLE llm_labels; --\"\na,ann,pos,1\n",
                            ["unexpected column value); DROP TABLE llm_labels; --"]),
}


@pytest.mark.parametrize("name", sorted(BAD_LABELS))
def test_hostile_label_files_are_refused_and_change_nothing(items_db, tmp_path, capsys, name):
    content, fragments = BAD_LABELS[name]
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    capsys.readouterr()
    before = database_state(items_db)
    # --invalid refuse: a judge's value outside the labels refuses the file too (by default it is stored apart)
    assert run(items_db, "import", "labels", str(path), "--task", "sent", "--source", "llm", "--invalid", "refuse") == 2
    err = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in err, err
    assert database_state(items_db) == before


def test_hostile_rater_batch_and_comment_are_stored_verbatim(items_db, tmp_path):
    llm = [["item_id", "rater", "value", "batch"]]
    llm += [["a", f"r{k} {v}", "pos", v] for k, v in enumerate(HOSTILE)]
    (tmp_path / "llm.csv").write_text(csv_text(llm))
    assert run(items_db, "import", "labels", str(tmp_path / "llm.csv"), "--task", "sent", "--source", "llm") == 0
    human = [["item_id", "rater", "value", "comment"]]
    human += [["b", f"e{k} {v}", "neg", v] for k, v in enumerate(HOSTILE)]
    (tmp_path / "human.csv").write_text(csv_text(human))
    assert run(items_db, "import", "labels", str(tmp_path / "human.csv"), "--task", "sent", "--source", "human") == 0
    with items_db.connect() as con:
        assert sorted(con.execute("SELECT labeler, batch FROM llm_labels").fetchall()) == \
            sorted((r[1].strip(), r[3].strip()) for r in llm[1:])
        assert sorted(con.execute("SELECT rater, comment FROM human_labels").fetchall()) == \
            sorted((r[1].strip(), r[3].strip()) for r in human[1:])


def test_a_million_rows_import_whole_or_not_at_all(items_db, tmp_path, capsys):
    n = 1_000_000
    good = "item_id,rater,value,batch\n" + "".join(
        f"{'ab'[k % 2]},gpt,pos,b{k // 2}\n" for k in range(n))
    path = tmp_path / "million.csv"
    path.write_text(good.replace(f"a,gpt,pos,b{(n - 2) // 2}\n", f"a,gpt,pos,b{(n - 2) // 2},oops\n"))
    capsys.readouterr()
    before = database_state(items_db)
    assert run(items_db, "import", "labels", str(path), "--task", "sent", "--source", "llm") == 2
    assert f"5 fields in row {n - 1}" in capsys.readouterr().err
    assert database_state(items_db) == before
    path.write_text(good)
    assert run(items_db, "import", "labels", str(path), "--task", "sent", "--source", "llm") == 0
    with items_db.connect() as con:
        assert con.execute("SELECT count(*) FROM llm_labels").fetchone()[0] == n


# --- exports ------------------------------------------------------------------------------------

def test_every_csv_export_neutralizes_formula_cells_and_keeps_negative_numbers(db, tmp_path):
    create_task(db, "tox", "continuous", make_spec("continuous", value_range=(-1, 1)))
    ids = FORMULAS + ["plain"]
    (tmp_path / "items.csv").write_text(csv_text([["item_id", "text"]] + [[i, "some text"] for i in ids]))
    assert run(db, "import", "items", str(tmp_path / "items.csv"), "--task", "tox") == 0
    gold = [["item_id", "rater", "value"]] + [[i.strip(), "=expert()", "-0.5"] for i in ids[:4]]
    (tmp_path / "gold.csv").write_text(csv_text(gold))
    assert run(db, "import", "labels", str(tmp_path / "gold.csv"), "--task", "tox", "--source", "human") == 0
    rater = "+cmd|' /C calc'!A0"
    values = ["-0.25", "0.5", "-0.75", "0.25", "-1", "1", "0"]
    llm = [["item_id", "rater", "value", "batch"]]
    llm += [[i.strip(), rater, v, "@batch"] for i, v in zip(ids, values, strict=True)]
    (tmp_path / "llm.csv").write_text(csv_text(llm))
    assert run(db, "import", "labels", str(tmp_path / "llm.csv"), "--task", "tox", "--source", "llm") == 0
    out = tmp_path / "train.csv"
    exporter.export(db, get_task(db, "tox"), rater, out, user=User("lead", "lead"), force=True,
                    force_reason="neutralization check", human_share=0.2, subsample=True)
    cells = list(csv.DictReader(io.StringIO(out.read_text())))
    assert cells, "the export wrote no rows"
    for row in cells:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (column, cell)
            assert not cell.startswith("-") or float(cell) < 0, (column, cell)  # only plain negative numbers
    by_id = {r["item_id"]: r for r in cells}
    assert "'" + FORMULAS[0] in by_id and by_id["'" + FORMULAS[0]]["value"] == "-0.5"
    assert float(by_id["'" + FORMULAS[0]]["value_num"]) == -0.5
    llm_rows = [r for r in cells if r["source"] == "llm"]
    assert llm_rows and all(r["labeler"] == "'" + rater and r["batch"] == "'@batch" for r in llm_rows)
    assert sorted((float(r["value_num"]), r["value"]) for r in llm_rows) == [(-1, "-1.0"), (0, "0.0"), (1, "1.0")]
