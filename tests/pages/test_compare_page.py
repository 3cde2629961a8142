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
    d = table(at, "item", "families")
    assert len(d) > 5
    for _, row in d.iterrows():  # every row has two labelers of different families giving different labels
        fam = {"ChatGPT": "gpt", "GPT-4": "gpt", "LLaMA2": "llama", "PaLM2": "palm"}
        given = {n: row[n] for n in fam if row[n] in ("1", "2")}  # "split": its two orders disagree
        assert any(given[a] != given[b] and fam[a] != fam[b] for a in given for b in given)
    at.multiselect(key="cmp_pairs").set_value(["llama vs palm"]).run()
    only = table(at, "item", "families")
    assert 0 < len(only) < len(d) and only["families"].str.contains("llama vs palm").all()
    item = only["item"].iloc[-1]
    assert "item_id" not in d.columns
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


def test_every_pair_shows_its_items_agreement_and_ci(app_for):
    import re

    at = app_for("engineer", page=PAGE)
    found = [t.value for t in at.table if {"rater", "other", "items", "95% CI"} <= set(t.value.columns)]
    assert found, "no table of pairs"
    pairs = found[0].map(lambda v: re.sub(r"\\(.)", r"\1", str(v)))
    assert len(pairs) == 10  # 4 labelers and the gold: every two of five
    row = pairs[(pairs["rater"] == "GPT-4 (gpt)") & (pairs["other"] == "gold (human)")].iloc[0]
    assert row["items"] == "200" and row["agreement"] == "0.810"  # the published accuracy over both orders
    low, high = map(float, re.fullmatch(r"\[(.+), (.+)\]", row["95% CI"]).groups())
    assert 0.75 < low < 0.81 < high < 0.87
    assert (pairs["items"].str.fullmatch(r"[\d,]+")).all()  # counts as integers


def test_the_alignment_lab_splits_the_gold_and_shows_paired_differences_on_dev(app_for, demo_db):
    from labelgate.align import compare
    from labelgate.store.tasks import get_task

    at = app_for("engineer", page=PAGE)
    assert "No train / dev / test split of the unreleased draft yet" in " ".join(c.value for c in at.caption)
    at.button(key="cmp_align_split").click().run()
    assert not at.exception
    with demo_db.connect() as con:
        assert con.execute("SELECT created_by, count(*) FROM align_splits GROUP BY ALL").fetchall() == [("engineer", 1)]
    captions = " ".join(c.value for c in at.caption)
    assert "Split 1 of the unreleased draft: train 40, dev 80, test 80 items" in captions
    assert "The test split has been looked at **0 times**" in captions
    at.selectbox(key="cmp_align_a_mt-bench").set_value("GPT-4").run()
    at.selectbox(key="cmp_align_b_mt-bench").set_value("LLaMA2").run()
    shown = [t.value for t in at.table if "A − B" in t.value.columns]
    assert shown, "no paired-difference table"
    rows = shown[0].map(lambda v: str(v).replace("\\", "")).set_index("Metric")   # as read (no markdown escapes)
    ref = compare(demo_db, get_task(demo_db, "mt-bench"), ["GPT-4", "LLaMA2"])["metrics"]
    assert list(rows.index) == ["Accuracy", "Cohen's kappa", "Macro-F1"]
    assert rows.loc["Cohen's kappa", "A − B"] == f"{ref['cohen_kappa']['estimate']:.3f}"
    assert rows.loc["Accuracy", "95% CI"] == f"[{ref['accuracy']['ci_low']:.3f}, {ref['accuracy']['ci_high']:.3f}]"
    assert rows.loc["Accuracy", "McNemar p"] == f"{ref['accuracy']['mcnemar_p']:.4f}"
    assert rows.loc["Macro-F1", "McNemar p"] == "–"


