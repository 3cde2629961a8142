"""Pairwise self-preference counts items, not the correlated rows of both orders and outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from labelgate.calibrate import self_preference
from labelgate.tasks import Task, make_spec


def test_pairwise_self_preference_is_a_t_interval_over_items():
    task = Task(1, "pref", "pairwise", make_spec("pairwise", labels=["1", "2"]))
    rng = np.random.default_rng(0)
    n = 60
    own = rng.choice(["1", "2"], n)  # which output the labeler's family (gpt) wrote
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(n)],
                          "output_1_family": np.where(own == "1", "gpt", "llama"),
                          "output_2_family": np.where(own == "2", "gpt", "claude")})
    gold = rng.choice(["1", "2"], n)
    picks_own = rng.random(n) < 0.8  # the labeler favours its family's output
    rows = []
    for i in range(n):
        pred = own[i] if picks_own[i] else ("2" if own[i] == "1" else "1")
        for order in ("12", "21"):  # both orders: two correlated judgments of one item
            rows.append({"item_id": f"i{i}", "shown_order": order, "gold": gold[i], "pred": pred})
    est = self_preference(task, pd.DataFrame(rows), items, "gpt")
    per_item = picks_own.astype(float) - (gold == own).astype(float)
    lo, hi = stats.t.interval(0.95, n - 1, loc=per_item.mean(), scale=stats.sem(per_item))
    assert est.n == n and est.method == "t-interval over items"
    assert (est.estimate, est.ci_low, est.ci_high) == pytest.approx((per_item.mean(), lo, hi))
    assert est.ci_low > 0  # it does favour its own family
