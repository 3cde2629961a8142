"""qc reproduces numbers that dataset authors published (LLMBar, HANNA).

Data: the extracts in tests/data (see its README.md for what they hold and their licenses).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qc.agreement import accuracy_score, grouped_correlation, kendall_tau_score
from qc.uncertainty import bootstrap_ci

DATA = Path(__file__).resolve().parents[1] / "data"
LLMBAR = DATA / "llmbar"
HANNA = DATA / "hanna" / "relevance_generated.csv"

CONFIG = ["subset", "evaluator", "strategy"]


@pytest.fixture(scope="module")
def llmbar():
    judgments = pd.read_csv(LLMBAR / "judgments.csv.gz", dtype=str, keep_default_na=False)
    published = pd.read_csv(LLMBAR / "published_statistics.csv", dtype=str, keep_default_na=False)
    return judgments, published


def _llmbar_statistics(judgments: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for key, g in judgments.groupby(CONFIG, sort=False):
        gold = g["label"].to_numpy()
        w12 = g["winner_order_12"].to_numpy()
        w21 = g["winner_order_21"].to_numpy()
        # the paper's accuracy: over both presentation orders; an empty (unparsable) pick is
        # simply not equal to the gold label, i.e. wrong
        correct_average = 100 * accuracy_score(np.concatenate([gold, gold]), np.concatenate([w12, w21]))
        # positional consistency: both orders gave the same pick (two unparsable count as same)
        equal = 100 * accuracy_score(w12, w21)
        rows.append((*key, correct_average, equal))
    return pd.DataFrame(rows, columns=[*CONFIG, "ours_correct_average_pct", "ours_equal_pct"])


def test_llmbar_accuracy_and_consistency_match_all_499_published_configurations(llmbar):
    judgments, published = llmbar
    assert (judgments["winner_order_12"] == "").sum() > 0  # unparsable answers are present
    ours = _llmbar_statistics(judgments)
    merged = published.merge(ours, on=CONFIG, how="outer", validate="1:1", indicator=True)
    assert len(published) == 499
    assert (merged["_merge"] == "both").all()
    # "Recomputing them from judgments.csv matches exactly": bit-for-bit float equality
    mismatched = merged[
        (merged["correct_average_pct"].astype(float) != merged["ours_correct_average_pct"])
        | (merged["equal_pct"].astype(float) != merged["ours_equal_pct"])
    ]
    assert mismatched.empty, mismatched[[*CONFIG, "correct_average_pct", "ours_correct_average_pct"]].head()


def test_llmbar_gpt4_rules_metrics_reference_adversarial_average(llmbar):
    judgments, _ = llmbar
    ours = _llmbar_statistics(judgments)
    adversarial = ours[
        ours["subset"].str.startswith("LLMBar/Adversarial/")
        & (ours["evaluator"] == "GPT-4")
        & (ours["strategy"] == "Metrics_Reference")
    ]
    assert len(adversarial) == 4
    assert round(adversarial["ours_correct_average_pct"].mean(), 1) == 82.8


@pytest.fixture(scope="module")
def hanna_relevance():
    # TACL heatmaps: human-written stories (story_id 0-95) excluded -> n = 960; the extract holds
    # exactly those Relevance rows
    df = pd.read_csv(HANNA)
    assert df["story_id"].min() == 96 and df["story_id"].is_unique
    return df


@pytest.mark.parametrize(("llm", "published_x100"), [("Beluga-13B_p1", 21), ("ChatGPT_p1", 15)])
def test_hanna_story_level_kendall_tau(hanna_relevance, llm, published_x100):
    df = hanna_relevance
    assert len(df) == 960
    tau = kendall_tau_score(df["human_mean"], df[llm])
    assert round(100 * tau) == published_x100
    # "story level" = item level of the grouped correlation (groups = generation system)
    assert grouped_correlation(df["human_mean"], df[llm], df["system"], method="kendall", level="item") == tau


def test_hanna_bootstrap_interval_brackets_the_published_value(hanna_relevance):
    df = hanna_relevance
    e = bootstrap_ci(df["human_mean"], df["Beluga-13B_p1"], metric="kendall_tau", n_resamples=200, seed=0)
    assert e.n == 960 and e.contains(0.21)
