"""Reading and validating item and label files (CSV, JSONL, Parquet) before they touch the store.

An import is all-or-nothing: every problem found in the file is collected into one ImportError
message that names the rows and columns at fault, with the offending values of the first few,
and nothing is written unless there are none. Rows are numbered from 1 for the first data row
(the CSV header is not counted).

One exception to "a bad value is a bad file": an LLM label outside the task's labels or range is
the judge's error, not the file's. By default such a row is kept as an invalid output (see
INVALID_POLICIES); human labels must always fit the task.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import hashlib
import json
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from labelgate.tasks import Task

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet",
           ".pq": "parquet"}
LABEL_REQUIRED = ("item_id", "rater", "value")
LABEL_OPTIONAL = ("confidence", "batch", "shown_order", "sample_index", "comment", "criterion", "rationale")
RATIONALE_SUFFIX = "_rationale"   # wide form: the column <criterion>_rationale holds that criterion's "why"
_SHOWN_ROWS = 8  # how many row numbers a message lists before "and N more"
MAX_CELL_CHARS = 1_000_000  # a longer cell is refused (no one labels a 1 MB text; every page would carry it)
_CHUNK = 1 << 20  # text files are decoded this many bytes at a time, never as one copy
_CSV_BLOCK = 16 << 20  # Arrow reads CSV in blocks; a row must fit in one (cells hold up to 1 MB)
_CSV_STREAM_BLOCK = 4 << 20  # stage_items' blocks: a file with a longer row takes the whole-file path
_ITEM_SLICE = 5_000  # items validated this many rows at a time (memory: see validate_items)
_BOM = b"\xef\xbb\xbf"
_NUL = re.compile(b"\x00")
_SHOWN_VALUE_CHARS = 40
# What an import does with LLM values outside the task's labels or range:
#   store  - keep them as invalid outputs (llm_invalid_labels): counted in the labeler's invalid rate,
#            left out of every metric and export
#   refuse - refuse the file, naming the rows and values
#   clip   - clip numbers to the range (ordinal, continuous); what cannot be clipped (text, a label the
#            task does not have, an empty answer) is stored as an invalid output
INVALID_POLICIES = ("store", "refuse", "clip")


class ImportFileError(ValueError):
    """The file cannot be imported; the message lists every problem found."""


@dataclass(frozen=True)
class ParsedFile:
    frame: pd.DataFrame
    file_name: str
    sha256: str


def _rows(mask: pd.Series | np.ndarray, values: pd.Series | np.ndarray | None = None,
          numbers: np.ndarray | None = None) -> str:
    """'rows 3, 7 and 2 more', or with `values` (aligned with the mask) 'rows 3 ('6'), 7 ('0') and 2 more'.

    `numbers`: the file row of each position (a wide file melted to one row per criterion)."""
    idx = np.flatnonzero(np.asarray(mask))
    if numbers is not None:   # one mention per file row (its criteria share the row)
        idx = np.asarray(list({int(numbers[i]): i for i in idx[::-1]}.values())[::-1], dtype=int)
        if values is None:
            return _rows_numbered([int(numbers[i]) for i in idx])
    shown = idx[:_SHOWN_ROWS]
    num = (lambda i: int(numbers[i])) if numbers is not None else (lambda i: i + 1)
    if values is None:
        parts = [str(num(i)) for i in shown]
    else:
        vals = np.asarray(values, dtype=object)
        parts = [f"{num(i)} ({_show_value(vals[i])})" for i in shown]
    more = f" and {len(idx) - _SHOWN_ROWS} more" if len(idx) > _SHOWN_ROWS else ""
    return f"row{'s' if len(idx) > 1 else ''} {', '.join(parts)}{more}"


def _rows_numbered(idx) -> str:
    """'row 3' or 'rows 1, 4, 9 and 12 more' for 1-based row numbers."""
    shown = ", ".join(str(i) for i in idx[:_SHOWN_ROWS])
    more = f" and {len(idx) - _SHOWN_ROWS} more" if len(idx) > _SHOWN_ROWS else ""
    return f"row{'s' if len(idx) > 1 else ''} {shown}{more}"


def _show_value(v) -> str:
    """A cell as a message shows it: quoted, numbers without a trailing .0, long text cut."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return "empty"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        v = int(v)
    text = str(v).strip()
    if text == "":
        return "empty"
    if len(text) > _SHOWN_VALUE_CHARS:
        text = text[:_SHOWN_VALUE_CHARS - 3] + "..."
    return repr(text)


