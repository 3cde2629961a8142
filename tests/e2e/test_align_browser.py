"""An engineer compares alignment-lab variants side by side on the dev split in Chromium: three variants
run by `align run` against the prompt-sensitive test server, the table, the paired differences and the
cost-versus-agreement plot with its Pareto front."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from labelgate.align import make_split
from labelgate.align.variants import Variant, run_variants
from labelgate.gold import resolve_gold
from labelgate.store import Database
from labelgate.store.items import get_items
from labelgate.store.tasks import get_task
from tests.e2e.harness import ARTIFACTS, ROOT, Server, log_in, new_page, wait_idle
from tests.labelgate.align_helpers import FAST
from tests.labelgate.llm_helpers import PLANTED_KEY
from tests.llm_server import FakeLLMServer, PromptSensitiveJudge

pytestmark = pytest.mark.e2e
SHOTS = ROOT / "docs" / "screenshots" if os.environ.get("LABELGATE_DOC_SCREENSHOTS") else ARTIFACTS
PHRASE = "Judge which output answers the user better."


@pytest.fixture
def lab_server(tmp_path, demo_template, monkeypatch):
    path = tmp_path / "align.duckdb"
    shutil.copy(demo_template, path)
    db = Database(path)
    task = get_task(db, "mt-bench")
    gold = resolve_gold(db, task)
    make_split(db, task, created_by="engineer")
    items = get_items(db, task.task_id, list(gold.labels["item_id"])).set_index("item_id")["fields"]
    known = [(items[i]["output_1"], items[i]["output_2"], v) for i, v in zip(gold.labels["item_id"],
                                                                               gold.labels["value"], strict=True)]

    def gold_of(text: str) -> str | None:
        return next((v for a, b, v in known if a in text and b in text), None)

    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    with FakeLLMServer(answer=PromptSensitiveJudge(gold_of, phrase=PHRASE)) as llm:
        common = dict(provider="openai", base_url=llm.openai_url, api_key_env="OPENAI_API_KEY")
        out = run_variants(db, task, [
            Variant(1, "mini zero-shot", model="gpt-4o-mini", **common),
            Variant(2, "mini 4-shot", model="gpt-4o-mini", prompt=PHRASE + "\n\n{item}\n\n{options}", few_shot=4,
                    seed=1, **common),
            Variant(3, "4o 8-shot", model="gpt-4o", prompt=PHRASE + "\n\n{item}\n\n{options}", few_shot=8, seed=2,
                    **common)], options=FAST, created_by="engineer")
    assert [v["labeled"] for v in out["variants"]] == [80, 80, 80]
    srv = Server(path)
    yield srv
    srv.stop()


def test_engineer_compares_variants_side_by_side_on_dev(lab_server, browser):
    page = new_page(browser)
    context = page.context
    try:
        log_in(page, lab_server.url, "engineer", "engineer-demo")
        page.get_by_role("link", name="Compare").click()
        wait_idle(page)
        heading = page.get_by_text("Side by side on the dev split")
        heading.wait_for()
        page.get_by_text("Paired differences against mini zero-shot").wait_for()
        main = page.locator('[data-testid="stTable"]').filter(has_text="Invalid outputs")
        text = main.inner_text()
        for name in ("mini zero-shot", "mini 4-shot", "4o 8-shot", "Tokens per item", "Cost per item",
                     "Latency per item", "Pareto front"):
            assert name in text
        assert "_" not in text.replace("mini zero-shot", "")      # no raw column names
        page.get_by_text("Cost against Accuracy on the dev split").wait_for()
        heading.scroll_into_view_if_needed()
        wait_idle(page)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "align_side_by_side.png"))
        plot = page.locator('[data-testid="stPlotlyChart"]').last
        plot.scroll_into_view_if_needed()
        wait_idle(page)
        plot.screenshot(path=str(SHOTS / "align_pareto.png"))
    finally:
        context.close()


def _demo_outputs(path):
    """item_of(text): the demo gold item shown in a text (its instruction, then output 1, then output 2; the
    longest such match, as some items are others with the outputs swapped or extended); gold_of for the judge."""
    db = Database(path)
    task = get_task(db, "mt-bench")
    gold = resolve_gold(db, task)
    fields = get_items(db, task.task_id, list(gold.labels["item_id"])).set_index("item_id")["fields"]
    outputs = {i: (fields[i]["input"], fields[i]["output_1"], fields[i]["output_2"]) for i in gold.labels["item_id"]}
    labels = dict(zip(gold.labels["item_id"], gold.labels["value"], strict=True))

    def item_of(text: str) -> str | None:
        found = []
        for i, (q, a, b) in outputs.items():
            at_a = text.find(a, max(text.find(q), 0)) if q in text else -1
            if at_a >= 0 and text.find(b, at_a + len(a)) >= 0:
                found.append((len(q) + len(a) + len(b), i))
        return max(found)[1] if found else None

    def gold_of(text: str) -> str | None:
        i = item_of(text)
        return None if i is None else labels[i]

    return item_of, gold_of


def test_engineer_splits_runs_two_variants_compares_evaluates_on_test_and_saves_the_winner(tmp_path, demo_template,
                                                                                         browser):
    path = tmp_path / "lab.duckdb"
    shutil.copy(demo_template, path)
    item_of, gold_of = _demo_outputs(path)
    with FakeLLMServer(answer=PromptSensitiveJudge(gold_of, phrase=PHRASE)) as llm:
        srv = Server(path, env={"OPENAI_API_KEY": PLANTED_KEY})
        page = new_page(browser)
        context = page.context
        try:
            log_in(page, srv.url, "engineer", "engineer-demo")
            page.get_by_role("link", name="Compare").click()
            wait_idle(page)
            page.get_by_role("button", name="Split the gold: train 20%, dev 40%, test 40%").click()
            wait_idle(page)
            page.get_by_text("Split 1 of the unreleased draft: train 40, dev 80, test 80 items").wait_for()
            page.get_by_text("The test split has been looked at 0 times").wait_for()

            page.get_by_text("Run variants on the dev split").click()
            common = (f"  provider: openai\n  model: gpt-4o-mini\n  base_url: {llm.openai_url}\n"
                      "  api_key_env: OPENAI_API_KEY\n")
            variants = (f"- name: mini zero-shot\n{common}"
                        f"- name: mini 8-shot\n{common}  prompt: \"{PHRASE}\\n\\n{{item}}\\n\\n{{options}}\"\n"
                        "  few_shot: 8\n  seed: 2\n")
            box = page.get_by_label("Variants (YAML or JSON)")
            box.fill(variants)
            box.press("Control+Enter")
            wait_idle(page)
            page.get_by_role("button", name="Run on dev").click()
            wait_idle(page)
            page.get_by_text("Ran 2 variant(s) on the dev split: mini zero-shot: 80 of 80 dev items").wait_for()
            assert llm.request_count == 160
            dev_prompts = [r["prompt"] for r in llm.requests]

            table = page.locator('[data-testid="stTable"]').filter(has_text="Invalid outputs").filter(
                has_text="mini 8-shot")
            table.wait_for()
            assert "mini zero-shot" in table.inner_text()
            page.get_by_text("Paired differences against mini zero-shot").wait_for()

            # the final evaluation: the variant best on dev by kappa is preselected
            final = page.get_by_role("button", name="Run the final evaluation on test")
            final.scroll_into_view_if_needed()
            page.get_by_text("mini 8-shot (version").wait_for()       # not yet evaluated on test
            final.click()
            wait_idle(page)
            message = page.get_by_text("Final evaluation 1 of mini 8-shot on 80 test items, recorded with your name.")
            message.wait_for()
            assert "first labeled the 80 test items it had not labeled (80 requests" in message.inner_text()
            page.get_by_text("The test split has been looked at 1 time").first.wait_for()
            gap = page.locator('[data-testid="stTable"]').filter(has_text="Optimism gap (dev − test)")
            gap.wait_for()
            assert "Cohen's kappa" in gap.inner_text() and "Accuracy" in gap.inner_text()
            assert llm.request_count == 240

            name = page.get_by_role("textbox", name="Save as the task's labeler named")
            name.fill("judge")
            name.press("Enter")
            wait_idle(page)
            page.get_by_role("button", name="Save for the gate").click()
            wait_idle(page)
            saved = page.get_by_text("Saved mini 8-shot as the labeler judge of mt-bench")
            saved.wait_for()
            assert llm.request_count == 240                          # judge's labels came from the cache
            page.get_by_text("Final evaluation on the sealed test split", exact=True).evaluate(
                "e => e.scrollIntoView({block: 'start'})")
            wait_idle(page)
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "align.png"))

            # the Gate shows the lab's numbers as evidence of the saved labeler
            page.get_by_role("link", name="Gate").click()
            wait_idle(page)
            page.get_by_label("Labeler", exact=True).click()
            page.get_by_role("option", name="judge", exact=True).click()
            wait_idle(page)
            page.get_by_role("button", name="Evaluate").click()
            wait_idle(page)
            page.get_by_text("From the alignment lab", exact=True).wait_for()
            page.get_by_text("Promoted from the alignment lab (variant mini 8-shot) by engineer").wait_for()
            lab = page.get_by_text("From the alignment lab", exact=True)
            lab.scroll_into_view_if_needed()
            wait_idle(page)
            page.screenshot(path=str(ARTIFACTS / "align_gate_evidence.png"))
        except Exception:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "align_failure.png"), full_page=True)
            raise
        finally:
            context.close()
            srv.stop()
        test_prompts = [r["prompt"] for r in llm.requests[160:]]

    db = Database(path)
    task = get_task(db, "mt-bench")
    with db.connect() as con:
        assert con.execute("SELECT created_by FROM align_splits").fetchall() == [("engineer",)]
        split_id = con.execute("SELECT split_id FROM align_splits").fetchone()[0]
        parts = dict(con.execute("SELECT item_id, part FROM align_split_items WHERE split_id = ?",
                                 [split_id]).fetchall())
        finals = con.execute("SELECT labeler, created_by, n_items FROM align_final_evaluations").fetchall()
        promoted = con.execute("SELECT variant, labeler, created_by, test_looks FROM align_promotions").fetchall()
        labeled = con.execute("SELECT labeler, batch, count(DISTINCT item_id) FROM llm_labels WHERE task_id = ?"
                              " AND batch LIKE 'align-%' GROUP BY ALL ORDER BY ALL", [task.task_id]).fetchall()
    assert finals == [("mini 8-shot", "engineer", 80)]
    assert promoted == [("mini 8-shot", "judge", "engineer", 1)]
    assert labeled == [("judge", "align-dev", 80), ("judge", "align-test", 80), ("mini 8-shot", "align-dev", 80),
                       ("mini 8-shot", "align-test", 80), ("mini zero-shot", "align-dev", 80)]
    # no test item before the final evaluation, and never a dev or test item as a few-shot example
    for prompts, part in ((dev_prompts, "dev"), (test_prompts, "test")):
        for prompt in prompts:
            k, examples, rest = PromptSensitiveJudge.split_prompt(prompt)
            assert parts[item_of(rest)] == part
            blocks = re.split(r"^Example \d+:$", examples, flags=re.MULTILINE)[1:]
            assert len(blocks) == k and all(parts[item_of(b)] == "train" for b in blocks)
