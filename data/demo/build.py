"""Rebuild the demo files from the LLMBar copy in ../shared/datasets/llmbar.

    .venv/bin/python data/demo/build.py [PATH_TO_LLMBAR]

Writes mtbench_items.csv (200 Processed/MT-Bench items), mtbench_gold.csv (the MT-Bench
human majority, one rater) and mtbench_llm.csv (four judges, Vanilla_NoRules prompt, both
presentation orders) beside this file.
"""

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
SUBSET = "Processed/MT-Bench"
STRATEGY = "Vanilla_NoRules"
JUDGES = ["GPT-4", "ChatGPT", "LLaMA2", "PaLM2"]


def main(src: Path) -> None:
    items = pd.read_csv(src / "items.csv", dtype=str, keep_default_na=False)
    items = items[items.subset == SUBSET].copy()
    items["item_id"] = "mtb-" + items.item_idx.astype(int).map("{:03d}".format)
    for col in ("input", "output_1", "output_2"):
        items[f"{col}_chars"] = items[col].str.len()
    items["length_gap"] = items.output_1_chars - items.output_2_chars
    items["longer_output"] = (items.length_gap > 0).map({True: "1", False: "2"})
    items[["item_id", "input", "output_1", "output_2", "input_chars", "output_1_chars", "output_2_chars",
           "length_gap", "longer_output"]].to_csv(HERE / "mtbench_items.csv", index=False)

    gold = items[["item_id", "label"]].rename(columns={"label": "value"}).assign(rater="mt-bench-majority")
    gold[["item_id", "rater", "value"]].to_csv(HERE / "mtbench_gold.csv", index=False)

    j = pd.read_csv(src / "judgments.csv", dtype=str, keep_default_na=False)
    j = j[(j.subset == SUBSET) & (j.strategy == STRATEGY) & j.evaluator.isin(JUDGES)].copy()
    j["item_id"] = "mtb-" + j.item_idx.astype(int).map("{:03d}".format)
    rows = []
    for order, col in (("12", "winner_order_12"), ("21", "winner_order_21")):
        part = j[j[col] != ""]  # an empty winner is an unparsable answer: no label
        rows.append(pd.DataFrame({"item_id": part.item_id, "rater": part.evaluator, "value": part[col],
                                  "shown_order": order, "batch": "calibration"}))
    pd.concat(rows).sort_values(["rater", "item_id", "shown_order"]).to_csv(HERE / "mtbench_llm.csv", index=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "shared" / "datasets" / "llmbar")
