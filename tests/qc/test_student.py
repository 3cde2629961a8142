"""qc.student: planted effects, the leakage guard, reproducibility and bad input."""

from pathlib import Path

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score

from qc.student import Arm, describe_findings, student_preview

ROOT = Path(__file__).resolve().parents[2]
TOPIC = {"rare": "satellite orbit telescope research", "common": "tax duty court licence"}
FILLER = ["act", "order", "amendment", "provision", "scotland", "wales", "1963", "consolidation"]


def corpus(n=600, minority=0.15, seed=0):
    """Texts whose class is readable from words, a noisy minority, and a length feature."""
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < minority, "rare", "common")
    texts = []
    for c in y:
        words = list(rng.choice(TOPIC[c].split(), size=2)) + list(rng.choice(FILLER, size=rng.integers(3, 9)))
        rng.shuffle(words)
        texts.append(" ".join(words))
    return texts, y, rng


def fast(**kw):
    return dict(n_seeds=5, curve=(0.5, 1.0), n_resamples=300, **kw)


def test_collapsing_minority_loses_recall_and_stability_equal_llm_loses_nothing():
    texts, y, rng = corpus()
    collapse = np.where((y == "rare") & (rng.random(y.size) < 0.6), "common", y)
    p = student_preview(texts, y, [Arm("gold", y), Arm("llm", collapse), Arm("copy", y.copy())], **fast())
    gold, llm, copy = p.arm("gold"), p.arm("llm"), p.arm("copy")
    assert p.minority == "rare"
    assert llm.minority_recall_ratio.ci_high < 0.8          # a large minority-recall loss
    assert llm.f1_loss.ci_low > 0.05
    assert llm.stability_alpha < gold.stability_alpha
    # an LLM equal to gold: the same students, no loss
    assert copy.f1_loss.estimate == pytest.approx(0.0, abs=1e-12)
    assert copy.f1_loss.ci_low <= 0 <= copy.f1_loss.ci_high
    assert copy.minority_recall_ratio.estimate == pytest.approx(1.0)
    text = " ".join(describe_findings(p))
    assert "'llm' lose" in text and "recall of the minority class 'rare'" in text
    assert "'copy' score within noise" in text


def test_metrics_equal_sklearn_on_the_students_predictions():
    texts, y, rng = corpus(n=300)
    llm = np.where(rng.random(y.size) < 0.25, "common", y)
    p = student_preview(texts, y, [Arm("gold", y), Arm("llm", llm)], n_seeds=3, curve=(1.0,), n_resamples=200)
    truth = y[p.eval_items]
    for arm in p.arms:
        preds = arm.predictions
        assert preds.shape == (3, 300)
        assert arm.accuracy.estimate == pytest.approx(np.mean([accuracy_score(truth, q) for q in preds]), abs=1e-12)
        assert arm.macro_f1.estimate == pytest.approx(
            np.mean([f1_score(truth, q, average="macro", labels=["common", "rare"]) for q in preds]), abs=1e-12)
        for c in ("common", "rare"):
            assert arm.recall[c].estimate == pytest.approx(
                np.mean([recall_score(truth, q, labels=[c], average="macro") for q in preds]), abs=1e-12)
        ref = krippendorff.alpha(np.vstack([(q == "rare").astype(float) for q in preds]),
                                 level_of_measurement="nominal")
        assert arm.stability_alpha == pytest.approx(ref, abs=1e-9)
        assert arm.accuracy.ci_low <= arm.accuracy.estimate <= arm.accuracy.ci_high


def test_no_evaluation_item_reaches_any_training_set():
    texts, y, rng = corpus(n=400)
    gold = np.where(np.arange(y.size) < 250, y, None)         # 150 items without gold (amplify pool)
    llm = np.where(rng.random(y.size) < 0.2, np.where(y == "rare", "common", "rare"), y)
    conf = rng.random(y.size)
    fits = []
    p = student_preview(texts, gold, [
        Arm("gold", gold), Arm("llm", llm), Arm("mix", np.where(gold != None, gold, llm)),  # noqa: E711
        Arm("confident", llm, keep_score=conf, retention=0.8, base="llm"),
        Arm("predicted", llm, error_filter=True, retention=0.8, base="llm"),
    ], n_seeds=2, curve=(0.5, 1.0), n_resamples=100, on_fit=lambda *a: fits.append(a))
    gold_items = set(np.flatnonzero(gold != None))  # noqa: E711
    assert set(p.eval_items.tolist()) == gold_items
    eval_of = {k: set(p.eval_items[p.eval_folds == k].tolist()) for k in range(5)}
    assert sorted(len(v) for v in eval_of.values()) == [50] * 5
    for arm, fold, _, _, rows in fits:
        assert not (set(rows.tolist()) & eval_of[fold]), f"{arm} fold {fold} trained on evaluation items"
    assert len(fits) == 5 * 5 * 2 * 2
    assert p.arm("predicted").n_removed > 0 and p.arm("confident").n_removed > 0
    assert p.arm("llm").n_train > p.arm("gold").n_train        # the amplify arm uses non-gold items