def test_the_alignment_lab_puts_labelers_side_by_side_on_dev_against_a_baseline(app_for, demo_db):
    from labelgate.align import make_split, side_by_side
    from labelgate.store.tasks import get_task

    task = get_task(demo_db, "mt-bench")
    make_split(demo_db, task, created_by="engineer")
    at = app_for("engineer", page=PAGE)
    assert not at.exception
    at.multiselect(key="cmp_align_sbs_mt-bench").set_value(["ChatGPT", "GPT-4", "LLaMA2"]).run()
    at.selectbox(key="cmp_align_base_mt-bench").set_value("LLaMA2").run()
    assert not at.exception
    ref = {r["name"]: r for r in side_by_side(demo_db, task, ["ChatGPT", "GPT-4", "LLaMA2"],
                                              baseline="LLaMA2")["variants"]}

    def shown(column):
        found = [t.value for t in at.table if column in t.value.columns]
        assert found, f"no table with {column}"
        return found[0].map(lambda v: str(v).replace("\\", "")).set_index("Labeler")

    main = shown("Invalid outputs")
    assert list(main.columns) == ["Dev items labeled", "Accuracy", "Cohen's kappa", "Macro-F1", "Invalid outputs",
                                  "Tokens per item", "Cost per item", "Latency per item", "Pareto front"]
    assert list(main.index) == ["ChatGPT", "GPT-4", "LLaMA2"]
    acc = ref["GPT-4"]["metrics"]["accuracy"]
    assert main.loc["GPT-4", "Accuracy"] == f"{acc['estimate']:.3f} [{acc['ci_low']:.3f}, {acc['ci_high']:.3f}]"
    assert main.loc["GPT-4", "Dev items labeled"] == str(ref["GPT-4"]["n_items"]) == "80"
    assert main.loc["GPT-4", "Cost per item"] == "–"          # imported labels: no calls, no cost
    assert (main["Pareto front"] == "no cost data").all()     # unknown, not a false "no"
    diff = shown("McNemar p (accuracy)")
    assert list(diff.index) == ["ChatGPT", "GPT-4"]           # the baseline is not compared with itself
    d = ref["ChatGPT"]["versus_baseline"]["metrics"]["accuracy"]
    assert diff.loc["ChatGPT", "Accuracy difference"] == f"{d['estimate']:.3f} [{d['ci_low']:.3f}, {d['ci_high']:.3f}]"
    assert diff.loc["ChatGPT", "McNemar p (accuracy)"] == f"{d['mcnemar_p']:.4f}"
    assert "so there is no cost-versus-Accuracy plot" in " ".join(c.value for c in at.caption)


def test_the_final_evaluation_on_test_is_recorded_shown_beside_dev_and_the_variant_goes_to_the_gate(app_for, demo_db):
    from labelgate.align import make_split
    from labelgate.align.promote import dev_versus_test
    from labelgate.store.tasks import get_task

    task = get_task(demo_db, "mt-bench")
    make_split(demo_db, task, created_by="engineer")
    at = app_for("engineer", page=PAGE)
    at.multiselect(key="cmp_align_sbs_mt-bench").set_value(["ChatGPT", "GPT-4", "LLaMA2"]).run()
    assert at.selectbox(key="cmp_final_labeler_mt-bench").value == "GPT-4"     # the best on dev by kappa
    assert "GPT-4 (version" in " ".join(c.value for c in at.caption)
    at.button(key="cmp_final_run").click().run()
    assert not at.exception
    assert "Final evaluation 1 of GPT-4 on 80 test items, recorded with your name. The test split has now been " \
           "looked at 1 time." in " ".join(s.value for s in at.success)
    assert "The test split has been looked at **1 time**" in " ".join(c.value for c in at.caption)
    with demo_db.connect() as con:
        assert con.execute("SELECT labeler, created_by, n_items FROM align_final_evaluations").fetchall() == [
            ("GPT-4", "engineer", 80)]
    view = dev_versus_test(demo_db, task, "GPT-4")
    found = [t.value for t in at.table if "Optimism gap (dev − test)" in t.value.columns]
    assert found, "no dev-against-test table"
    rows = found[0].map(lambda v: str(v).replace("\\", "")).set_index("Metric")
    acc = {r["metric"]: r for r in view["rows"]}["accuracy"]
    assert rows.loc["Accuracy", "On test (95% CI)"] == \
        f"{acc['test']['estimate']:.3f} [{acc['test']['ci_low']:.3f}, {acc['test']['ci_high']:.3f}]"
    assert rows.loc["Accuracy", "Optimism gap (dev − test)"] == f"{acc['gap']:+.3f}"

    at.text_input(key="cmp_promote_name_mt-bench_GPT-4").set_value("judge").run()
    at.button(key="cmp_promote").click().run()
    assert "Not saved: name: the labels of GPT-4 were imported from a file, so it keeps its name" in \
        " ".join(e.value for e in at.error)
    at.text_input(key="cmp_promote_name_mt-bench_GPT-4").set_value("GPT-4").run()
    at.button(key="cmp_promote").click().run()
    assert not at.exception
    assert "Saved GPT-4 as the labeler GPT-4 of mt-bench" in " ".join(s.value for s in at.success)
    with demo_db.connect() as con:
        assert con.execute("SELECT variant, labeler, created_by FROM align_promotions").fetchall() == [
            ("GPT-4", "GPT-4", "engineer")]

    gate_page = app_for("engineer", page="pages/gate.py")
    gate_page.selectbox(key="gate_labeler").set_value("GPT-4").run()
    evaluate = next(b for b in gate_page.button if b.label == "Evaluate")
    evaluate.click().run()
    assert not gate_page.exception
    assert any(m.value == "**From the alignment lab**" for m in gate_page.markdown)
    assert "Promoted from the alignment lab by engineer" in " ".join(c.value for c in
                                                                                   gate_page.caption)
    lab = [t.value for t in gate_page.table if "Optimism gap (dev − test)" in t.value.columns]
    assert lab and "Cohen's kappa" in lab[0].map(lambda v: str(v).replace("\\", ""))["Metric"].tolist()


