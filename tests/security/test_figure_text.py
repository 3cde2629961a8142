"""Plotly reads the text it draws as a subset of HTML (<a href> is a link, <b>, <br>, <span style>
apply): every figure draws names and values from data literally. Checked on the figures' JSON here
(every title, axis, tick, legend, hover text and annotation), and drawn in Chromium in
test_hostile_forms_browser."""

from __future__ import annotations

import html
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd

from labelgate.ui import figures
from labelgate.ui.monitor_charts import distribution_figure, lines_figure

LINK = '<a href="http://x">L</a>'
HOSTILE = [LINK, "<b>bold</b><br><img src=http://127.0.0.1:9/i.png>", "<span style='font-size:90px'>big</span>",
           "R&D &lt;a&gt;"]


def strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from strings(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from strings(v)


def every_figure():
    name = HOSTILE[0]
    points = pd.DataFrame({"x": [1.0, 2.0], "y": [1.5, 2.5], "item_id": HOSTILE[1:3], "gold_num": [1.0, 2.0],
                           "pred_num": [1.5, 2.5]})
    yield figures.scatter(points, {HOSTILE[3]: (np.array([1.0, 2.0]), np.array([1.0, 2.0]))}, 1, 3, labeler=name)
    matrix = pd.DataFrame([[3, 1], [0, 2]], index=HOSTILE[:2], columns=HOSTILE[2:])
    yield figures.heatmap(matrix, f"Confusion matrix of {name}", x_title=f"{name} label", y_title=HOSTILE[1])
    bins = pd.DataFrame({"n": [3, 4], "mean_confidence": [0.3, 0.8], "accuracy": [0.4, 0.7]})
    yield figures.reliability_diagram(bins, 0.05, labeler=name)
    table = pd.DataFrame({"slice": HOSTILE, "agreement": [0.5] * 4, "agreement_ci_low": [0.4] * 4,
                          "agreement_ci_high": [0.6] * 4, "n": [5] * 4})
    yield figures.slice_bars(table, column=HOSTILE[2], signed_error=False)
    share = pd.Series([0.5, 0.5], index=HOSTILE[:2])
    yield figures.distribution_bars(share, share, labeler=name)
    agreement = pd.DataFrame(np.eye(2), index=HOSTILE[:2], columns=HOSTILE[:2])
    yield figures.agreement_matrix(agreement, {HOSTILE[0]: HOSTILE[3]}, metric="agreement")
    ci = SimpleNamespace(estimate=0.5, ci_low=0.4, ci_high=0.6)
    arm = SimpleNamespace(name=name, plateaued=False, curve=[SimpleNamespace(n_train=10, macro_f1=ci)])
    yield figures.learning_curves(SimpleNamespace(arms=[arm]))
    frame = pd.DataFrame({"batch": HOSTILE, "entropy": [1.0] * 4, "blocked": [True, False, False, True],
                          "breaches": [[HOSTILE[1], HOSTILE[2]], [], [], [LINK]], "agreement": [0.9] * 4})
    counts = pd.DataFrame({HOSTILE[0]: [1, 2, 3, 4], HOSTILE[3]: [4, 3, 2, 1]}, index=HOSTILE)
    yield distribution_figure(frame, counts, None)
    yield lines_figure(frame, {"agreement": HOSTILE[1]}, "Agreement", thresholds={HOSTILE[2]: 0.5}, mark="agreement")


def test_every_figure_draws_names_from_data_literally():
    for fig in every_figure():
        texts = list(strings(json.loads(fig.to_json())))
        for s in texts:  # nothing from data reaches Plotly as a tag or an entity of its own
            assert "<a" not in s and "<img" not in s and "<span" not in s and "<b>" not in s, s
            assert "&lt;a&gt;" not in s.replace("&amp;lt;a&amp;gt;", ""), s
        drawn = " ".join(html.unescape(s) for s in texts)  # what Plotly shows: its entities decoded
        assert any(h in drawn for h in HOSTILE), drawn[:500]  # and the names are there, as written


def test_the_labeler_named_as_a_link_is_drawn_as_its_text():
    fig = figures.reliability_diagram(pd.DataFrame({"n": [3], "mean_confidence": [0.3], "accuracy": [0.4]}), 0.05,
                                      labeler=LINK)
    assert fig.layout.title.text == "Reliability of &lt;a href=\"http://x\"&gt;L&lt;/a&gt;'s confidence (ECE 0.050)"
    assert html.unescape(fig.layout.title.text).startswith(f"Reliability of {LINK}'s")
    assert fig.data[1].name == html.escape(LINK, quote=False)
