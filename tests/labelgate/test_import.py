"""Import validation: a corpus of bad files, each refused with a message naming what is wrong,
leaving the database exactly as it was; good files in every format; idempotent re-import."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from labelgate.cli import main as cli
from labelgate.store.tasks import create_task
from labelgate.tasks import make_spec

GOOD_ITEMS = "item_id,text,domain,length\na,The first review text is long enough.,books,10\nb,Second review,film,3\n"


@pytest.fixture
def task_db(db):
    create_task(db, "sent", "categorical", make_spec("categorical", labels=["pos", "neg", "neu"]))
    create_task(db, "stars", "ordinal", make_spec("ordinal", scale=(1, 5)))
    create_task(db, "pref", "pairwise", make_spec("pairwise", labels=["1", "2", "tie"]))
    return db


def snapshot(db) -> dict:
    with db.connect() as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                for t in ("items", "human_labels", "llm_labels", "imports", "labeler_versions", "task_revisions")}


def run(db, *args) -> int:
    return cli(["--db", str(db.path), *args])


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


BAD_ITEM_FILES = {
    "empty.csv": ("", ["the file is empty"]),
    "header_only.csv": ("item_id,text\n", ["header but no rows"]),
    "no_id.csv": ("id,text\n1,hello there\n", ["missing column item_id", "found: id, text", "--id-column"]),
    "dup_ids.csv": ("item_id,text\na,x\nb,y\na,z\n", ["duplicate ids in rows 1 ('a'), 3 ('a')"]),
    "empty_id.csv": ("item_id,text\na,x\n,y\n", ["empty id in row 2"]),
    "latin1.csv": ("item_id,text\na,caf\xe9 cr\xe8me\n".encode("latin-1"), ["not UTF-8", "offset"]),
    "bad.txt": ("item_id\n1\n", ["unknown file type .txt"]),
    "broken.jsonl": ('{"item_id": "a", "text": "x"}\n{"item_id": "b", "text": \n', ["cannot be read as JSONL"]),
    "dup_cols.csv": ("item_id,text,text\na,x,y\n", ["text appear more than once"]),
}


@pytest.mark.parametrize("name", sorted(BAD_ITEM_FILES))
def test_bad_item_files_are_refused_and_change_nothing(task_db, tmp_path, capsys, name):
    content, fragments = BAD_ITEM_FILES[name]
    before = snapshot(task_db)
    assert run(task_db, "import", "items", str(write(tmp_path, name, content)), "--task", "sent") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"labelgate: error: {name}:")
    for fragment in fragments:
        assert fragment in err
    assert snapshot(task_db) == before


def test_pairwise_items_need_both_outputs(task_db, tmp_path, capsys):
    path = write(tmp_path, "p.csv", "item_id,input,output_1\na,question,answer\n")
    assert run(task_db, "import", "items", str(path), "--task", "pref") == 2
    assert "output_2 missing" in capsys.readouterr().err


def import_good_items(db, tmp_path):
    assert run(db, "import", "items", str(write(tmp_path, "items.csv", GOOD_ITEMS)), "--task", "sent") == 0


BAD_LABEL_FILES = {
    "missing_value.csv": ("item_id,rater\na,ann\n", ["missing column value", "long form"]),
    "misnamed.csv": ("item,rater,value\na,ann,pos\n", ["missing column item_id"]),
    "unknown_item.csv": ("item_id,rater,value\na,ann,pos\nzzz,ann,neg\n", ["unknown item ids in row 2 ('zzz')"]),
    "bad_value.csv": ("item_id,rater,value\na,ann,pos\nb,ann,POSITIVE\n",
                      ["not one of pos, neg, neu in row 2 ('POSITIVE')"]),
    "dup_rows.csv": ("item_id,rater,value\na,ann,pos\na,ann,pos\n",
                     ["duplicate rows", "rows 1 ('a / ann'), 2 ('a / ann')"]),
    "bad_conf.csv": ("item_id,rater,value,confidence\na,ann,pos,1.5\n",
                     ["confidence: not a number from 0 to 1 in row 1 ('1.5')"]),
    "extra_col.csv": ("item_id,rater,value,score\na,ann,pos,3\n", ["unexpected column score"]),
    "order_not_pairwise.csv": ("item_id,rater,value,shown_order\na,ann,pos,12\n", ["only pairwise tasks"]),
    "empty_rater.csv": ("item_id,rater,value\na,,pos\n", ["column rater: empty in row 1"]),
}


@pytest.mark.parametrize("name", sorted(BAD_LABEL_FILES))
def test_bad_label_files_are_refused_and_change_nothing(task_db, tmp_path, capsys, name):
    import_good_items(task_db, tmp_path)
    capsys.readouterr()
    content, fragments = BAD_LABEL_FILES[name]
    before = snapshot(task_db)
    path = write(tmp_path, name, content)
    assert run(task_db, "import", "labels", str(path), "--task", "sent", "--source", "human") == 2
    err = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in err, err
    assert snapshot(task_db) == before


def test_one_message_lists_every_problem(task_db, tmp_path, capsys):
    import_good_items(task_db, tmp_path)
    path = write(tmp_path, "many.csv", "item_id,rater,value\nzzz,ann,pos\nb,ann,bad\n")
    assert run(task_db, "import", "labels", str(path), "--task", "sent", "--source", "llm", "--invalid", "refuse") == 2
    err = capsys.readouterr().err
    assert "unknown item ids in row 1 ('zzz')" in err and "not one of pos, neg, neu in row 2 ('bad')" in err


def test_items_are_split_into_text_and_metadata_and_reimport_adds_nothing(task_db, tmp_path, capsys):
    import_good_items(task_db, tmp_path)
    assert "added 2 items" in capsys.readouterr().out
    import_good_items(task_db, tmp_path)
    assert "nothing added" in capsys.readouterr().out
    with task_db.connect() as con:
        rows = con.execute("SELECT item_id, fields, meta FROM items ORDER BY item_id").fetchall()
        (n_imports,) = con.execute("SELECT count(*) FROM imports").fetchall()[0]
    assert json.loads(rows[0][1]) == {"text": "The first review text is long enough."}
    assert json.loads(rows[0][2]) == {"domain": "books", "length": 10}  # numbers stay numbers
    assert n_imports == 1


def test_changed_item_content_under_an_existing_id_is_refused(task_db, tmp_path, capsys):
    import_good_items(task_db, tmp_path)
    before = snapshot(task_db)
    path = write(tmp_path, "changed.csv", GOOD_ITEMS.replace("Second review", "Edited review"))
    assert run(task_db, "import", "items", str(path), "--task", "sent") == 2
    assert "items b already exist with different content (row 2)" in capsys.readouterr().err
    assert snapshot(task_db) == before


def test_labels_in_every_format_and_reimport_is_idempotent(task_db, tmp_path, capsys):
    import_good_items(task_db, tmp_path)
    labels = pd.DataFrame({"item_id": ["a", "b"], "rater": ["gpt-4o", "gpt-4o"], "value": ["pos", "neg"],
                           "confidence": [0.9, 0.55], "batch": ["b1", "b1"]})
    labels.to_parquet(tmp_path / "l.parquet")
    labels.to_json(tmp_path / "l.jsonl", orient="records", lines=True)
    labels.assign(rater="claude-3").to_csv(tmp_path / "l.csv", index=False)
    for f in ("l.parquet", "l.jsonl", "l.csv"):
        assert run(task_db, "import", "labels", str(tmp_path / f), "--task", "sent", "--source", "llm") == 0
    out = capsys.readouterr().out
    assert "l.jsonl: all 2 llm labels were already imported; nothing added" in out  # same rows as the parquet
    with task_db.connect() as con:
        got = con.execute("SELECT labeler, item_id, value, confidence, batch FROM llm_labels ORDER BY 1, 2").fetchall()
        fams = dict(con.execute("SELECT name, family FROM labeler_versions").fetchall())
    assert got == [("claude-3", "a", "pos", 0.9, "b1"), ("claude-3", "b", "neg", 0.55, "b1"),
                   ("gpt-4o", "a", "pos", 0.9, "b1"), ("gpt-4o", "b", "neg", 0.55, "b1")]
    assert fams == {"gpt-4o": "gpt", "claude-3": "claude"}


def test_a_changed_label_value_is_refused_not_overwritten(task_db, tmp_path, capsys):
    import_good_items(task_db, tmp_path)
    first = write(tmp_path, "h1.csv", "item_id,rater,value\na,ann,pos\n")
    assert run(task_db, "import", "labels", str(first), "--task", "sent", "--source", "human") == 0
    second = write(tmp_path, "h2.csv", "item_id,rater,value\nb,ann,neg\na,ann,neg\n")
    assert run(task_db, "import", "labels", str(second), "--task", "sent", "--source", "human") == 2
    assert "row 2 ('neg') give a different value" in capsys.readouterr().err
    with task_db.connect() as con:
        assert con.execute("SELECT item_id, value FROM human_labels").fetchall() == [("a", "pos")]


def test_ordinal_values_people_whole_points_llms_may_average(task_db, tmp_path, capsys):
    items = write(tmp_path, "i.csv", "item_id,story\ns1,Once upon a time there was a long story.\n")
    assert run(task_db, "import", "items", str(items), "--task", "stars") == 0
    frac = write(tmp_path, "f.csv", "item_id,rater,value\ns1,ann,3.5\n")
    assert run(task_db, "import", "labels", str(frac), "--task", "stars", "--source", "human") == 2
    assert "not a whole number from 1 to 5 in row 1" in capsys.readouterr().err
    assert run(task_db, "import", "labels", str(frac), "--task", "stars", "--source", "llm") == 0
    with task_db.connect() as con:
        assert con.execute("SELECT value, value_num FROM llm_labels").fetchall() == [("3.5", 3.5)]


def test_a_second_import_cannot_change_which_columns_a_task_shows(task_db, tmp_path, capsys):
    import_good_items(task_db, tmp_path)  # the first import set the shown columns to: text
    more = write(tmp_path, "more.csv", "item_id,text,domain\nc,Third review text that is long,books\n")
    assert run(task_db, "import", "items", str(more), "--task", "sent", "--text-columns", "domain") == 2
    assert "--text-columns domain differ from the columns task sent shows (text)" in capsys.readouterr().err
    with task_db.connect() as con:
        revisions = con.execute("SELECT revision, text_columns FROM task_revisions t JOIN tasks USING (task_id)"
                                " WHERE name = 'sent' ORDER BY revision").fetchall()
    assert revisions == [(1, "[]"), (2, '["text"]')]


def _staged_or_error(task, path, whole: list, **kw):
    import labelgate.importer as importer

    real = importer.read_table
    importer.read_table = lambda *a, **k: whole.append(1) or real(*a, **k)   # the whole-file path, if taken
    try:
        with importer.stage_items(path, task, **kw) as staged:
            rows = pd.read_parquet(staged.path)
            return rows.drop(columns="row_no").to_dict("records"), list(rows["row_no"]), staged.text_columns
    except importer.ImportFileError as exc:
        return str(exc)
    finally:
        importer.read_table = real


def _whole_or_error(task, path, **kw):
    from labelgate.importer import ImportFileError, read_table, validate_items

    try:
        items, cols = validate_items(read_table(path), task, **kw)
        return items.astype(object).to_dict("records"), list(range(1, len(items) + 1)), cols
    except ImportFileError as exc:
        return str(exc)


FILLER = "lorem ipsum dolor sit amet " * 20


def _big(n: int, *, dupe_at: int | None = None, empty_id_at: int | None = None) -> str:
    """A CSV of several of stage_items' 4 MB blocks (~600 bytes a row); one flaw far from the first block."""
    rows = ["item_id,text,domain"]
    for i in range(n):
        item = "r5" if i == dupe_at else ("  " if i == empty_id_at else f"r{i}")
        rows.append(f'{item},"Text {i}, {FILLER}",d{i % 3}')
    return "\n".join(rows) + "\n"