def test_the_dev_items_where_the_chosen_labelers_disagree_open_in_review(app_for, demo_db):
    from labelgate.align import make_split
    from labelgate.store.tasks import get_task

    split = make_split(demo_db, get_task(demo_db, "mt-bench"), created_by="engineer")
    at = app_for("engineer", page=PAGE)
    at.multiselect(key="cmp_align_sbs_mt-bench").set_value(["GPT-4", "LLaMA2"]).run()
    at.button(key="cmp_align_review").click().run()
    assert not at.exception
    assert at.title[0].value == "Review"
    assert "From the alignment lab: the dev items where GPT-4, LLaMA2 disagree" in at.info[0].value
    queue = table(at, "item", "disagreement", "GPT-4", "LLaMA2")
    dev = set(split.ids("dev"))
    assert "15 items in this queue." in [c.value for c in at.caption]
    assert len(queue) == 15 and set(queue["item"]) <= dev
    for _, row in queue.iterrows():
        given = [row[n] for n in ("GPT-4", "LLaMA2") if row[n] in ("1", "2")]
        against_gold = any(g != row["gold"] for g in given)
        each_other = len(set(given)) > 1
        assert row["disagreement"] == {(True, True): "with gold and each other", (True, False): "with gold",
                                       (False, True): "with each other"}[(against_gold, each_other)]
    at.button(key="rev_lab_clear").click().run()
    assert "rev_lab" not in at.session_state          # the queues are back (AppTest reruns the page it started on)


def test_rewrites_proposed_from_the_train_errors_land_in_the_variants_box(app_for, demo_db):
    import json

    from labelgate.align import make_split
    from labelgate.labelers import LabelerConfig
    from labelgate.store.labelers import save_labeler
    from labelgate.store.tasks import get_task
    from tests.llm_server import FakeLLMServer, default_answer

    rewrite = "Judge carefully which output answers better.\n\n{item}\n\n{options}\n\nAnswer with one of: {labels}."

    def answer(ctx):
        if "rewritten versions of the instructions" in ctx.prompt:
            return {"proposals": [{"instructions": rewrite, "rationale": "asks for care"}]}
        return default_answer(ctx)

    task = get_task(demo_db, "mt-bench")
    split = make_split(demo_db, task, created_by="engineer")
    with FakeLLMServer(answer=answer) as server:
        save_labeler(demo_db, task.task_id, LabelerConfig(name="local judge", provider="openai-compatible",
                                                          model="local-model", base_url=server.openai_url),
                     created_by="engineer")
        at = app_for("engineer", page=PAGE)
        at.button(key="cmp_propose").click().run()
        assert "Nothing stored" not in " ".join(e.value for e in at.error)
        assert "Not asked: name the proposer's model" in " ".join(e.value for e in at.error)
        at.selectbox(key="cmp_propose_mt-bench_base").set_value("local judge").run()
        at.text_input(key="cmp_propose_mt-bench_model").set_value("local-proposer").run()
        at.button(key="cmp_propose").click().run()
        assert not at.exception
        asked = [r for r in server.requests if "rewritten versions of the instructions" in r["prompt"]]
        assert len(asked) == 1 and asked[0]["body"]["model"] == "local-proposer"
    done = " ".join(s.value for s in at.success)
    assert "Proposal 1: local judge got" in done and "(no dev or test item)" in done and "Run on dev" in done
    with demo_db.connect() as con:
        row = con.execute("SELECT created_by, error_item_ids, variants FROM align_proposals").fetchone()
    assert row[0] == "engineer" and set(json.loads(row[1])) <= set(split.ids("train"))
    name = json.loads(row[2])[0]["name"]
    box = at.text_area(key="cmp_run_variants_mt-bench").value
    assert f"name: {name}" in box and "Judge carefully which output answers better." in box
    history = [t.value for t in at.table if "Train errors shown" in t.value.columns]
    assert history and history[0].map(lambda v: str(v).replace("\\", ""))["Variants"].tolist() == [name]
