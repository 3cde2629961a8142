"""Compare page (AppTest): the agreement matrix with families, and cross-family disagreements."""

from __future__ import annotations

import pytest

PAGE = "pages/compare.py"


def table(at, *columns):
    found = [d.value for d in at.dataframe if set(columns) <= set(map(str, d.value.columns))]
    assert found, f"no table with columns {columns}"
    return found[0]


def test_agreement_matrix_has_every_labeler_and_the_gold_with_families(app_for):
    at = app_for("engineer", page=PAGE)
    assert not at.exception, at.exception
    m = table(at, "gold (human)")
    names = ["ChatGPT (gpt)", "GPT-4 (gpt)", "LLaMA2 (llama)", "PaLM2 (palm)", "gold (human)"]
    assert list(m.index) == names and list(m.columns) == names  # grouped by family, gold last
    # against the gold, agreement is the published accuracy over both orders
    assert m.loc["GPT-4 (gpt)", "gold (human)"] == pytest.approx(0.81, abs=0.001)
    assert m.loc["ChatGPT (gpt)", "gold (human)"] == pytest.approx(0.7125, abs=0.001)
    assert m.loc["LLaMA2 (llama)", "gold (human)"] == pytest.approx(0.72, abs=0.001)
    assert (m.to_numpy().diagonal() == 1).all() and (m == m.T).all().all()


def test_cross_family_disagreements_filter_and_open_in_review(app_for):
    at = app_for("lead", page=PAGE)
    d = table(at, "item_id", "families")
    assert len(d) > 5
    for _, row in d.iterrows():  # every row has two labelers of different families giving different labels
        fam = {"ChatGPT": "gpt", "GPT-4": "gpt", "LLaMA2": "llama", "PaLM2": "palm"}
        given = {n: row[n] for n in fam if row[n] in ("1", "2")}  # "split": its two orders disagree
        assert any(given[a] != given[b] and fam[a] != fam[b] for a in given for b in given)
    at.multiselect(key="cmp_pairs").set_value(["llama vs palm"]).run()
    only = table(at, "item_id", "families")
    assert 0 < len(only) < len(d) and only["families"].str.contains("llama vs palm").all()
    item = only["item_id"].iloc[-1]
    at.selectbox(key="cmp_item").set_value(item).run()
    at.button(key="cmp_open").click().run()
    assert not at.exception
    assert at.title[0].value == "Review"
    assert at.segmented_control[0].value == "labeler vs labeler"
    assert at.selectbox(key="rev_item_mt-bench").value == item
    assert at.subheader[0].value == item


def test_expert_cannot_reach_compare(app_for):
    at = app_for("expert")
    with pytest.raises(Exception, match="Could not find a navigation page"):
        at.switch_page(PAGE).run()