STAGE_CASES = {
    "good.csv": GOOD_ITEMS,
    "bom_crlf.csv": "\ufeffitem_id,text\r\na,\"multi\r\nline, quoted\"\r\n b ,x\r\n",
    "auto_columns.csv": "item_id,story,short,notes\na,A story that is surely long enough to be text.,x,"
                        "\"Quite a long note, yes, quite long\"\nb,Another story of some length for the median.,y,n\n",
    "numbers_meta.csv": "item_id,text,score,flag\na,t1,1.5,true\nb,t2,-0,nan\nc,t3,7,\n",
    "empty_text_column.csv": "item_id,text,other\na,,x\nb, ,y\n",
    "ragged.csv": "item_id,text\na,x\nb,y,z\n",
    "header_only.csv": "item_id,text\n",
    "no_id.csv": "id,text\na,x\n",
    "big.csv": _big(20_000),
    "big_dupe.csv": _big(20_000, dupe_at=15_000),
    "big_empty_id.csv": _big(20_000, empty_id_at=19_999),
}


@pytest.mark.parametrize("name", sorted(STAGE_CASES))
@pytest.mark.parametrize("columns", [None, ["text"]], ids=["default-columns", "text-column"])
def test_reading_in_blocks_gives_the_rows_or_the_message_of_reading_the_whole_file(task_db, tmp_path, name,
                                                                                      columns):
    """stage_items (the Data page and `import items`, in 4 MB blocks) against read_table + validate_items."""
    from labelgate.store.tasks import get_task

    task = get_task(task_db, "sent")
    path = write(tmp_path, name, STAGE_CASES[name])
    kw = {"text_columns": columns} if columns and "text" in STAGE_CASES[name].split("\n")[0] else {}
    whole = []
    staged = _staged_or_error(task, path, whole, **kw)
    assert staged == _whole_or_error(task, path, **kw)
    if not isinstance(staged, str):
        assert whole == []   # a valid CSV is read in blocks only


def test_a_duplicate_id_blocks_apart_is_refused_naming_both_rows_and_nothing_is_stored(task_db, tmp_path, capsys):
    path = write(tmp_path, "big_dupe.csv", STAGE_CASES["big_dupe.csv"])
    before = snapshot(task_db)
    assert run(task_db, "import", "items", str(path), "--task", "sent", "--text-columns", "text") == 2
    assert "column item_id: duplicate ids in rows 6 ('r5'), 15001 ('r5')" in capsys.readouterr().err
    assert snapshot(task_db) == before
