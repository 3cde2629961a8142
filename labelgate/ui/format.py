"""Numbers and tables as people read them: counts as integers, plain decimals, text that wraps."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from labelgate.ui.widgets import plain


def count(n) -> str:
    """An integer count with thousands separators ("1,070"), never "1070.000"."""
    return "–" if n is None or (isinstance(n, float) and math.isnan(n)) else f"{int(round(float(n))):,}"


def number(x, digits: int = 3) -> str:
    """A plain decimal: whole numbers without decimals, no scientific notation."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    x = float(x)
    if x.is_integer() and abs(x) >= 1:
        return f"{int(x):,}"
    if x != 0 and abs(x) < 10 ** -digits:  # a small coefficient keeps its significant digits, not "0.000"
        return np.format_float_positional(float(f"{x:.{digits}g}"), trim="-")
    return f"{x:,.{digits}f}"


def text_table(df: pd.DataFrame) -> None:
    """A static table whose cells wrap (nothing is cut off), every cell shown as written text."""
    shown = df.astype(object).map(lambda v: "–" if v is None or (isinstance(v, float) and math.isnan(v))
                                  else plain(v))
    shown.columns = [plain(c) for c in df.columns]
    st.table(shown, hide_index=True)


# snake_case names of the analysis tables -> what a person reads
COLUMN_NAMES = {
    "n": "items", "n_human": "gold items", "human_share": "share in the gold", "llm_share": "share in the labeler",
    "mean_signed_error": "mean signed error", "coef": "coefficient", "p_value": "p", "std_err": "std. error",
    "se": "std. error", "term": "feature",
}
_COUNTS = ("n", "items", "count", "gold items", "batch items")

# the store's column names in tables people read row by row (review queues, an item's history)
FIELD_NAMES = {
    "item_id": "item", "n_experts": "experts", "shown_order": "order shown", "sample_index": "sample",
    "created_at": "when", "decided_by": "decided by", "n_raters": "raters", "n_items": "items",
}


def display_columns(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with the store's column names (item_id, n_experts, shown_order, ...) as a person reads them;
    the values untouched (so the table still sorts), and other columns -- a labeler's own name among
    them -- as they are."""
    return df.rename(columns={c: FIELD_NAMES[c] for c in df.columns if c in FIELD_NAMES})


def history_columns(df: pd.DataFrame) -> pd.DataFrame:
    """An item's answers (experts', labelers', adjudications) as a reviewer reads them, row by row: the
    columns named as in display_columns, a missing value as "–" (st.dataframe writes "None"), a time to
    the minute and a confidence with three decimals; the labels themselves as stored."""
    out = display_columns(df).copy()
    for c in out.columns:
        s = out[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[c] = s.dt.strftime("%Y-%m-%d %H:%M").fillna("–")
        elif pd.api.types.is_float_dtype(s) and s.isna().any():
            out[c] = s.map(number)
        elif s.dtype == object:
            out[c] = s.map(lambda v: "–" if v is None or (isinstance(v, float) and math.isnan(v)) else v)
    return out


def readable(df: pd.DataFrame) -> pd.DataFrame:
    """An analysis table as text a person reads: human column names, each `x_ci_low`/`x_ci_high`
    pair folded into one "95% CI" column beside x, counts as integers, decimals without noise."""
    out = {}
    cols = list(df.columns)
    for c in cols:
        name = str(c)
        if name.endswith("ci_high") and name.replace("ci_high", "ci_low") in cols:
            continue
        if name.endswith("ci_low") and name.replace("ci_low", "ci_high") in cols:
            hi = df[name.replace("ci_low", "ci_high")]
            base = name.removesuffix("ci_low").rstrip("_ ")
            label = f"{COLUMN_NAMES.get(base, base.replace('_', ' '))} 95% CI" if base else "95% CI"
            out[label] = [f"[{number(a)}, {number(b)}]" for a, b in zip(df[name], hi, strict=True)]
            continue
        label = COLUMN_NAMES.get(name, name.replace("_", " "))
        s = df[c]
        if pd.api.types.is_bool_dtype(s):
            out[label] = s.map({True: "yes", False: "no"})
        elif pd.api.types.is_integer_dtype(s) or (pd.api.types.is_numeric_dtype(s) and name in _COUNTS):
            out[label] = s.map(count)
        elif name == "p_value":
            out[label] = s.map(lambda v: "< 0.001" if v < 0.001 else number(v))
        elif pd.api.types.is_float_dtype(s):
            out[label] = s.map(number)
        else:
            out[label] = s.astype(object).map(lambda v: "–" if v is None or (isinstance(v, float) and math.isnan(v))
                                              else str(v))
    return pd.DataFrame(out)
