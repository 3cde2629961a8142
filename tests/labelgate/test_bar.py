"""At exactly the bar, the Gate and the Monitor agree: a labeler must stay below a maximum (ECE, anchor
flip rate, cross-family disagreement), so a value at it fails the gate's rule and blocks the batch, and
`gate check` says the same. Measured on the demo's GPT-4, whose cross-family disagreement is a ratio of
counts (74 of 393 pairs), computed by each side on its own."""

from __future__ import annotations

from dataclasses import replace

import pytest

from labelgate import gate
from labelgate import monitor as mon
from labelgate.store.tasks import get_task
from qc.gate import compare
from tests.labelgate.test_gate import LEAD

LABELER = "GPT-4"


def at_bar(demo_db, bar: float) -> tuple[bool, bool, gate.CheckResult]:
    """The gate's verdict on the cross-family rule and the Monitor's block of the latest batch, both at `bar`."""
    task = get_task(demo_db, "mt-bench")
    rules = [replace(c, threshold=bar) if c.metric == "cross_family_disagreement" else c
             for c in gate.criteria_for(demo_db, task)]
    gate.save_criteria(demo_db, task, rules, user=LEAD)
    mon.save_thresholds(demo_db, task, replace(mon.thresholds_for(demo_db, task), max_cross_family_disagreement=bar),
                        user=LEAD)
    ev = gate.evaluate(demo_db, task, LABELER, n_resamples=100)
    (rule,) = [r for r in ev.result.results if r.criterion.metric == "cross_family_disagreement"]
    batch = mon.monitor(demo_db, task, LABELER, only_latest=True, diversity_batches=0).latest
    return rule.passed, bool(batch["blocked"]), gate.check(demo_db, task, LABELER)


def test_the_gate_and_the_monitor_agree_below_at_and_above_the_bar(demo_db):
    task = get_task(demo_db, "mt-bench")
    ev = gate.evaluate(demo_db, task, LABELER, n_resamples=100)
    rate = ev.metrics["cross_family_disagreement"].estimate
    batch = mon.monitor(demo_db, task, LABELER, only_latest=True, diversity_batches=0).latest
    assert batch["cross_family_disagreement"] == pytest.approx(rate, abs=1e-15)   # the same number, two ways
    for bar in (rate, rate * (1 + 1e-14)):   # at the bar, and a rounding error off it: at it
        passed, blocked, check = at_bar(demo_db, bar)
        assert (passed, blocked) == (False, True)
        assert check.batch_breaches == (f"cross-family disagreement {rate:.0%} ≥ {bar:.0%}",)
        assert not check.ok
    passed, blocked, _ = at_bar(demo_db, rate + 1e-4)
    assert (passed, blocked) == (True, False)
    passed, blocked, _ = at_bar(demo_db, rate - 1e-4)
    assert (passed, blocked) == (False, True)


def test_compare_takes_a_value_a_rounding_error_off_the_bar_as_at_it():
    assert not compare(7 / 20, "<", 0.35) and compare(7 / 20, "<=", 0.35)
    assert not compare(0.1 + 0.2, "<", 0.3) and compare(0.1 + 0.2, ">=", 0.3)
    assert compare(0.3499999, "<", 0.35) and not compare(0.3500001, "<", 0.35)
    with pytest.raises(ValueError, match="comparator"):
        compare(0.1, "=<", 0.2)
