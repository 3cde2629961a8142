"""A guard on the source: every text the pages hand to a Streamlit call that reads markdown (alerts,
captions, markdown, widget and button labels, help tooltips, metrics, expanders, spinners, toasts)
is a literal, goes through `plain` (or `rubric_markdown`), or interpolates only values that cannot
carry data (numbers, counts, roles, versions, the code's own constants). A new f-string that puts a
name, id, label, comment or error message into one of them without `plain` fails here; a value
reviewed as safe goes in REVIEWED with the reason."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "labelgate" / "ui").glob("*.py"))]

# Streamlit calls whose first argument (and label/help/body keywords) is read as markdown
MARKDOWN_CALLS = {
    "error", "warning", "info", "success", "caption", "markdown", "write", "toast", "title", "header", "subheader",
    "button", "download_button", "link_button", "page_link", "form_submit_button", "popover", "expander", "status",
    "spinner", "metric", "checkbox", "toggle", "radio", "pills", "segmented_control", "selectbox", "multiselect",
    "text_input", "number_input", "text_area", "slider", "select_slider", "date_input", "file_uploader", "tabs",
}
KEYWORDS = {"label", "help", "body", "caption"}
OPTION_CALLS = {"radio", "pills", "segmented_control"}  # their options are markdown too (unless format_func=plain)
ESCAPERS = {"plain", "rubric_markdown"}

SAFE = re.compile(
    r"^(?:[A-Z][A-Z0-9_]*|\w+\.[A-Z][A-Z0-9_]*"                # the code's own constants
    r"|(?:len|int|round|list)\(.*\)|fmt\.\w+\(.*\)|fmt_estimate\(.*\)"  # counts and formatted numbers
    r"|[\w.]*\b(?:n|n_\w+|min_n|number|version|\w+_version|role|kind|done|failed|gold_release)"
    r"|[\w.]+\[['\"](?:n_\w+|\w+_id|\w*version)['\"]\])$")               # ...count, id and version fields
REVIEWED = {
    # numbers, or text the code composes from numbers and its own words
    "(gold.labels['source'] == 'adjudicated').sum()": "a count",
    "row['calibration set']": "a count", "default_lo": "a number", "default_hi": "a number", "floor": "a percentage",
    "n_anchors": "a count", "n_changed": "a count", "old": "a release number", "new": "a release number",
    "unit": "counts and fixed words", "what": "fixed words", "use": "fixed words", "was": "a number or fixed words",
    "metric": "fixed words", "empty": "fixed words or plain()", "order": "a presentation order: '12' or '21'",
    "label": "the code's own labels (Thresholds.LABELS, button labels passed by the pages)",
    "text": "already plain() (answer_options, ui.errors)", "db": "st.status(...) of no data: a Database is never shown",
    "change.summary()": "counts", "progress.describe()": "counts and release numbers",
    "status.draft.describe()": "counts and release numbers", "effect.describe()": "a metric name and numbers",
    "drop.describe()": "a metric name and numbers",
    "warning": "labelgate.calibrate.cv_warnings: effect.describe() and drop.describe() in fixed words",
    "cost.describe()": "counts and prices", "review.describe(alpha)": "an interval of numbers",
    "test.method": "the name of a statistical test (qc)", "gold.name": "'release N' or 'the draft'",
    "result.message": "login messages: fixed words and a delay, never the name typed",
    "pages[0]": "a page of the navigation", "pages[0].title": "a page title of the code",
    'rubric_markdown(task.rubric) or "_No rubric._"': "the rubric, made inert by rubric_markdown",
    '" ".join(f"{stu.ARM_TITLES[k]}: {v}." for k, v in stu.ARMS.items())': "the code's own arm titles",
    "role": "a role name (one of four)", "saved.version": "a settings version number",
    "head": "built of plain() parts (criteria_view)", "key": "an answer key: one character of the code's keys",
    "k": "targeted.STRATEGIES: the code's own names", "v": "targeted.STRATEGIES: the code's own descriptions",
    "results[-1].draw_id": "a draw id (a number)", "max_upload_mb()": "a number of megabytes",
    "stu.ARM_TITLES[k]": "the code's own arm titles",
    "split.split_id": "a number", "split.gold_name": "'gold release N' or 'the unreleased draft' (align.splits)",
    'result.get("note", "No metric is defined on these items.")': "fixed words (align.compare)",
    "METRIC_NAMES[promoting.gate_metric(task)]": "a metric name from the code's own table (align_lab)",
}


def _unsafe(node: ast.AST, src: str) -> list[str]:
    """The interpolated expressions of `node` that are neither escaped nor known to be data-free."""
    if isinstance(node, ast.Constant):
        return []
    if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in ESCAPERS:
        return []
    if isinstance(node, ast.JoinedStr):
        return [e for v in node.values if isinstance(v, ast.FormattedValue) and v.format_spec is None
                for e in _unsafe(v.value, src)]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
            and node.args and isinstance(node.args[0], ast.GeneratorExp | ast.ListComp)):
        return _unsafe(node.args[0].elt, src)  # "sep".join(<each item>): each item is checked
    if isinstance(node, ast.BinOp):
        return _unsafe(node.left, src) + _unsafe(node.right, src)
    if isinstance(node, ast.IfExp):
        return _unsafe(node.body, src) + _unsafe(node.orelse, src)
    if isinstance(node, ast.List | ast.Tuple):
        return [e for x in node.elts for e in _unsafe(x, src)]
    expr = ast.get_source_segment(src, node) or ast.dump(node)
    return [] if SAFE.match(expr) or expr in REVIEWED else [expr]


def rendered_without_plain() -> list[str]:
    found = []
    for path in SOURCES:
        src = path.read_text()
        for node in ast.walk(ast.parse(src)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in MARKDOWN_CALLS):
                continue
            args = [*node.args[:3]] if node.func.attr == "metric" else [*node.args[:1]]
            args += [k.value for k in node.keywords if k.arg in KEYWORDS | ({"value", "delta"} if node.func.attr
                                                                              == "metric" else set())]
            plain_options = any(k.arg == "format_func" and getattr(k.value, "id", None) == "plain"
                                for k in node.keywords)
            if node.func.attr in OPTION_CALLS and not plain_options:
                args += [*node.args[1:2], *(k.value for k in node.keywords if k.arg == "options")]
            for a in args:
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: {e}" for e in _unsafe(a, src)]
    return found


def test_no_page_renders_data_as_markdown_without_plain():
    found = rendered_without_plain()
    assert not found, "wrap these in plain(...) (or, if they can never carry data, add them to REVIEWED):\n" + \
        "\n".join(found)


def test_the_guard_catches_an_unescaped_name(tmp_path, monkeypatch):
    """The rule itself can fail: the unescaped task name this lane fixed on the Data page is caught."""
    page = tmp_path / "page.py"
    page.write_text('import streamlit as st\ntask_name = "x"\nst.caption(f"at least 20% ({task_name}\'s setting)")\n'
                    'st.error(str(exc))\nst.spinner(f"labels of {labeler}")\nst.radio("Pick", names)\n'
                    'st.info(plain(f"fine {task_name}"))\nst.caption(f"{len(rows)} rows")\n')
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "SOURCES", [page])
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "ROOT", tmp_path)
    assert [f.split(": ", 1)[1] for f in rendered_without_plain()] == ["task_name", "str(exc)", "labeler", "names"]
