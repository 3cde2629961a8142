"""Every CSV the project writes goes through `to_csv`, which neutralizes spreadsheet formulas.

A spreadsheet runs a cell that starts with = + - @ (or a tab or carriage return before one) as
a formula: an item id ``=HYPERLINK("http://...")`` or a rater ``+cmd|' /C calc'!A0`` would come
out live. OWASP's rule is applied to every text cell: such a cell gets a leading single quote,
which spreadsheets show as text and do not evaluate. Numbers stay numbers: numeric columns are
written as they are, and a text cell that is exactly a number (``-0.5``, ``-3``, ``1e-3``) is
left alone, because it cannot call anything.
"""

from __future__ import annotations

import re

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def neutralize(value):
    """`value` made inert for a spreadsheet (a text cell only; anything else is returned as is)."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def neutralize_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text columns are neutralized (numeric columns untouched)."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) or \
                pd.api.types.is_datetime64_any_dtype(s):
            continue
        out[col] = s.map(neutralize, na_action="ignore")
    out.columns = [neutralize(str(c)) for c in out.columns]
    return out


def to_csv(frame: pd.DataFrame) -> bytes:
    """`frame` as UTF-8 CSV bytes (no index), formula cells neutralized."""
    return neutralize_frame(frame).to_csv(index=False).encode("utf-8")
