"""Monitor: a generated batch history whose labeler silently changes at batch k is flagged at k only."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import roc_auc_score

from labelgate import gate
from labelgate import monitor as mon
from labelgate.cli import main as cli
from labelgate.demo import PROMPT
from labelgate.gold import load_gold
from labelgate.labelers import LabelerConfig
from labelgate.store.labelers import save_labeler
from labelgate.store.labels import append_llm_labels
from labelgate.store.tasks import get_task
from labelgate.store.users import User

DRIFTY = LabelerConfig(name="Drifty", provider="openai", model="gpt-4o", family="gpt", prompt_template=PROMPT)
LEAD = User("lead", "lead")


def add_batch(db, task, gold: pd.DataFrame, name: str, item_ids: list[str], anchors: list[str], *,
              drifted: bool, seed: int, version: str) -> None:
    """One batch of Drifty's labels plus its anchor re-run ("anchor:<name>"), as the runner records them.

    Normal: the gold label with 3% noise, confidence 0.97 when right and 0.55 when wrong.
    Drifted: every batch label is "1" (a collapsed distribution) and every anchor label is flipped.
    """
    rng = np.random.default_rng(seed)
    truth = gold.set_index("item_id")["value"]
    flip = {"1": "2", "2": "1"}
    rows = []
    for batch, ids, is_anchor in ((name, item_ids, False), (f"anchor:{name}", anchors, True)):
        for item in ids:
            right = truth[item]
            if drifted:
                value = flip[right] if is_anchor else "1"
            else:
                value = right if rng.random() > 0.03 else flip[right]
            rows.append({"task_id": task.task_id, "item_id": item, "labeler": "Drifty", "version": version,
                         "batch": batch, "sample_index": 0, "shown_order": "12", "value": value,
                         "confidence": 0.97 if value == right else 0.55, "source": "run"})
    append_llm_labels(db, pd.DataFrame(rows))


def history(db, *, n_batches: int, drift_at: int | None, n_anchors: int = 40):
    """The demo task with a new labeler Drifty and `n_batches` batches b01..; drift from batch `drift_at` (1-based)."""
    task = get_task(db, "mt-bench")
    version = save_labeler(db, task.task_id, DRIFTY, created_by="test")
    anchors = mon.draw_anchor_set(db, task, size=n_anchors, seed=1, created_by="test")
    gold = load_gold(db, task).labels
    ids = list(gold["item_id"])
    for i in range(1, n_batches + 1):
        half = ids[:100] if i % 2 else ids[100:]
        add_batch(db, task, gold, f"b{i:02d}", half, anchors, drifted=drift_at is not None and i >= drift_at,
                  seed=i, version=version)
    return task, anchors


def test_the_monitor_flags_the_batch_where_the_labeler_changes_and_not_the_earlier_ones(demo_db):
    task, anchors = history(demo_db, n_batches=6, drift_at=6)
    m = mon.monitor(demo_db, task, "Drifty")
    frame = m.batches.set_index("batch")
    assert list(frame.index) == [f"b{i:02d}" for i in range(1, 7)]
    # b01 only crosses the cross-family bar the gate shares (35%): the demo's other families err on those items
    assert list(m.blocked["batch"]) == ["b01", "b06"]
    assert frame.loc["b01", "breaches"] == ["cross-family disagreement 37% > 35%"]

    b06 = frame.loc["b06"]
    assert b06["collapsed"] and b06["top_label"] == "1" and b06["top_share"] == 1.0
    assert b06["flip_rate"] > 0.9 and b06["anchor_gold_agreement"] < 0.1
    assert any("collapsed" in s for s in b06["breaches"])
    assert any("anchor drift" in s for s in b06["breaches"])
    earlier = frame.loc[[f"b{i:02d}" for i in range(1, 6)]]
    assert (earlier["flip_rate"] < 0.15).all() and not earlier["collapsed"].any()
    assert earlier["anchor_n"].eq(len(anchors)).all()
    assert earlier["first_anchor_batch"].eq("b01").all()
    assert (earlier["auroc"] > 0.9).all() and (earlier["ece"] < 0.1).all()
    # diversity of what the labeler preferred, by hand from the demo's item file and the stored labels:
    # distinct-2 = distinct word bigrams / bigrams; semantic = 1 - mean cosine similarity of TF-IDF rows
    source = pd.read_csv(Path(__file__).resolve().parents[2] / "data" / "demo" / "mtbench_items.csv")
    source = source.set_index("item_id")
    with demo_db.connect() as con:
        labels = con.execute("SELECT batch, item_id, value FROM llm_labels WHERE labeler = 'Drifty'"
                             " AND NOT starts_with(batch, 'anchor:')").df()
    for batch in ("b01", "b06"):
        chosen = labels[labels["batch"] == batch].sort_values("item_id")
        texts = [source.loc[i, f"output_{v}"] for i, v in zip(chosen["item_id"], chosen["value"], strict=True)]
        tokens = [re.findall(r"\w+", t.lower()) for t in texts]
        bigrams = [(t[k], t[k + 1]) for t in tokens for k in range(len(t) - 1)]
        assert frame.loc[batch, "distinct_2"] == pytest.approx(len(set(bigrams)) / len(bigrams), abs=1e-12)
        rows = TfidfVectorizer(token_pattern=r"(?u)\b\w+\b").fit_transform(texts)
        sim = (rows @ rows.T).toarray()
        n = len(texts)
        mean_distance = 1 - (sim.sum() - np.trace(sim)) / (n * (n - 1))
        assert frame.loc[batch, "semantic_diversity"] == pytest.approx(mean_distance, abs=1e-9)


def test_a_breach_just_over_its_bar_says_by_how_much(demo_db):
    # b07 of this history disagrees on 35.4% of the cross-family pairs: "35% > 35%" read as no breach at all
    task, _ = history(demo_db, n_batches=7, drift_at=None)
    frame = mon.monitor(demo_db, task, "Drifty").batches.set_index("batch")
    v = frame.loc["b07", "cross_family_disagreement"]
    assert f"{v:.0%}" == "35%" and v > 0.35, v
    assert frame.loc["b07", "breaches"] == [f"cross-family disagreement {v:.1%} > 35%"]


def test_gate_check_passes_before_the_drift_and_fails_after_it(demo_db, capsys):
    task, anchors = history(demo_db, n_batches=5, drift_at=None)
    gate.decide(demo_db, task, "Drifty", user=LEAD, decision="approve", comment="steady for five batches")
    args = ["--db", str(demo_db.path), "gate", "check", "--task", "mt-bench", "--labeler", "Drifty"]
    assert cli(args) == 0
    assert "OK: Drifty approved by lead" in capsys.readouterr().out

    gold = load_gold(demo_db, task).labels
    version = gate.status(demo_db, task, "Drifty").current.labeler_version
    add_batch(demo_db, task, gold, "b06", list(gold["item_id"][:100]), anchors, drifted=True, seed=6,
              version=version)
    assert cli(args) == 1
    out = capsys.readouterr().out
    assert "NOT OK" in out and "latest batch b06 is blocked" in out and "collapsed" in out
    assert gate.status(demo_db, task, "Drifty").state == "approved"  # the approval itself is still fresh


def test_calibration_from_sql_counts_equals_the_sklearn_reference_on_the_rows(demo_db):
    task, _ = history(demo_db, n_batches=2, drift_at=None)
    gold = load_gold(demo_db, task).labels
    rng = np.random.default_rng(0)
    rows = []
    for item in gold["item_id"]:  # coarse confidences: many ties, and values on the bin edges
        conf = float(rng.choice([0.1, 0.3, 0.5, 0.7, 0.9, 1.0, 0.25]))
        value = gold.set_index("item_id").loc[item, "value"] if rng.random() < conf else "x"
        rows.append({"task_id": task.task_id, "item_id": item, "labeler": "Drifty", "version": "v", "batch": "cal",
                     "value": value, "confidence": conf, "source": "import"})
    append_llm_labels(demo_db, pd.DataFrame(rows))
    m = mon.monitor(demo_db, task, "Drifty", diversity_batches=0).batches.set_index("batch")
    frame = pd.DataFrame(rows).merge(gold[["item_id", "value"]].rename(columns={"value": "gold"}), on="item_id")
    correct = (frame["value"] == frame["gold"]).to_numpy().astype(int)
    conf = frame["confidence"].to_numpy(float)
    # the reference, not qc: scikit-learn's bin means over ten uniform bins, each bin's size counted
    # here by its definition ((lower, upper], the first bin [0, 0.1]), ECE = sum n_b |acc_b - conf_b| / n
    prob_true, prob_pred = calibration_curve(correct, conf, n_bins=10, strategy="uniform")
    edges = np.linspace(0, 1, 11)
    sizes = np.array([(((conf > lo) if k else (conf >= lo)) & (conf <= hi)).sum()
                      for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True))])
    assert sizes.sum() == len(conf) == 200
    sizes = sizes[sizes > 0]
    assert len(sizes) == len(prob_true) == 6          # 0.25 and 0.3 share the bin (0.2, 0.3]
    ece = float(np.sum(sizes * np.abs(prob_true - prob_pred)) / len(conf))
    assert ece > 0.01                                  # a value that an all-zero ECE would miss
    assert m.loc["cal", "ece"] == pytest.approx(ece, abs=1e-12)
    assert m.loc["cal", "auroc"] == pytest.approx(roc_auc_score(correct, conf), abs=1e-12)


def test_one_ece_bar_blocks_the_batch_on_the_monitor_and_fails_the_gate(demo_db):
    # labelgate.monitor.ECE_THRESHOLD: the Gate required ECE < 0.10 while the Monitor let a batch pass up to 0.15,
    # so a labeler could sit on an unblocked batch and still fail the gate on calibration
    task = get_task(demo_db, "mt-bench")
    version = save_labeler(demo_db, task.task_id, DRIFTY, created_by="test")
    gold = load_gold(demo_db, task).labels
    # every judgment says 0.9 and 156 of the 200 are right: accuracy 0.78, one bin, ECE = |0.78 - 0.9| = 0.12
    rows = [{"task_id": task.task_id, "item_id": item, "labeler": "Drifty", "version": version, "batch": "cal",
             "value": value if k < 156 else ("2" if value == "1" else "1"), "confidence": 0.9, "source": "import"}
            for k, (item, value) in enumerate(zip(gold["item_id"], gold["value"], strict=True))]
    append_llm_labels(demo_db, pd.DataFrame(rows))
    assert mon.Thresholds().max_ece == mon.ECE_THRESHOLD == 0.10
    m = mon.monitor(demo_db, task, "Drifty", diversity_batches=0).batches.set_index("batch")
    assert m.loc["cal", "ece"] == pytest.approx(0.12, abs=1e-9)
    assert m.loc["cal", "blocked"]
    assert "calibration: ECE 0.120 on the gold slice > 0.1" in m.loc["cal", "breaches"]
    ev = gate.evaluate(demo_db, task, "Drifty").evidence().set_index("criterion")
    assert ev.loc["calibration (ECE)", "required"] == "ece < 0.1"
    assert ev.loc["calibration (ECE)", "result"] == "fail"


def test_anchor_set_is_drawn_from_gold_items_only_and_bad_sizes_are_named(db, demo_db, capsys):
    task = get_task(demo_db, "mt-bench")
    assert cli(["--db", str(demo_db.path), "anchors", "draw", "--task", "mt-bench", "--size", "30"]) == 0
    assert "anchor set of 30 gold items" in capsys.readouterr().out
    anchors = mon.anchor_set(demo_db, task)
    assert len(anchors) == 30 and set(anchors) <= set(load_gold(demo_db, task).labels["item_id"])
    assert cli(["--db", str(demo_db.path), "anchors", "draw", "--task", "mt-bench", "--size", "40"]) == 2
    assert "already has an anchor set of 30 items" in capsys.readouterr().err  # a redraw must be asked for
    assert mon.anchor_set(demo_db, task) == anchors
    assert cli(["--db", str(demo_db.path), "anchors", "draw", "--task", "mt-bench", "--size", "500",
                "--replace"]) == 2
    assert "size: only 200 gold items can be anchors" in capsys.readouterr().err
    with pytest.raises(ValueError, match="threshold max_flip_rate must lie in"):
        mon.Thresholds(max_flip_rate=3)
    with pytest.raises(ValueError, match="unknown monitor thresholds: flip"):
        mon.Thresholds.from_dict({"flip": 0.1})


def test_saved_thresholds_change_what_blocks_a_batch(demo_db):
    task, _ = history(demo_db, n_batches=3, drift_at=3)
    assert list(mon.monitor(demo_db, task, "Drifty").blocked["batch"]) == ["b01", "b03"]  # b01: cross-family
    off = mon.Thresholds(min_entropy_ratio=None, max_top_share=None, max_js=None, max_flip_rate=None,
                         max_gold_drop=None, max_cross_family_disagreement=None, max_ece=None)
    mon.save_thresholds(demo_db, task, off, user=LEAD)
    assert mon.thresholds_for(demo_db, task) == off
    assert mon.monitor(demo_db, task, "Drifty").blocked.empty


def test_gate_check_reads_the_latest_batch_alone_and_gets_the_full_monitors_last_row(demo_db):
    """The latest batch's metrics keep the whole history's baselines: the first batch's distribution
    over every label seen, the first anchor run (here not the first batch), the cross-family sample."""
    task = get_task(demo_db, "mt-bench")
    version = save_labeler(demo_db, task.task_id, DRIFTY, created_by="test")
    anchors = mon.draw_anchor_set(demo_db, task, size=30, seed=2, created_by="test")
    gold = load_gold(demo_db, task).labels
    ids = list(gold["item_id"])
    b00 = [{"task_id": task.task_id, "item_id": i, "labeler": "Drifty", "version": version, "batch": "b00",
            "value": "1" if k % 3 else "2", "source": "import"}
           for k, i in enumerate([i for i in ids if i not in set(anchors)][:40])]
    append_llm_labels(demo_db, pd.DataFrame(b00))          # no anchor re-run, no confidence
    for i in range(1, 6):
        add_batch(demo_db, task, gold, f"b{i:02d}", ids[:100] if i % 2 else ids[100:], anchors,
                  drifted=i == 5, seed=i, version=version)
    odd = [{"task_id": task.task_id, "item_id": ids[0], "labeler": "Drifty", "version": version, "batch": "b02",
            "value": "tie", "source": "import"}]
    append_llm_labels(demo_db, pd.DataFrame(odd))          # a label seen in a middle batch only

    full = mon.monitor(demo_db, task, "Drifty")
    assert list(full.batches["batch"]) == ["b00", "b01", "b02", "b03", "b04", "b05"]
    last = full.batches.iloc[-1].to_dict()
    assert last["first_anchor_batch"] == "b01" and last["gold_drop"] > 0.5
    latest = mon.monitor(demo_db, task, "Drifty", only_latest=True)
    assert list(latest.batches["batch"]) == ["b05"] and set(latest.batches.columns) == set(full.batches.columns)
    row = latest.batches.iloc[0].to_dict()
    for name, want in last.items():
        got = row[name]
        if isinstance(want, float) and not isinstance(want, bool):
            assert got == pytest.approx(want, rel=1e-12, abs=1e-12, nan_ok=True), name
        else:
            assert got == want, name

    result = gate.check(demo_db, task, "Drifty")
    assert result.latest_batch == "b05" and not result.ok
    assert result.batch_breaches == tuple(last["breaches"])
    assert any("anchor agreement with gold fell" in b for b in result.batch_breaches)


def test_the_first_anchor_run_is_not_evidence_of_no_drift(demo_db):
    """Compared with itself it always shows 0 flips: the gate calls it not evaluable, not a pass."""
    task, anchors = history(demo_db, n_batches=1, drift_at=None)
    ev = gate.evaluate(demo_db, task, "Drifty", n_resamples=50)
    assert ev.metrics["anchor_flip_rate"] is None
    assert ev.notes["anchor_flip_rate"].startswith("not evaluable: batch b01 is the first anchor run")
    gold = load_gold(demo_db, task).labels
    version = ev.fingerprint.labeler_version
    add_batch(demo_db, task, gold, "b02", list(gold["item_id"])[100:], anchors, drifted=False, seed=2,
              version=version)  # a second batch: now drift is measured
    ev = gate.evaluate(demo_db, task, "Drifty", n_resamples=50)
    est = ev.metrics["anchor_flip_rate"]
    with demo_db.connect() as con:   # the share of anchors whose label changed from b01's run to b02's
        runs = con.execute("SELECT batch, item_id, value FROM llm_labels WHERE labeler = 'Drifty'"
                           " AND batch IN ('anchor:b01', 'anchor:b02')").df()
    wide = runs.pivot(index="item_id", columns="batch", values="value")
    assert len(wide) == len(anchors) == 40
    flips = (wide["anchor:b01"] != wide["anchor:b02"]).mean()
    assert est is not None and est.estimate == pytest.approx(flips, abs=1e-12) and est.n == 40
    assert est.ci_low <= est.estimate <= est.ci_high
