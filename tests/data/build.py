"""Rebuild the test extracts from the shared datasets (../shared/datasets beside the checkout).

    .venv/bin/python tests/data/build.py [PATH_TO_DATASETS]

Writes, beside this file, only the columns and rows the tests read (see README.md):
llmbar/judgments.csv.gz, llmbar/published_statistics.csv, hanna/relevance_generated.csv and the
import extract hanna/{items,llm_relevance,human_relevance}.csv.
Values are copied as text, so the published floats stay bit-for-bit what the authors wrote.
"""

import shutil
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
JUDGMENT_COLUMNS = ["subset", "item_idx", "label", "evaluator", "strategy", "winner_order_12", "winner_order_21"]
PUBLISHED_COLUMNS = ["subset", "evaluator", "strategy", "correct_average_pct", "equal_pct"]
HANNA_COLUMNS = ["story_id", "system", "human_mean", "Beluga-13B_p1", "ChatGPT_p1"]


def main(src: Path) -> None:
    out = HERE / "llmbar"
    out.mkdir(exist_ok=True)
    j = pd.read_csv(src / "llmbar" / "judgments.csv", dtype=str, keep_default_na=False)
    # mtime=0 in the gzip header: rebuilding from the same data gives the same bytes
    j[JUDGMENT_COLUMNS].to_csv(out / "judgments.csv.gz", index=False,
                               compression={"method": "gzip", "compresslevel": 9, "mtime": 0})
    p = pd.read_csv(src / "llmbar" / "published_statistics.csv", dtype=str, keep_default_na=False)
    p[PUBLISHED_COLUMNS].to_csv(out / "published_statistics.csv", index=False)
    shutil.copy(src / "llmbar" / "LICENSE", out / "LICENSE")

    out = HERE / "hanna"
    out.mkdir(exist_ok=True)
    h = pd.read_csv(src / "hanna" / "hanna_human_llm_long.csv", dtype=str, keep_default_na=False)
    # the TACL heatmaps' sample: Relevance of the generated stories (story_id 96 on; 0-95 are human-written)
    h = h[(h["criterion"] == "Relevance") & (h["story_id"].astype(int) >= 96)]
    h[HANNA_COLUMNS].to_csv(out / "relevance_generated.csv", index=False)
    shutil.copy(src / "hanna" / "LICENSE", out / "LICENSE")
    hanna_import_extract(src, out)


def hanna_import_extract(src: Path, out: Path) -> None:
    """Stories 200-299 as items and labels for the import tests (13 of Mistral's ratings fall below 1)."""
    h = pd.read_csv(src / "hanna" / "hanna_human_llm_long.csv", dtype=str, keep_default_na=False)
    r = h[(h["criterion"] == "Relevance") & h["story_id"].astype(int).between(200, 299)]
    ids = "s" + r["story_id"]
    pd.DataFrame({"item_id": ids, "story": "HANNA story " + r["story_id"] + " (no text: the benchmark's scores only)",
                  "system": r["system"]}).to_csv(out / "items.csv", index=False)
    pd.concat([pd.DataFrame({"item_id": ids, "rater": name, "value": r[column]})
               for column, name in (("Mistral-7B_p1", "Mistral-7B"), ("ChatGPT_p1", "ChatGPT"))]
              ).to_csv(out / "llm_relevance.csv", index=False)
    pd.DataFrame({"item_id": ids, "rater": "crowd_1", "value": r["human_1"]}).to_csv(
        out / "human_relevance.csv", index=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "shared" / "datasets")
