"""Reading and validating item and label files (CSV, JSONL, Parquet) before they touch the store.

An import is all-or-nothing: every problem found in the file is collected into one ImportError
message that names the rows and columns at fault, and nothing is written unless there are none.
Rows are numbered from 1 for the first data row (the CSV header is not counted).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from labelgate.tasks import Task

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet",
           ".pq": "parquet"}
LABEL_REQUIRED = ("item_id", "rater", "value")
LABEL_OPTIONAL = ("confidence", "batch", "shown_order", "sample_index", "comment")
_SHOWN_ROWS = 8  # how many row numbers a message lists before "and N more"


class ImportFileError(ValueError):
    """The file cannot be imported; the message lists every problem found."""


@dataclass(frozen=True)
class ParsedFile:
    frame: pd.DataFrame
    file_name: str
    sha256: str


def _rows(mask: pd.Series | np.ndarray) -> str:
    idx = np.flatnonzero(np.asarray(mask)) + 1
    shown = ", ".join(str(i) for i in idx[:_SHOWN_ROWS])
    more = f" and {len(idx) - _SHOWN_ROWS} more" if len(idx) > _SHOWN_ROWS else ""
    return f"row{'s' if len(idx) > 1 else ''} {shown}{more}"


def read_table(path: str | Path, *, data: bytes | None = None, file_name: str | None = None) -> ParsedFile:
    """Read a CSV, JSONL or Parquet file into a DataFrame of strings (Parquet keeps its types).

    `data` lets the web page pass an uploaded file's bytes; `path` then only supplies the name.
    """
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
    sha = hashlib.sha256(data).hexdigest()
    if not data.strip():
        raise ImportFileError(f"{name}: the file is empty")
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(io.BytesIO(data))
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise ImportFileError(
                    f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                    "save the file as UTF-8 and import it again") from None
            if fmt == "csv":
                header = next(csv.reader(io.StringIO(text)), [])
                _check_unique_columns([h.strip() for h in header], name)  # pandas would rename them to x.1
                frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
            else:
                frame = pd.read_json(io.StringIO(text), lines=True, dtype=False)
    except ImportFileError:
        raise
    except Exception as exc:  # the parsers' own messages name the line
        raise ImportFileError(f"{name}: cannot be read as {fmt.upper()}: {exc}") from None
    if frame.empty:
        raise ImportFileError(f"{name}: the file has a header but no rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    _check_unique_columns(list(frame.columns), name)
    return ParsedFile(frame.reset_index(drop=True), name, sha)


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


def default_text_columns(frame: pd.DataFrame, id_column: str, task: Task) -> list[str]:
    """The columns shown to people and models when the user names none.

    Pairwise tasks show input, output_1 and output_2; otherwise, columns of free text (a
    median of 30+ characters or names like text/input/output/prompt/response) are text and
    the rest metadata.
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
            if col.lower() in named or s.astype("string").str.len().median() >= 30:
                chosen.append(col)
    return chosen


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
    nested = [f"column {c}: a list or object where text is expected, in {_rows(bad)}"
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
        problems.append(f"column {id_column}: duplicate ids {', '.join(sorted(set(ids[dup]))[:5])} in {_rows(dup)}")
    for col in text_columns:
        empty = _as_text(frame[col]).isna()
        if empty.all():
            problems.append(f"column {col}: every row is empty")
    if problems:
        raise ImportFileError(f"{name}: " + "; ".join(problems))
    meta_columns = [c for c in frame.columns if c != id_column and c not in text_columns]
    records = frame.to_dict("records")
    fields = [{c: ("" if pd.isna(r[c]) else str(r[c])) for c in text_columns} for r in records]
    meta = [{c: _json_value(r[c]) for c in meta_columns} for r in records]
    out = pd.DataFrame({
        "item_id": ids.astype(object),
        "fields": [json.dumps(f, ensure_ascii=False) for f in fields],
        "meta": [json.dumps(m, ensure_ascii=False) for m in meta],
        "content_hash": [content_hash(f) for f in fields],
    })
    return out, text_columns


def _json_value(v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, str):
        s = v.strip()
        if s == "":
            return None
        try:  # numbers in CSV arrive as text; keep them numeric so they can be binned
            f = float(s)
            return int(f) if f.is_integer() and "." not in s and "e" not in s.lower() else f
        except ValueError:
            return s
    return v


def validate_labels(parsed: ParsedFile, task: Task, *, source: str, known_items: set[str],
                    batch: str | None = None) -> pd.DataFrame:
    """Check a long-form label file; return normalized rows.

    Columns: item_id, rater, value, and optionally confidence (0-1), batch, shown_order
    (pairwise: 12 or 21), sample_index, comment.
    """
    if source not in ("human", "llm"):
        raise ImportFileError(f"--source must be human or llm; got {source!r}")
    frame, name = parsed.frame, parsed.file_name
    _missing_columns(frame, LABEL_REQUIRED, name, "; labels come in long form: item_id, rater, value")
    unknown_cols = [c for c in frame.columns if c not in LABEL_REQUIRED + LABEL_OPTIONAL]
    problems = []
    if unknown_cols:
        problems.append(f"unexpected column{'s' if len(unknown_cols) > 1 else ''} {', '.join(unknown_cols)} "
                        f"(allowed: {', '.join(LABEL_REQUIRED + LABEL_OPTIONAL)})")
    item = _as_text(frame["item_id"])
    rater = _as_text(frame["rater"])
    for col, s in (("item_id", item), ("rater", rater)):
        if s.isna().any():
            problems.append(f"column {col}: empty in {_rows(s.isna())}")
    # an Arrow-backed array, not the set: isin would convert a Python set element by element
    known = pd.array(sorted(known_items), dtype="string[pyarrow]")
    unknown = item.notna() & ~item.isin(known)
    if unknown.any():
        sample = ", ".join(sorted(set(item[unknown]))[:5])
        problems.append(f"column item_id: unknown item ids ({sample}) in {_rows(unknown)}; import the items first")
    value, value_num, bad = task.normalize_values(frame["value"], allow_fractional=(source == "llm"))
    if bad.any():
        problems.append(f"column value: not {task.describe_values()} in {_rows(bad)}")
    out = pd.DataFrame({"item_id": item, "rater": rater, "value": value,
                        "value_num": value_num})
    if "confidence" in frame.columns:
        conf, present = _as_number(frame["confidence"])
        badc = present & (conf.isna() | (conf < 0) | (conf > 1))
        if badc.any():
            problems.append(f"column confidence: not a number from 0 to 1 in {_rows(badc)}")
        out["confidence"] = conf
    else:
        out["confidence"] = np.nan
    if "shown_order" in frame.columns:
        order = _as_text(frame["shown_order"])
        if task.kind == "pairwise":
            bado = order.notna() & ~order.isin(["12", "21"])
            if bado.any():
                problems.append(f"column shown_order: must be 12 or 21 in {_rows(bado)}")
        elif order.notna().any():
            problems.append(
                f"column shown_order: only pairwise tasks have a presentation order ({_rows(order.notna())})")
        out["shown_order"] = order.astype(object)
    else:
        out["shown_order"] = None
    if "sample_index" in frame.columns:
        si, present = _as_number(frame["sample_index"])
        badsi = present & (si.isna() | (si < 0) | (si != si.round()))
        if badsi.any():
            problems.append(f"column sample_index: not a whole number >= 0 in {_rows(badsi)}")
        out["sample_index"] = si.fillna(0).astype(int)
    else:
        out["sample_index"] = 0
    if "batch" in frame.columns:
        out["batch"] = _as_text(frame["batch"]).fillna(batch or "default")
    else:
        out["batch"] = batch or "default"
    out["comment"] = _as_text(frame["comment"]).astype(object) if "comment" in frame.columns else None
    if source == "human":
        key = ["item_id", "rater"]
    else:
        key = ["item_id", "rater", "batch", "sample_index", "shown_order"]
    dup = out.duplicated(subset=key, keep=False) & item.notna() & rater.notna()
    if dup.any():
        problems.append(f"duplicate rows for the same {' + '.join(key)} in {_rows(dup)}")
    if problems:
        raise ImportFileError(f"{name}: " + "; ".join(problems))
    return out
