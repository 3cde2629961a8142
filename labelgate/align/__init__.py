"""Alignment lab (issue 12): tune a labeler against the gold without fooling yourself.

- `splits`: the gold items of a task split once per gold release into train (the pool few-shot
  examples come from), dev (where labelers are compared) and test (sealed: read only by a
  recorded final evaluation, and every look is counted).
- `fewshot`: k train items with their gold labels rendered into a labeler's prompt (train only).
- `propose`: a model rewrites a labeler's instructions from its errors on train (never dev or test); each
  usable rewrite becomes a labeler version to run on dev (`labelgate align propose`).
- `compare`: two labelers on the same dev items: per metric the paired difference with a paired
  bootstrap CI (qc.paired), and McNemar's test for accuracy; `final_evaluation` on test.
"""

from labelgate.align.compare import compare, compare_metrics, final_evaluation, pareto_front, side_by_side, test_looks
from labelgate.align.fewshot import few_shot_labeler, pick_examples
from labelgate.align.splits import DEFAULT_SHARES, PARTS, Split, SplitRefused, get_split, make_split, split_for

__all__ = ["DEFAULT_SHARES", "PARTS", "Split", "SplitRefused", "compare", "compare_metrics", "few_shot_labeler",
           "final_evaluation", "get_split", "make_split", "pareto_front", "pick_examples", "side_by_side",
           "split_for", "test_looks"]
