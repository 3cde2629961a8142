"""Rebuild the student-preview demo files from the cap_uk_technology copy in ../shared/datasets.

    .venv/bin/python data/demo_cap/build.py [PATH_TO_CAP_UK_TECHNOLOGY]

Writes cap_items.csv (the 1,000 Act titles), cap_gold.csv (the CAP expert code, one rater) and
cap_llm.csv (five zero-shot LLM labelers of five families) beside this file, with the labels
spelled out: 1 -> technology, 0 -> other.
"""

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
LABELS = {"1": "technology", "0": "other"}
# one model per family (raters.csv), named as on the TextClass-Benchmark leaderboard
LLMS = {
    "GPT-4o (2024-11-20)": "gpt",
    "Claude 3.5 Sonnet (20241022)": "claude",
    "Llama 3.1 (70B-L)": "llama",
    "Gemma 2 (9B-L)": "gemini",
    "Mistral Large (2411)": "mistral",
}


def main(src: Path) -> None:
    items = pd.read_csv(src / "items.csv", dtype=str, keep_default_na=False)
    items[["item_id", "text", "year"]].to_csv(HERE / "cap_items.csv", index=False)
    labels = pd.read_csv(src / "labels.csv", dtype=str, keep_default_na=False)
    labels["value"] = labels["value"].map(LABELS)
    gold = labels[labels.rater == "gold"].assign(rater="cap-expert-coders")
    gold[["item_id", "rater", "value"]].to_csv(HERE / "cap_gold.csv", index=False)
    llm = labels[labels.rater.isin(list(LLMS))].sort_values(["rater", "item_id"])
    llm.assign(batch="corpus")[["item_id", "rater", "value", "batch"]].to_csv(HERE / "cap_llm.csv", index=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "shared" / "datasets" / "cap_uk_technology")
