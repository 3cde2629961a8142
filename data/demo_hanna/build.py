"""Rebuild the multi-criterion demo files from the hanna_text copy in ../shared/datasets.

    .venv/bin/python data/demo_hanna/build.py [PATH_TO_HANNA_TEXT]

Draws 200 of HANNA's 1,056 stories, stratified by the system that wrote them (18 or 19 of each
of the 11, seed 0, with qc.sampling.stratified_sample: the same call the app uses to draw a
calibration set), and writes beside this file:

- hanna_items.csv: item_id, prompt, story (the texts shown), system, prompt_id (metadata);
- hanna_human.csv: the three crowd raters' 1-5 ratings of the six criteria, long form
  (item_id, rater, criterion, value), raters crowd_1..crowd_3 (HANNA's rater slots 1-3);
- hanna_llm.csv: ChatGPT's and Beluga-13B's ratings with HANNA's first judge prompt, long form
  (item_id, rater, criterion, value, batch).

Values are copied as text, unchanged (the LLM scores are means of 3 sampled answers, so they are
fractional; two ChatGPT Empathy scores of the 200 are below 1, 0.67 and 0.33: the authors code an
unparsable answer as -1, so a mean below 1 holds one).
Running it twice gives the same bytes.
"""

import shutil
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from qc.sampling import stratified_sample  # noqa: E402

SIZE = 200
SEED = 0
# HANNA's criteria (Chhun et al., COLING 2022), by their column code in hanna_text
CRITERIA = {"RE": "relevance", "CH": "coherence", "EM": "empathy", "SU": "surprise", "EG": "engagement",
            "CX": "complexity"}
# the two LLM labelers of the demo: their column prefix in llm_scores.csv; suffix _1 = judge prompt 1
LLMS = ["ChatGPT", "Beluga-13B"]
RATERS = {"human1": "crowd_1", "human2": "crowd_2", "human3": "crowd_3"}


def item_id(story_id: pd.Series) -> pd.Series:
    return "hanna-" + story_id.astype(int).map("{:04d}".format)


def main(src: Path) -> None:
    stories = pd.read_csv(src / "stories.csv", dtype=str, keep_default_na=False)
    picked = stratified_sample(stories["system"].to_numpy(dtype=object), SIZE, seed=SEED)
    stories = stories.iloc[sorted(picked)].reset_index(drop=True)
    stories.insert(0, "item_id", item_id(stories["story_id"]))
    stories[["item_id", "prompt", "story", "system", "prompt_id"]].to_csv(HERE / "hanna_items.csv", index=False)

    human = pd.concat([
        pd.DataFrame({"item_id": stories["item_id"], "rater": rater, "criterion": name,
                      "value": stories[f"{slot}_{code}"]})
        for slot, rater in RATERS.items() for code, name in CRITERIA.items()])
    human.to_csv(HERE / "hanna_human.csv", index=False)

    scores = pd.read_csv(src / "llm_scores.csv", dtype=str, keep_default_na=False)
    scores = scores.set_index("story_id").loc[stories["story_id"]].reset_index()
    llm = pd.concat([
        pd.DataFrame({"item_id": item_id(scores["story_id"]), "rater": model, "criterion": name,
                      "value": scores[f"{model}_{code}_1"], "batch": "hanna-prompt-1"})
        for model in LLMS for code, name in CRITERIA.items()])
    llm.to_csv(HERE / "hanna_llm.csv", index=False)
    shutil.copyfile(src / "LICENSE", HERE / "LICENSE")  # not its read-only mode


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "shared" / "datasets" / "hanna_text")