def test_learned_filter_beats_random_filter_when_errors_follow_a_feature():
    rng = np.random.default_rng(3)
    n = 800
    y = np.where(rng.random(n) < 0.5, "pos", "neg")
    domain = np.where(rng.random(n) < 0.35, "legal", "plain")
    texts = [f"{'good great fine' if c == 'pos' else 'bad poor awful'} {d} {d}clause item{i % 11}"
             for i, (c, d) in enumerate(zip(y, domain, strict=True))]
    # the labeler flips 70% of the labels in the legal domain, 3% elsewhere
    flip = rng.random(n) < np.where(domain == "legal", 0.7, 0.03)
    llm = np.where(flip, np.where(y == "pos", "neg", "pos"), y)
    gold = np.where(np.arange(n) < 400, y, None)
    random_keep = rng.random(n)
    p = student_preview(texts, gold, [
        Arm("llm", llm), Arm("predicted", llm, error_filter=True, retention=0.65, base="llm"),
        Arm("random", llm, keep_score=random_keep, retention=0.65, base="llm"),
    ], reference="llm", **fast())
    learned, rand = p.arm("predicted"), p.arm("random")
    assert learned.gain_over_base.ci_low > 0
    assert learned.macro_f1.estimate > rand.macro_f1.estimate + 0.05
    assert "recovers" in " ".join(describe_findings(p))


def test_reproducible_and_curve_shapes():
    texts, y, rng = corpus(n=300)
    llm = np.where(rng.random(y.size) < 0.3, "common", y)
    args = (texts, y, [Arm("gold", y), Arm("llm", llm)])
    a = student_preview(*args, n_seeds=2, curve=(0.2, 0.6, 1.0), n_resamples=100, seed=7)
    b = student_preview(*args, n_seeds=2, curve=(0.2, 0.6, 1.0), n_resamples=100, seed=7)
    assert a.to_dict() == b.to_dict()
    serial = student_preview(*args, n_seeds=2, curve=(0.2, 0.6, 1.0), n_resamples=100, seed=7, n_jobs=1)
    assert serial.to_dict() == a.to_dict()       # threads change nothing
    curve = a.arm("gold").curve
    assert [c.fraction for c in curve] == [0.2, 0.6, 1.0]
    assert curve[0].n_train < curve[1].n_train < curve[2].n_train == a.arm("gold").n_train
    assert a.arm("gold").plateau is not None


def test_bad_input_is_named():
    texts, y, _ = corpus(n=100)
    with pytest.raises(ValueError, match="arms is empty"):
        student_preview(texts, y, [])
    with pytest.raises(ValueError, match="unique"):
        student_preview(texts, y, [Arm("a", y), Arm("a", y)])
    with pytest.raises(ValueError, match="one entry per item"):
        student_preview(texts, y, [Arm("a", y[:10])])
    with pytest.raises(ValueError, match="retention"):
        student_preview(texts, y, [Arm("a", y, retention=0.5)])
    with pytest.raises(ValueError, match="two classes"):
        student_preview(texts, np.full(100, "x"), [Arm("a", y)])
    with pytest.raises(ValueError, match="at least n_folds"):
        student_preview(texts, np.where(np.arange(100) < 3, "x", "y"), [Arm("a", y)])
    with pytest.raises(ValueError, match="reference"):
        student_preview(texts, y, [Arm("a", y)], reference="b")
    with pytest.raises(ValueError, match="curve"):
        student_preview(texts, y, [Arm("a", y)], curve=(0.5,))


def test_recall_matches_sklearn_for_a_constant_student():
    # one-class training sets predict that class: recall and macro-F1 follow in closed form
    texts, y, _ = corpus(n=200)
    allc = np.full(y.size, "common", dtype=object)
    p = student_preview(texts, y, [Arm("gold", y), Arm("const", allc)], n_seeds=2, curve=(1.0,), n_resamples=100)
    const = p.arm("const")
    pred = np.full(y.size, "common")
    assert const.recall["rare"].estimate == recall_score(y, pred, pos_label="rare", zero_division=0)
    assert const.recall["common"].estimate == 1.0
    assert const.macro_f1.estimate == pytest.approx(f1_score(y, pred, average="macro", labels=["common", "rare"]))
    assert (const.predictions == "common").all()
    assert np.isnan(const.stability_alpha)         # students that never vary: alpha is undefined


@pytest.mark.parametrize("max_features", [20000, 2000, 300])
def test_the_per_fold_features_equal_scikit_learns_tfidf_fitted_on_the_fold(max_features):
    """The texts are analyzed once; each fold's vocabulary and IDF still come from its training rows only,
    exactly as TfidfVectorizer fitted on them (real UK-Act titles from the demo; truncated vocabularies too)."""
    import pandas as pd

    from qc.student import _Featurizer, _vectorizer

    texts = pd.read_csv(ROOT / "data" / "demo_cap" / "cap_items.csv")["text"].astype(str).tolist()
    features = _Featurizer(texts, max_features)
    for train in (np.arange(200, len(texts)), np.flatnonzero(np.arange(len(texts)) % 5 != 3)):
        ours = features.fold(train)
        ref = _vectorizer(max_features).fit([texts[i] for i in train]).transform(texts)
        assert ours.shape == ref.shape
        assert abs(ours - ref).max() < 1e-12


def test_three_classes_train_one_against_the_rest_and_show_the_collapsed_class():
    rng = np.random.default_rng(3)
    topics = {"a": "tax duty court", "b": "railway harbour canal", "c": "satellite orbit telescope"}
    y = rng.choice(list(topics), size=450, p=[0.5, 0.3, 0.2])
    texts = [" ".join([*rng.choice(topics[c].split(), size=2), *rng.choice(FILLER, size=4)]) for c in y]
    llm = np.where((y == "c") & (rng.random(y.size) < 0.7), "a", y)
    p = student_preview(texts, y, [Arm("gold", y), Arm("llm", llm)], **fast())
    gold, bad = p.arm("gold"), p.arm("llm")
    assert p.minority == "c" and set(p.classes) == {"a", "b", "c"}
    assert gold.macro_f1.ci_low > 0.9
    assert bad.recall["c"].ci_high < gold.recall["c"].ci_low
    assert bad.recall["b"].estimate == pytest.approx(gold.recall["b"].estimate, abs=0.05)
