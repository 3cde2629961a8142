"""qc.krippendorff: randomized comparison with the `krippendorff` package, long form, bad input."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest

import qc.krippendorff as qk
from qc.krippendorff import krippendorff_alpha, reliability_data_from_long

LEVELS = ("nominal", "ordinal", "interval", "ratio")
TOL = 1e-9


def _random_reliability_data(rng):
    n_raters = int(rng.integers(2, 7))
    n_units = int(rng.integers(3, 60))
    n_values = int(rng.integers(2, 9))
    truth = rng.integers(0, n_values, n_units)
    noisy = rng.random((n_raters, n_units)) < rng.uniform(0.1, 0.9)
    data = np.where(noisy, rng.integers(0, n_values, (n_raters, n_units)), truth[None, :]).astype(float)
    if rng.random() < 0.5:  # non-integer, unevenly spaced values (matters for interval / ratio)
        data = np.sqrt(data) * 2.5 + rng.choice([0.0, 0.7])
    data[rng.random(data.shape) < rng.uniform(0, 0.5)] = np.nan
    return data


ROUTES = ("rater_pairs", "dense_chunks", "sparse_chunks")


def _alpha_by_route(monkeypatch, data, level, route, **kw):
    """krippendorff_alpha forced through one of its three coincidence-matrix routes."""
    with monkeypatch.context() as mp:
        mp.setattr(qk, "_use_rater_pairs", lambda r, v: route == "rater_pairs")
        mp.setattr(qk, "_DENSE_MAX_VALUES", 10**9 if route == "dense_chunks" else 0)
        return krippendorff_alpha(data, level=level, **kw)


def _reference(data, level, value_domain=None):
    try:
        value = krippendorff.alpha(data, level_of_measurement=level, value_domain=value_domain)
    except ValueError:
        return None
    return None if np.isnan(value) else float(value)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("seed", range(25))
def test_matches_krippendorff_package_with_missing_data(seed, level, monkeypatch):
    rng = np.random.default_rng(seed)
    for _ in range(6):
        data = _random_reliability_data(rng)
        ref = _reference(data, level)
        if ref is None:  # undefined in the reference (no pairable unit, one value): we raise
            with pytest.raises(ValueError):
                krippendorff_alpha(data, level=level)
            continue
        assert krippendorff_alpha(data, level=level) == pytest.approx(ref, abs=TOL)
        for route in ROUTES:
            assert _alpha_by_route(monkeypatch, data, level, route) == pytest.approx(ref, abs=TOL), route


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("seed", range(5))
def test_sparse_path_for_many_distinct_values_matches(seed, level, monkeypatch):
    rng = np.random.default_rng(100 + seed)
    truth = rng.gamma(2.0, 2.0, 80).round(2)
    data = truth[None, :] + rng.normal(0, 1, (4, 80)).round(2)
    data = np.abs(data)
    data[rng.random(data.shape) < 0.2] = np.nan
    assert len(np.unique(data[~np.isnan(data)])) > qk._DENSE_MAX_VALUES
    ref = _reference(data, level)
    assert krippendorff_alpha(data, level=level) == pytest.approx(ref, abs=TOL)
    monkeypatch.setattr(qk, "_CHUNK_BYTES", 64 * 8 * 300)  # several unit chunks
    for route in ROUTES:
        assert _alpha_by_route(monkeypatch, data, level, route) == pytest.approx(ref, abs=TOL), route


def test_chunking_does_not_change_the_result(monkeypatch):
    rng = np.random.default_rng(3)
    data = _random_reliability_data(rng)
    ref = _reference(data, "ordinal")
    assert krippendorff_alpha(data, level="ordinal") == pytest.approx(ref, abs=TOL)
    monkeypatch.setattr(qk, "_CHUNK_BYTES", 8 * 10)  # ~1 unit per chunk
    for route in ("dense_chunks", "sparse_chunks"):
        assert _alpha_by_route(monkeypatch, data, "ordinal", route) == pytest.approx(ref, abs=TOL), route


def test_route_choice_follows_the_cost_model():
    assert qk._use_rater_pairs(5, 100)  # few raters, many values
    assert not qk._use_rater_pairs(5, 5)  # few values: per-unit counts and a BLAS product
    assert not qk._use_rater_pairs(100, 5)
    assert not qk._use_rater_pairs(3, 10_000)  # V x V bincount would be too large


def test_published_example_values():
    # Krippendorff (2011) "Computing Krippendorff's alpha-reliability", the 4 observers x 12
    # units example: nominal 0.743, ordinal 0.815, interval 0.849, ratio 0.797.
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
        [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan],
    ]
    expected = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}
    for level, value in expected.items():
        assert round(krippendorff_alpha(data, level=level), 3) == value


def test_strings_with_ordered_domain():
    words = np.array(["very low", "low", "mid", "high", "very high"])
    codes = np.array(
        [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, -1, -1, -1],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, -1, 3],
            [-1, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, -1],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, -1],
        ]
    )
    data = np.where(codes > 0, words[np.maximum(codes - 1, 0)], None).astype(object)
    assert round(krippendorff_alpha(data, level="ordinal", value_domain=words), 3) == 0.815
    assert round(krippendorff_alpha(data, level="nominal"), 3) == 0.743
    with pytest.raises(ValueError, match="ordered value_domain"):
        krippendorff_alpha(data, level="ordinal")


def test_value_domain_with_unused_values_matches_package():
    rng = np.random.default_rng(11)
    data = rng.integers(1, 4, (3, 30)).astype(float)
    domain = [0, 1, 2, 3, 4, 5]
    for level in LEVELS:
        assert krippendorff_alpha(data, level=level, value_domain=domain) == pytest.approx(
            _reference(data, level, np.array(domain, dtype=float)), abs=TOL
        )


def test_long_form_round_trip():
    rng = np.random.default_rng(5)
    data = _random_reliability_data(rng)
    rows = [
        {"item": f"u{u}", "who": f"r{r}", "score": data[r, u]}
        for r in range(data.shape[0])
        for u in range(data.shape[1])
        if not np.isnan(data[r, u])
    ]
    long = pd.DataFrame(rows).sample(frac=1.0, random_state=0)
    matrix = reliability_data_from_long(long, unit="item", rater="who", value="score")
    assert matrix.shape[0] == data.shape[0]
    assert krippendorff_alpha(matrix, level="interval") == pytest.approx(
        krippendorff_alpha(data, level="interval"), abs=1e-12
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: krippendorff_alpha([1, 2, 3]), "must be 2-D"),
        (lambda: krippendorff_alpha(np.empty((2, 0))), "empty"),
        (lambda: krippendorff_alpha([[1, 2], [1, 2]], level="absolute"), "level must be one of"),
        (lambda: krippendorff_alpha([[1, np.nan], [np.nan, 2]]), "no unit has values from at least two"),
        (lambda: krippendorff_alpha([[1, 1], [1, 1]]), "every pairable value is the same"),
        (lambda: krippendorff_alpha([[1, 2], [1, 3]], value_domain=[1, 2]), "not in value_domain"),
        (lambda: krippendorff_alpha([[1, 2], [1, -3]], level="ratio"), "non-negative"),
        (lambda: krippendorff_alpha([["a", "b"], ["a", "b"]], level="interval", value_domain=["a", "b"]),
         "numeric values"),
        (lambda: krippendorff_alpha([[np.nan, np.nan], [np.nan, np.nan]]), "only missing"),
        (lambda: reliability_data_from_long(pd.DataFrame({"unit": [1], "rater": [1]})), "missing column"),
        (lambda: reliability_data_from_long(
            pd.DataFrame({"unit": [1, 1], "rater": ["a", "a"], "value": [1, 2]})), "more than once"),
    ],
)
def test_invalid_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_alpha_from_confusion_stack_matches_point_function():
    rng = np.random.default_rng(9)
    values = np.array([1.0, 2.0, 4.0, 7.0])
    for _ in range(30):
        a = rng.choice(values, 40)
        b = np.where(rng.random(40) < 0.6, a, rng.choice(values, 40))
        cm = np.zeros((4, 4))
        np.add.at(cm, (np.searchsorted(values, a), np.searchsorted(values, b)), 1)
        for level in LEVELS:
            stacked = qk._alpha_from_cm(np.stack([cm, cm]), values, level)
            ref = krippendorff_alpha(np.vstack([a, b]), level=level, value_domain=values)
            np.testing.assert_allclose(stacked, [ref, ref], atol=TOL)