def read_table(path: str | Path, *, data: bytes | memoryview | None = None,
               file_name: str | None = None) -> ParsedFile:
    """Read a CSV, JSONL or Parquet file into a DataFrame (CSV: all text; Parquet keeps its types).

    `data` lets the web page pass an uploaded file's buffer (a memoryview is read without a
    copy); `path` then only supplies the name.
    """
    name, fmt, buf, sha = _open_file(path, data, file_name)
    if fmt == "parquet":
        frame = _read_parquet(buf, name)
    else:
        if buf[:3] == _BOM:
            buf = buf[3:]
        _check_text(buf, name)
        frame = _read_csv(buf, name) if fmt == "csv" else _read_jsonl(buf, name)
    if frame.empty:
        raise ImportFileError(f"{name}: the file has a header but no rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    _check_unique_columns(list(frame.columns), name)
    _check_cell_sizes(frame, name)
    return ParsedFile(frame.reset_index(drop=True), name, sha)


def _open_file(path: str | Path, data: bytes | memoryview | None, file_name: str | None):
    """(name, format, buffer, sha256) of a file to import; refuses an unknown type or an empty file."""
    path = Path(path)
    name = file_name or path.name
    fmt = FORMATS.get(Path(name).suffix.lower())
    if fmt is None:
        suffix = Path(name).suffix or "(none)"
        raise ImportFileError(f"{name}: unknown file type {suffix}; use .csv, .jsonl or .parquet")
    if data is None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ImportFileError(f"{name}: no such file") from None
    buf = memoryview(data).cast("B")
    sha = hashlib.sha256(buf).hexdigest()
    if len(buf) == 0 or (len(buf) <= 65536 and not bytes(buf).strip()):
        raise ImportFileError(f"{name}: the file is empty")
    return name, fmt, buf, sha


def read_columns(file_name: str, data: bytes | memoryview) -> list[str]:
    """The column names of a file, from its header alone (CSV's first line, Parquet's schema, the
    keys of JSONL's first object): cheap enough for every rerun of a page; the file itself is read
    by `read_table` when it is imported."""
    fmt = FORMATS.get(Path(file_name).suffix.lower())
    buf = memoryview(data).cast("B")
    try:
        if fmt == "parquet":
            return [str(c).strip() for c in pq.read_schema(pa.BufferReader(pa.py_buffer(buf))).names]
        head = buf[3:_CHUNK] if buf[:3] == _BOM else buf[:_CHUNK]
        first = next(_text_lines(head), "")
        if fmt == "csv":
            return [c.strip() for c in next(csv.reader([first]), [])]
        if fmt == "jsonl":
            value = json.loads(first)
            return [str(k).strip() for k in value] if isinstance(value, dict) else []
    except (UnicodeDecodeError, ValueError, csv.Error, pa.ArrowException):
        pass  # read_table names the problem at import
    return []


def _check_text(buf: memoryview, name: str) -> None:
    """Refuse a text file holding a NUL byte or bytes that are not UTF-8, naming where."""
    if buf[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ImportFileError(f"{name}: encoded as UTF-16, not UTF-8 (byte 0x{buf[0]:02x} at offset 0); "
                              "save the file as UTF-8 and import it again")
    nul = _NUL.search(buf)
    if nul is not None:
        line = bytes(buf[:nul.start()]).count(b"\n") + 1
        raise ImportFileError(f"{name}: a NUL byte at offset {nul.start()} (line {line}): this is not a text file; "
                              "export it again as UTF-8 text")
    decoder = codecs.getincrementaldecoder("utf-8")()
    for start in range(0, len(buf), _CHUNK):
        pending = len(decoder.getstate()[0])  # bytes of a character cut at the previous chunk's end
        try:
            decoder.decode(buf[start:start + _CHUNK], final=start + _CHUNK >= len(buf))
        except UnicodeDecodeError as exc:
            offset = start - pending + exc.start
            raise ImportFileError(
                f"{name}: not UTF-8 text (byte 0x{buf[offset]:02x} at offset {offset}); "
                "save the file as UTF-8 and import it again") from None


def _text_lines(buf: memoryview):
    """The decoded lines of a UTF-8 buffer, one at a time (for the csv module, without a copy of it all)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    tail = ""
    for start in range(0, len(buf), _CHUNK):
        parts = (tail + decoder.decode(buf[start:start + _CHUNK])).split("\n")
        tail = parts.pop()
        for part in parts:
            yield part + "\n"
    tail += decoder.decode(b"", final=True)
    if tail:
        yield tail


def _read_csv(buf: memoryview, name: str) -> pd.DataFrame:
    """Every cell as text, empty cells as ''. A row with more or fewer fields than the header (an
    unquoted comma in a value, a missing column) is refused with its row number, never shifted."""
    header = next(csv.reader(_text_lines(buf[:_CHUNK])), [])
    _check_unique_columns([h.strip() for h in header], name)  # pandas would rename them to x.1
    ragged = []

    def on_invalid_row(row) -> str:
        ragged.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(pa.py_buffer(buf), **_csv_options(header, on_invalid_row))
    except pa.ArrowInvalid as exc:
        _diagnose_csv(buf, name, header)  # names the row when the csv module can
        raise ImportFileError(f"{name}: cannot be read as CSV: {exc}") from None
    if ragged or _odd_quotes(buf):
        _diagnose_csv(buf, name, header)  # an odd number of quotes: perhaps one is never closed
    if ragged:  # Arrow skipped rows the csv module found fine: never import the rest without them
        raise ImportFileError(f"{name}: {len(ragged)} rows do not have the header's {len(header)} fields "
                              f"(first: {ragged[0].text[:80]!r})")
    return _csv_frame(table)


def _csv_options(header: list[str], on_invalid_row, *, blocks: bool = False) -> dict:
    """Arrow's options for a CSV import: every cell text ('' when empty), rows may span lines.
    `blocks`: for the streaming reader, one block at a time (no read-ahead of several)."""
    return {"read_options": pacsv.ReadOptions(block_size=_CSV_STREAM_BLOCK if blocks else _CSV_BLOCK,
                                              use_threads=not blocks),
            "parse_options": pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid_row),
            "convert_options": pacsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                    strings_can_be_null=False, quoted_strings_can_be_null=False)}


def _odd_quotes(buf: memoryview) -> bool:
    return sum(bytes(buf[i:i + _CHUNK]).count(b'"') for i in range(0, len(buf), _CHUNK)) % 2 == 1


def _csv_frame(batch: pa.RecordBatch | pa.Table) -> pd.DataFrame:
    return batch.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get)


def _diagnose_csv(buf: memoryview, name: str, header: list[str]) -> None:
    """Raise the message that names the rows whose field count differs from the header's (the slow
    path, only for a file Arrow refused)."""
    csv.field_size_limit(MAX_CELL_CHARS + 1)
    counts: dict[int, list[int]] = {}
    row = 0
    try:
        reader = csv.reader(_text_lines(buf), strict=True)
        next(reader, None)
        for row, record in enumerate(reader, start=1):
            if record and len(record) != len(header):
                counts.setdefault(len(record), []).append(row)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise ImportFileError(f"{name}: row {row + 1} has a value longer than {MAX_CELL_CHARS:,} characters, "
                                  "the most a cell may hold") from None
        if "unexpected end of data" in str(exc):
            raise ImportFileError(f"{name}: row {row + 1} opens a double quote that is never closed, so every "
                                  "later line would be read into one value") from None
        raise ImportFileError(f"{name}: cannot be read as CSV in row {row + 1}: {exc}") from None
    if counts:
        n_bad = sum(len(r) for r in counts.values())
        parts = [f"{n} field{'s' if n != 1 else ''} in {_rows_numbered(rows)}" for n, rows in sorted(counts.items())]
        raise ImportFileError(
            f"{name}: {n_bad} row{'s do' if n_bad > 1 else ' does'} not have the header's {len(header)} fields "
            f"({', '.join(header)}): " + "; ".join(parts) +
            ". A value holding a comma must be in double quotes; nothing was read from this file")


def _read_jsonl(buf: memoryview, name: str) -> pd.DataFrame:
    """One JSON object per line; a line that is not one is refused with its number."""
    records, bad = [], []
    for line_no, line in enumerate(_text_lines(buf), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            bad.append(f"line {line_no}: not valid JSON ({exc.msg} at character {exc.pos + 1})")
            continue
        if not isinstance(value, dict):
            bad.append(f"line {line_no}: a JSON {type(value).__name__}, not an object")
            continue
        records.append(value)
    if bad:
        more = f"; and {len(bad) - _SHOWN_ROWS} more lines" if len(bad) > _SHOWN_ROWS else ""
        raise ImportFileError(f"{name}: cannot be read as JSONL (one object per line): "
                              + "; ".join(bad[:_SHOWN_ROWS]) + more)
    return pd.DataFrame.from_records(records)


def _read_parquet(buf: memoryview, name: str) -> pd.DataFrame:
    try:
        return pq.read_table(pa.BufferReader(pa.py_buffer(buf))).to_pandas()
    except Exception as exc:  # noqa: BLE001 - Arrow's own message says what is wrong with the file
        raise ImportFileError(f"{name}: cannot be read as PARQUET: {exc}") from None


def _check_cell_sizes(frame: pd.DataFrame, name: str) -> None:
    """A cell longer than MAX_CELL_CHARS is refused: nobody reads it, and every page would carry it."""
    problems = []
    for col in frame.columns:
        s = frame[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            too_long = s.map(lambda v: isinstance(v, str) and len(v) > MAX_CELL_CHARS).to_numpy(bool) \
                if s.dtype == object else (s.str.len() > MAX_CELL_CHARS).fillna(False).to_numpy(bool)
            if too_long.any():
                problems.append(f"column {col}: a value longer than {MAX_CELL_CHARS:,} characters in {_rows(too_long)}")
    if problems:
        raise ImportFileError(f"{name}: " + "; ".join(problems) + " (the most a cell may hold)")


def _check_unique_columns(columns: list[str], name: str) -> None:
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise ImportFileError(f"{name}: column{'s' if len(dupes) > 1 else ''} {', '.join(dupes)} appear more than once")


def _as_text(col: pd.Series) -> pd.Series:
    """Strings with empty/NaN as missing."""
    s = col.astype("string").str.strip()
    return s.mask(s == "")


def _non_scalar(col: pd.Series) -> np.ndarray:
    """True where a cell holds a list, dict or array (JSON and Parquet allow them)."""
    if col.dtype != object:
        return np.zeros(len(col), dtype=bool)
    return np.fromiter((isinstance(v, (list, tuple, dict, set, np.ndarray)) for v in col), bool, len(col))


def _as_number(col: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(numbers, present): numeric columns (Parquet, JSON) pass through; text is parsed."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        num = col.astype(float)
        return num, num.notna()
    text = _as_text(col)
    return pd.to_numeric(text, errors="coerce").astype(float), text.notna()


def _missing_columns(frame: pd.DataFrame, required, name: str, hint: str = "") -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ImportFileError(
            f"{name}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(found: {', '.join(frame.columns)}){hint}")


def content_hash(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def default_text_columns(frame: pd.DataFrame, id_column: str, task: Task,
                         medians: dict[str, float] | None = None) -> list[str]:
    """The columns shown to people and models when the user names none.

    Pairwise tasks show input, output_1 and output_2; otherwise, columns of free text (a
    median of 30+ characters or names like text/input/output/prompt/response) are text and
    the rest metadata. `medians`: each column's median length, when `frame` holds only the
    header (a file read in blocks, `stage_items`).
    """
    if task.text_columns:
        return list(task.text_columns)
    if task.kind == "pairwise":
        return [c for c in ("input", "output_1", "output_2") if c in frame.columns]
    named = {"text", "input", "output", "prompt", "response", "question", "answer", "story", "content"}
    chosen = []
    for col in frame.columns:
        if col == id_column:
            continue
        s = frame[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            if col.lower() in named or (medians[col] if medians is not None
                                        else s.astype("string").str.len().median()) >= 30:
                chosen.append(col)
    return chosen


def _item_arrays(frame: pd.DataFrame, id_column: str, text_columns: list[str]) -> tuple[list, list, list]:
    """Each row's fields and meta as JSON text and its content hash: Arrow string chunks.

    In slices, each turned into Arrow strings at once: the cells as Python objects (several times
    the file's size) never exist for the whole file at once (an 80 MB upload held ~400 MB here)."""
    meta_columns = [c for c in frame.columns if c != id_column and c not in text_columns]
    fields_json, meta_json, hashes = [], [], []
    for start in range(0, len(frame), _ITEM_SLICE):
        records = frame.iloc[start:start + _ITEM_SLICE].to_dict("records")
        fields = [{c: ("" if pd.isna(r[c]) else str(r[c])) for c in text_columns} for r in records]
        fields_json.append(pa.array([json.dumps(f, ensure_ascii=False) for f in fields], pa.string()))
        hashes.append(pa.array([content_hash(f) for f in fields], pa.string()))
        meta_json.append(pa.array([json.dumps({c: _json_value(r[c]) for c in meta_columns}, ensure_ascii=False)
                                   for r in records], pa.string()))
        del records, fields
    return fields_json, meta_json, hashes


def validate_items(parsed: ParsedFile, task: Task, *, id_column: str = "item_id",
                   text_columns: list[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Check an item file; return (item_id, fields, meta, content_hash) rows and the text columns."""
    frame, name = parsed.frame, parsed.file_name
    _missing_columns(frame, [id_column], name, "; name the id column with --id-column")
    if text_columns and task.text_columns and list(text_columns) != list(task.text_columns):
        raise ImportFileError(
            f"{name}: --text-columns {', '.join(text_columns)} differ from the columns task {task.name} shows"
            f" ({', '.join(task.text_columns)}); every item of a task shows the same columns")
    text_columns = list(text_columns) if text_columns else default_text_columns(frame, id_column, task)
    _missing_columns(frame, text_columns, name, "; check --text-columns")
    nested = [f"column {c}: a list or object where text is expected, in {_rows(bad, frame[c])}"
              for c in dict.fromkeys([id_column, *text_columns]) if (bad := _non_scalar(frame[c])).any()]
    if nested:  # JSON/Parquet cells holding lists or objects: name them before pandas trips over them
        raise ImportFileError(f"{name}: " + "; ".join(nested))
    problems = []
    if not text_columns:
        problems.append("no text columns: name the columns to show with --text-columns")
    if task.kind == "pairwise":
        for col in ("output_1", "output_2"):
            if col not in text_columns:
                problems.append(
                    f"a pairwise task needs the two outputs in columns output_1 and output_2 ({col} missing)")
    ids = _as_text(frame[id_column])
    if ids.isna().any():
        problems.append(f"column {id_column}: empty id in {_rows(ids.isna())}")
    dup = ids.duplicated(keep=False) & ids.notna()
    if dup.any():
        problems.append(f"column {id_column}: duplicate ids in {_rows(dup, ids)}")
    for col in text_columns:
        empty = _as_text(frame[col]).isna()
        if empty.all():
            problems.append(f"column {col}: every row is empty")
    if problems:
        raise ImportFileError(f"{name}: " + "; ".join(problems))
    fields_json, meta_json, hashes = _item_arrays(frame, id_column, text_columns)

    def column(chunks: list) -> pd.arrays.ArrowStringArray:
        return pd.arrays.ArrowStringArray(pa.chunked_array(chunks, pa.string()))

    out = pd.DataFrame({
        "item_id": ids.astype(object),
        "fields": column(fields_json),
        "meta": column(meta_json),
        "content_hash": column(hashes),
    })
    return out, text_columns


class StagedItems:
    """An items file checked and turned into the rows to store, on disk: a Parquet file of item_id,
    fields, meta, content_hash and row_no beside no copy in memory (`stage_items`). Delete it with
    `discard()` (or use it as a context manager) once imported."""

    def __init__(self, path: Path, parsed: ParsedFile, n_rows: int, text_columns: list[str]):
        self.path, self.parsed, self.n_rows, self.text_columns = path, parsed, n_rows, text_columns

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> StagedItems:
        return self

    def __exit__(self, *exc) -> None:
        self.discard()


_STAGED = pa.schema([("item_id", pa.string()), ("fields", pa.string()), ("meta", pa.string()),
                     ("content_hash", pa.string()), ("row_no", pa.int64())])


class _Refused(Exception):
    """A problem found while reading in blocks: the whole-file path names it (`stage_items`)."""


_STAGE_PREFIX = "labelgate-items-"   # then the pid of the process staging, so that a sweep knows whose it is


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_staged_items(folder: str | Path | None = None) -> list[Path]:
    """Delete the staged items files (`stage_items`) that a process killed mid-import left behind.

    Each name carries the pid of the process that staged it: a file of a process that no longer runs
    goes, one of a live process (an import running now, here or in another process) stays. Files named
    the older way, without a pid, go once they are an hour old. Run when the app starts and before each
    staging. Returns what was deleted.
    """
    removed = []
    for f in Path(folder or tempfile.gettempdir()).glob(f"{_STAGE_PREFIX}*.parquet"):
        owner = f.name[len(_STAGE_PREFIX):].split("-", 1)[0]
        try:
            stale = (not _alive(int(owner))) if owner.isdigit() else time.time() - f.stat().st_mtime > 3600
        except (FileNotFoundError, OverflowError):
            continue
        if stale:
            f.unlink(missing_ok=True)
            removed.append(f)
    return removed


def stage_items(path: str | Path, task: Task, *, data: bytes | memoryview | None = None,
                file_name: str | None = None, id_column: str = "item_id",
                text_columns: list[str] | None = None) -> StagedItems:
    """`read_table` and `validate_items` of an items file, in blocks, into a Parquet file on disk.

    A CSV file is read block by block (Arrow's streaming reader over the buffer, no copy of it) and
    each block's rows go to the staged file as soon as they are checked, so memory holds the upload
    and one block, never the parsed file and its rows besides (an 80 MB upload took the server
    ~580 MiB above its size this way). Checks that span the file (duplicate ids, a text column empty
    in every row) run at the end, before anything is stored: the import stays all-or-nothing. A file
    with any problem, and JSONL or Parquet files, take the whole-file path (`read_table`,
    `validate_items`), so that every message is the one it always gave.
    """
    name, fmt, buf, sha = _open_file(path, data, file_name)
    parsed = ParsedFile(pd.DataFrame(), name, sha)
    sweep_staged_items()
    fd, tmp = tempfile.mkstemp(prefix=f"{_STAGE_PREFIX}{os.getpid()}-", suffix=".parquet")
    os.close(fd)
    staged = StagedItems(Path(tmp), parsed, 0, [])
    try:
        if fmt != "csv":
            raise _Refused
        staged.n_rows, staged.text_columns = _stage_csv(buf, name, task, id_column, text_columns, staged.path)
        return staged
    except _Refused:
        pass
    except BaseException:
        staged.discard()
        raise
    try:   # the whole file at once: raises the message naming the problem, else stages what it read
        whole = read_table(path, data=buf, file_name=name)
        items, cols = validate_items(whole, task, id_column=id_column, text_columns=text_columns)
        del whole
        table = pa.Table.from_pandas(items.assign(row_no=np.arange(1, len(items) + 1, dtype=np.int64)),
                                     preserve_index=False).cast(_STAGED)
        pq.write_table(table, staged.path)
        staged.n_rows, staged.text_columns = len(items), cols
        return staged
    except BaseException:
        staged.discard()
        raise


def _stage_csv(buf: memoryview, name: str, task: Task, id_column: str, text_columns: list[str] | None,
               out: Path) -> tuple[int, list[str]]:
    """The CSV path of `stage_items`: (rows staged, text columns); raises _Refused on any problem."""
    if buf[:3] == _BOM:
        buf = buf[3:]
    _check_text(buf, name)
    header = next(csv.reader(_text_lines(buf[:_CHUNK])), [])
    columns = [h.strip() for h in header]
    _check_unique_columns(columns, name)
    if _odd_quotes(buf):
        _diagnose_csv(buf, name, header)  # raises when a quote is never closed (as _read_csv does)

    def blocks():
        ragged = []

        def on_invalid_row(row) -> str:
            ragged.append(row)
            return "skip"

        try:
            reader = pacsv.open_csv(pa.BufferReader(pa.py_buffer(buf)),
                                    **_csv_options(header, on_invalid_row, blocks=True))
            for batch in reader:
                if ragged:
                    raise _Refused
                frame = _csv_frame(batch)
                frame.columns = columns
                yield frame
        except pa.ArrowInvalid:
            raise _Refused from None
        if ragged:
            raise _Refused

    # what validate_items decides from the header alone
    head = pd.DataFrame({c: pd.Series([], dtype="string") for c in columns})
    if id_column not in columns or (text_columns and task.text_columns
                                    and list(text_columns) != list(task.text_columns)):
        raise _Refused
    if not text_columns and not task.text_columns and task.kind != "pairwise":
        lengths: dict[str, list] = {c: [] for c in columns}   # the median length of each column: a first pass
        for frame in blocks():
            for c in columns:
                lengths[c].append(frame[c].str.len().to_numpy())
        medians = {c: (float(np.median(np.concatenate(v))) if v and sum(map(len, v)) else np.nan)
                   for c, v in lengths.items()}
        del lengths
        text_columns = default_text_columns(head, id_column, task, medians)
    else:
        text_columns = list(text_columns) if text_columns else default_text_columns(head, id_column, task)
    if not text_columns or any(c not in columns for c in text_columns) or (
            task.kind == "pairwise" and not {"output_1", "output_2"} <= set(text_columns)):
        raise _Refused
    ids, filled, n = [], dict.fromkeys(text_columns, False), 0
    with pq.ParquetWriter(out, _STAGED, use_dictionary=["content_hash"]) as writer:
        for frame in blocks():
            try:
                _check_cell_sizes(frame, name)
            except ImportFileError:
                raise _Refused from None
            block_ids = _as_text(frame[id_column])
            if block_ids.isna().any():
                raise _Refused
            for c in text_columns:
                filled[c] = filled[c] or bool(_as_text(frame[c]).notna().any())
            fields_json, meta_json, hashes = _item_arrays(frame, id_column, text_columns)
            id_array = pa.array(block_ids.astype(object), pa.string())
            ids.append(id_array)
            writer.write_table(pa.table({
                "item_id": id_array, "fields": pa.chunked_array(fields_json, pa.string()),
                "meta": pa.chunked_array(meta_json, pa.string()),
                "content_hash": pa.chunked_array(hashes, pa.string()),
                "row_no": pa.array(np.arange(n + 1, n + len(frame) + 1, dtype=np.int64))}, schema=_STAGED))
            n += len(frame)
            del frame, fields_json, meta_json, hashes
    if n == 0 or not all(filled.values()):
        raise _Refused
    all_ids = pa.chunked_array(ids, pa.string())
    if len(pc.unique(all_ids)) != len(all_ids):
        raise _Refused
    return n, text_columns


def _melt_wide(frame: pd.DataFrame, task: Task, name: str) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """A wide label file (item_id, rater, one column per criterion, optional <criterion>_rationale and the
    long form's optional columns) as long rows, one per non-empty criterion cell; with each row's file
    row number and the problems of its columns."""
    _missing_columns(frame, ("item_id", "rater"), name,
                     f"; a wide label file has item_id, rater and one column per criterion "
                     f"({', '.join(task.criterion_names)})")
    problems = []
    crit_cols = [c for c in task.criterion_names if c in frame.columns]
    why_cols = {c: c + RATIONALE_SUFFIX for c in crit_cols if c + RATIONALE_SUFFIX in frame.columns}
    shared = [c for c in LABEL_OPTIONAL if c in frame.columns and c not in ("criterion", "rationale")]
    allowed = {"item_id", "rater", *crit_cols, *why_cols.values(), *shared}
    unknown = [c for c in frame.columns if c not in allowed]
    if unknown:
        known = [*LABEL_OPTIONAL[:5], *task.criterion_names, *(c + RATIONALE_SUFFIX for c in task.criterion_names)]
        problems.append(f"unexpected column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                        f"(allowed in a wide file: item_id, rater, {', '.join(known)})")
    parts, numbers = [], []
    for c in crit_cols:
        present = _as_text(frame[c]).notna().to_numpy()
        for r in np.flatnonzero(~present):
            if c in why_cols and pd.notna(_as_text(frame[why_cols[c]]).iloc[r]):
                problems.append(f"column {why_cols[c]}: a rationale without an answer in column {c} in row {r + 1}")
                break
        part = frame.loc[present, ["item_id", "rater", *shared]].copy()
        part["criterion"] = c
        part["value"] = frame.loc[present, c].to_numpy(dtype=object)
        part["rationale"] = frame.loc[present, why_cols[c]].to_numpy(dtype=object) if c in why_cols else None
        part["_pos"] = np.flatnonzero(present)
        parts.append(part)
    long = pd.concat(parts, ignore_index=True).sort_values(["_pos"], kind="stable").reset_index(drop=True)
    numbers = long.pop("_pos").to_numpy() + 1
    if long.empty:
        problems.append(f"no answers: every cell of the criterion columns ({', '.join(crit_cols)}) is empty")
    return long, numbers, problems


def _clip_to_range(task: Task, raw: pd.Series, value: pd.Series, value_num: pd.Series, bad: pd.Series):
    """Numbers outside the task's scale or range moved to its nearest end (--invalid clip).

    Returns (value, value_num, bad, clipped): what is still bad cannot be clipped (not a number).
    """
    lo, hi = task.spec["scale"] if task.kind == "ordinal" else task.spec["range"]
    num = pd.to_numeric(raw.astype("string").str.strip(), errors="coerce").astype(float)
    clipped = (bad & np.isfinite(num) & ((num < lo) | (num > hi))).to_numpy()
    fixed = raw.astype(object).where(~clipped, num.clip(lo, hi))
    value, value_num, bad = task.normalize_values(fixed, allow_fractional=True)
    return value, value_num, bad, clipped


def _json_value(v):
    """A metadata cell as a JSON value: numbers stay numbers (CSV text that is a number becomes one,
    so it can be binned), text stays text, and every other type a JSON or Parquet file can hold
    (timestamps, dates, durations, decimals, bytes, lists, structs) is kept as its text."""
    if isinstance(v, (list, tuple, dict, set, np.ndarray)):
        return json.dumps(v, ensure_ascii=False, default=_jsonable)
    if v is None or pd.isna(v):
        return None
    if isinstance(v, np.generic) and not isinstance(v, (np.datetime64, np.timedelta64)):
        v = v.item()
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v if math.isfinite(v) else str(v)  # JSON has no NaN or infinity
    if isinstance(v, str):
        s = v.strip()
        if s == "":
            return None
        try:
            f = float(s)
        except ValueError:
            return s
        if not math.isfinite(f):
            return s  # "nan", "inf": words, not numbers
        return int(f) if f.is_integer() and "." not in s and "e" not in s.lower() else f
    return _jsonable(v)


def _jsonable(v):
    """json.dumps' fallback inside lists and structs: arrays as lists, anything else as its text."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="backslashreplace")
    if isinstance(v, (pd.Timedelta, datetime.timedelta)):
        return str(v)
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


def validate_labels(parsed: ParsedFile, task: Task, *, source: str, known_items: set[str],
                    batch: str | None = None, invalid: str = "store") -> pd.DataFrame:
    """Check a long-form label file; return normalized rows.

    Columns: item_id, rater, value, and optionally confidence (0-1), batch, shown_order
    (pairwise: 12 or 21), sample_index, comment. `invalid` (LLM labels only, one of
    INVALID_POLICIES) says what a value outside the task's labels or range does. The returned
    frame has, besides the normalized columns, `invalid` (a judge output that is not a label;
    its text in `raw_value`, its value None) and `clipped` (a number clipped to the range).
    """
    if source not in ("human", "llm"):
        raise ImportFileError(f"--source must be human or llm; got {source!r}")
    if invalid not in INVALID_POLICIES:
        raise ImportFileError(f"--invalid must be one of {', '.join(INVALID_POLICIES)}; got {invalid!r}")
    frame, name = parsed.frame, parsed.file_name
    problems = []
    numbers = None        # wide form: the file row of each melted row
    value_column = None   # wide form: the file column of each melted row (its criterion)
    if "value" not in frame.columns and "criterion" not in frame.columns and \
            any(c in frame.columns for c in task.criterion_names):
        frame, numbers, problems = _melt_wide(frame, task, name)
        value_column = frame["criterion"].to_numpy(dtype=object)
    else:
        hint = "; labels come in long form (item_id, rater, value, and criterion when the task has several)"
        if task.is_multi:
            hint += f", or wide form with one column per criterion ({', '.join(task.criterion_names)})"
        _missing_columns(frame, LABEL_REQUIRED, name, hint)
        unknown_cols = [c for c in frame.columns if c not in LABEL_REQUIRED + LABEL_OPTIONAL]
        if unknown_cols:
            problems.append(f"unexpected column{'s' if len(unknown_cols) > 1 else ''} {', '.join(unknown_cols)} "
                            f"(allowed: {', '.join(LABEL_REQUIRED + LABEL_OPTIONAL)})")

    def rows(mask, values=None) -> str:
        return _rows(mask, values, numbers)

    item = _as_text(frame["item_id"])
    rater = _as_text(frame["rater"])
    for col, s in (("item_id", item), ("rater", rater)):
        if s.isna().any():
            problems.append(f"column {col}: empty in {rows(s.isna())}")
    # an Arrow-backed array, not the set: isin would convert a Python set element by element
    known = pd.array(sorted(known_items), dtype="string[pyarrow]")
    unknown = item.notna() & ~item.isin(known)
    if unknown.any():
        problems.append(f"column item_id: unknown item ids in {rows(unknown, item)}; import the items first")
    # the criterion of each row: named in the file, else the task's one (first) criterion
    if "criterion" in frame.columns:
        crit = _as_text(frame["criterion"]).astype(object)
        badc = crit.isna() | ~crit.isin(task.criterion_names)
        if badc.any():
            problems.append(f"column criterion: not a criterion of task {task.name} "
                            f"({', '.join(task.criterion_names)}) in {rows(badc, frame['criterion'])}")
    else:
        crit = pd.Series(task.criterion_name, index=frame.index, dtype=object)
    value = pd.Series(None, index=frame.index, dtype=object)
    value_num = pd.Series(np.nan, index=frame.index)
    clipped = np.zeros(len(frame), dtype=bool)
    judge_error = np.zeros(len(frame), dtype=bool)
    for c in task.criteria:
        m = (crit == c.name).to_numpy()
        if not m.any():
            continue
        view = task.criterion(c.name)
        raw = frame["value"][m]
        v, vn, b = view.normalize_values(raw, allow_fractional=(source == "llm"))
        cl = np.zeros(int(m.sum()), dtype=bool)
        if b.any() and source == "llm" and invalid == "clip" and view.is_numeric:
            v, vn, b, cl = _clip_to_range(view, raw, v, vn, b)
        value[m], value_num[m], clipped[m] = v.to_numpy(dtype=object), vn.to_numpy(dtype=float), cl
        if b.any():
            full = np.zeros(len(frame), dtype=bool)
            full[np.flatnonzero(m)[b.to_numpy()]] = True
            if source == "human" or invalid == "refuse":
                named = task.is_multi or "criterion" in frame.columns
                where = (f"column {c.name}" if value_column is not None else
                         f"column value ({c.name})" if named else "column value")
                problems.append(f"{where}: not {view.describe_values()} in {rows(full, frame['value'])}")
            else:
                judge_error |= full
    out = pd.DataFrame({"item_id": item, "rater": rater, "value": value,
                        "value_num": value_num})
    out["criterion"] = crit
    out["invalid"] = judge_error
    out["clipped"] = clipped
    # the judge's answer as given, for the rows that are not a label (None elsewhere: no copy of a big file)
    out["raw_value"] = None
    if judge_error.any():
        out.loc[judge_error, "raw_value"] = frame["value"][judge_error].map(
            lambda v: "" if _show_value(v) == "empty" else str(v).strip()).to_numpy()
        out.loc[judge_error, ["value", "value_num"]] = [None, np.nan]
    if "confidence" in frame.columns:
        conf, present = _as_number(frame["confidence"])
        badc = present & (conf.isna() | (conf < 0) | (conf > 1))
        if badc.any():
            problems.append(f"column confidence: not a number from 0 to 1 in {rows(badc, frame['confidence'])}")
        out["confidence"] = conf
    else:
        out["confidence"] = np.nan
    if "shown_order" in frame.columns:
        order = _as_text(frame["shown_order"])
        pairwise = crit.isin([c.name for c in task.criteria if c.kind == "pairwise"]).to_numpy()
        bado = order.notna() & pairwise & ~order.isin(["12", "21"])
        if bado.any():
            problems.append(f"column shown_order: must be 12 or 21 in {rows(bado, frame['shown_order'])}")
        if (order.notna() & ~pairwise).any():
            problems.append("column shown_order: only pairwise tasks have a presentation order "
                            f"({rows(order.notna() & ~pairwise, frame['shown_order'])})")
        out["shown_order"] = order.astype(object)
    else:
        out["shown_order"] = None
    if "sample_index" in frame.columns:
        si, present = _as_number(frame["sample_index"])
        badsi = present & (si.isna() | (si < 0) | (si != si.round()))
        if badsi.any():
            problems.append(
                f"column sample_index: not a whole number >= 0 in {rows(badsi, frame['sample_index'])}")
        out["sample_index"] = si.fillna(0).astype(int)
    else:
        out["sample_index"] = 0
    if "batch" in frame.columns:
        out["batch"] = _as_text(frame["batch"]).fillna(batch or "default")
    else:
        out["batch"] = batch or "default"
    out["comment"] = _as_text(frame["comment"]).astype(object) if "comment" in frame.columns else None
    out["rationale"] = _as_text(frame["rationale"]).astype(object) if "rationale" in frame.columns else None
    if source == "human":
        key = ["item_id", "rater", "criterion"]
    else:
        key = ["item_id", "rater", "batch", "sample_index", "shown_order", "criterion"]
    if not task.is_multi and "criterion" not in frame.columns:
        key.remove("criterion")   # the message a one-question file always gave
    dup = out.duplicated(subset=key, keep=False) & item.notna() & rater.notna()
    if dup.any():
        problems.append(f"duplicate rows for the same {' + '.join(key)} in {rows(dup, item + ' / ' + rater)}")
    if problems:
        raise ImportFileError(f"{name}: " + "; ".join(problems))
    return out
