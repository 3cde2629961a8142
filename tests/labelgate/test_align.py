"""Alignment lab: splits stored once per gold release, paired comparisons on dev, counted finals on test.

Everything runs on the real DuckDB file with the demo data (MT-Bench: pairwise, both presentation
orders; UK Acts technology: the CAP task with five imported LLMs).
"""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score
from statsmodels.stats.contingency_tables import mcnemar

from labelgate.align import SplitRefused, compare, get_split, make_split
from labelgate.cli import main as cli
from labelgate.gold import publish, resolve_gold
from labelgate.store import Database
from labelgate.store.labelers import current_versions
from labelgate.store.tasks import get_task, list_tasks
from labelgate.store.users import User
from qc.paired import paired_bootstrap_ci

PREVIOUS = Path(__file__).resolve().parents[1] / "data" / "previous_release.duckdb"


def run(db, *args, stdin=None, monkeypatch=None) -> int:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return cli(["--db", str(db.path), *args])


def _stored(db, split_id) -> pd.DataFrame:
    with db.connect() as con:
        return con.execute("SELECT item_id, part FROM align_split_items WHERE split_id = ?", [split_id]).df()


def test_the_split_is_stratified_by_gold_label_stored_once_and_never_moves(demo_db):
    task = get_task(demo_db, "mt-bench")
    gold = resolve_gold(demo_db, task)
    assert gold.release is None                          # the demo has no release: the split is on the draft
    s = make_split(demo_db, task)
    assert s.created and s.gold_release is None and s.gold_name == "the unreleased draft"
    assert s.counts() == {"train": 40, "dev": 80, "test": 80}
    stored = _stored(demo_db, s.split_id)
    assert len(stored) == gold.n_items == 200 and stored["item_id"].is_unique
    assert set(stored["item_id"]) == set(gold.labels["item_id"])
    # every gold label gets its share of every part, within one item
    by_label = stored.merge(gold.labels[["item_id", "value"]], on="item_id")
    for label, grp in by_label.groupby("value"):
        for part, share in zip(("train", "dev", "test"), (0.2, 0.4, 0.4), strict=True):
            assert abs((grp["part"] == part).sum() - share * len(grp)) <= 1, (label, part)
    again = make_split(demo_db, task)
    assert not again.created and again.split_id == s.split_id
    assert {p: again.ids(p) for p in ("train", "dev", "test")} == {p: s.ids(p) for p in ("train", "dev", "test")}
    with pytest.raises(SplitRefused, match=r"already split on the unreleased draft \(train 0.2, dev 0.4, test 0.4\); "
                                           "its items never move, so another ratio is refused"):
        make_split(demo_db, task, train=0.3)
    with pytest.raises(SplitRefused, match="another stratification is refused"):
        make_split(demo_db, task, stratify="longer_output")
    with demo_db.connect() as con:
        assert con.execute("SELECT count(*) FROM align_splits").fetchone()[0] == 1


def test_the_same_gold_and_seed_give_the_same_split_in_another_file_and_a_seed_changes_it(demo_db, tmp_path):
    other, third = tmp_path / "other.duckdb", tmp_path / "third.duckdb"
    shutil.copy(demo_db.path, other)
    shutil.copy(demo_db.path, third)
    task = get_task(demo_db, "mt-bench")
    a = make_split(demo_db, task, stratify="longer_output", seed=3)
    b = make_split(Database(other), get_task(Database(other), "mt-bench"), stratify="longer_output", seed=3)
    assert a.ids("test") == b.ids("test") and a.ids("train") == b.ids("train")
    c = make_split(Database(third), get_task(Database(third), "mt-bench"), stratify="longer_output", seed=4)
    assert c.ids("test") != a.ids("test")
    # stratified by label and the metadata column: each (label, longer_output) cell split by share
    strata = a.items.groupby("stratum")["part"].value_counts().unstack(fill_value=0)
    assert len(strata) == 4 and all(" | " in s for s in strata.index)
    for _, row in strata.iterrows():
        assert abs(row["test"] - 0.4 * row.sum()) <= 1


def test_a_new_gold_release_keeps_every_item_in_its_part(demo_db):
    task = get_task(demo_db, "mt-bench")
    draft = make_split(demo_db, task, train=0.3, dev=0.3)
    publish(demo_db, task, user=User("engineer", "engineer"), note="for the lab")
    released = make_split(demo_db, task)
    assert released.created and released.gold_release == 1 and released.inherited_from == draft.split_id
    assert released.shares == draft.shares
    old = draft.items.set_index("item_id")["part"]
    new = released.items.set_index("item_id")["part"]
    shared = old.index.intersection(new.index)
    assert len(shared) == len(new) and (old[shared] == new[shared]).all()
    assert get_split(demo_db, task).split_id == released.split_id        # the latest release by default
    assert get_split(demo_db, task, gold_release=1).ids("test") == draft.ids("test")


def test_cli_split_json_lists_the_ids_of_each_part_and_a_second_ratio_fails(demo_db, capsys):
    assert run(demo_db, "align", "split", "--task", "mt-bench", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["gold"] == "the unreleased draft" and doc["created"] is True
    assert [len(doc[p]) for p in ("train", "dev", "test")] == [40, 80, 80]
    assert set(doc["train"]) | set(doc["dev"]) | set(doc["test"]) == set(_stored(demo_db, doc["split_id"])["item_id"])
    assert run(demo_db, "align", "split", "--task", "mt-bench") == 0
    out = capsys.readouterr().out
    assert out.startswith("already made: split 1 of mt-bench on the unreleased draft: train 40, dev 80, test 80")
    assert "no gold release yet" in out
    assert run(demo_db, "align", "split", "--task", "mt-bench", "--train", "0.5", "--dev", "0.3") == 2
    assert "its items never move, so another ratio is refused" in capsys.readouterr().err
    assert run(demo_db, "align", "split", "--task", "mt-bench", "--train", "0.7", "--dev", "0.4") == 2


def _judgments(db, task, name, items):
    """One labeler's LLM labels on `items` straight from llm_labels, beside the draft gold."""
    version = current_versions(db, task.task_id).set_index("name").loc[name, "version"]
    with db.connect() as con:
        df = con.execute("SELECT item_id, shown_order, value FROM llm_labels WHERE task_id = ? AND labeler = ?"
                         " AND version = ?", [task.task_id, name, version]).df()
    gold = resolve_gold(db, task).labels.set_index("item_id")["value"]
    df = df[df["item_id"].isin(items)].assign(gold=lambda d: d["item_id"].map(gold))
    return df.dropna(subset=["gold"]).sort_values(["item_id", "shown_order"]).reset_index(drop=True)


def test_cli_compare_on_dev_equals_the_references_computed_from_the_stored_labels(demo_db, capsys):
    task = get_task(demo_db, "mt-bench")
    split = make_split(demo_db, task)
    assert run(demo_db, "align", "compare", "--task", "mt-bench", "--labelers", "GPT-4,LLaMA2", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    dev = set(split.ids("dev"))
    a, b = (_judgments(demo_db, task, n, dev) for n in ("GPT-4", "LLaMA2"))
    both = a.merge(b, on=["item_id", "shown_order", "gold"], suffixes=("_a", "_b"))
    assert doc["part"] == "dev" and doc["n_dev_items"] == 80 and doc["n_items"] == both["item_id"].nunique() == 80
    assert doc["n_judgments"] == len(both) == 160                      # both presentation orders
    acc = doc["metrics"]["accuracy"]
    assert acc["estimate"] == pytest.approx(accuracy_score(both["gold"], both["value_a"])
                                            - accuracy_score(both["gold"], both["value_b"]), abs=1e-12)
    kappa = doc["metrics"]["cohen_kappa"]
    assert kappa["estimate"] == pytest.approx(cohen_kappa_score(both["gold"], both["value_a"])
                                              - cohen_kappa_score(both["gold"], both["value_b"]), abs=1e-12)
    ref = paired_bootstrap_ci(both["gold"], both["value_a"], both["value_b"], metric="cohen_kappa", labels=["1", "2"],
                              n_resamples=2000, seed=0, groups=both["item_id"])
    assert (kappa["ci_low"], kappa["ci_high"]) == pytest.approx((ref.ci_low, ref.ci_high), abs=1e-12)
    assert acc["ci_low"] < acc["estimate"] < acc["ci_high"]
    # McNemar on one judgment per item (the first presentation order), as statsmodels computes it
    first = both.drop_duplicates("item_id")
    ra, rb = first["value_a"] == first["gold"], first["value_b"] == first["gold"]
    table = [[(ra & rb).sum(), (ra & ~rb).sum()], [(~ra & rb).sum(), (~ra & ~rb).sum()]]
    exact = table[0][1] + table[1][0] < 25
    assert acc["mcnemar_p"] == pytest.approx(mcnemar(table, exact=exact, correction=True).pvalue, abs=1e-9)
    assert acc["mcnemar"]["n10"] == table[0][1] and acc["mcnemar"]["n01"] == table[1][0]
    # the text form names the part, the items and the p-value
    assert run(demo_db, "align", "compare", "--task", "mt-bench", "--labelers", "GPT-4,LLaMA2") == 0
    out = capsys.readouterr().out
    assert "GPT-4 - LLaMA2 on the dev split of mt-bench (the unreleased draft): 80 of 80 dev items" in out
    assert f"McNemar p = {acc['mcnemar_p']:.4g}" in out


def test_compare_needs_a_split_and_known_labelers(demo_db, capsys):
    assert run(demo_db, "align", "compare", "--task", "mt-bench", "--labelers", "GPT-4,LLaMA2") == 2
    assert "no alignment split on the unreleased draft yet: make it with `labelgate align split --task mt-bench`" \
        in capsys.readouterr().err
    make_split(demo_db, get_task(demo_db, "mt-bench"))
    assert run(demo_db, "align", "compare", "--task", "mt-bench", "--labelers", "GPT-4,Nope") == 2
    assert "no labeler named Nope for task mt-bench" in capsys.readouterr().err
    assert run(demo_db, "align", "compare", "--task", "mt-bench", "--labelers", "GPT-4") == 2
    assert "compare needs two different labelers A,B" in capsys.readouterr().err


def test_compare_on_the_cap_task_uses_its_dev_items_only(cap_db):
    task = next(t for t in list_tasks(cap_db) if t.name.startswith("uk-acts"))
    split = make_split(cap_db, task)
    names = list(current_versions(cap_db, task.task_id)["name"])[:2]
    out = compare(cap_db, task, names, n_resamples=500)
    dev = set(split.ids("dev"))
    a = _judgments(cap_db, task, names[0], dev)
    b = _judgments(cap_db, task, names[1], dev)
    both = a.merge(b, on=["item_id", "shown_order", "gold"], suffixes=("_a", "_b"))
    assert out["n_items"] == both["item_id"].nunique() and out["n_items"] <= len(dev)
    assert set(out["metrics"]) == {"accuracy", "cohen_kappa", "macro_f1"}
    assert out["metrics"]["accuracy"]["estimate"] == pytest.approx(
        np.mean(both["value_a"] == both["gold"]) - np.mean(both["value_b"] == both["gold"]), abs=1e-12)


def test_final_evaluation_on_test_is_recorded_and_counted_and_experts_are_refused(demo_db, monkeypatch, capsys):
    task = get_task(demo_db, "mt-bench")
    split = make_split(demo_db, task)
    args = ["align", "final", "--task", "mt-bench", "--labeler", "GPT-4", "--user", "engineer", "--password-stdin"]
    assert run(demo_db, *args, stdin="engineer-demo\n", monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out
    assert "on the test split of mt-bench (the unreleased draft): 80 of 80 test items labeled" in out
    assert "the test split has been looked at 1 time (every final evaluation counts)" in out
    assert run(demo_db, *args, "--json", stdin="engineer-demo\n", monkeypatch=monkeypatch) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["test_looks"] == 2 and doc["part"] == "test"
    t = _judgments(demo_db, task, "GPT-4", set(split.ids("test")))
    assert doc["metrics"]["accuracy"]["estimate"] == pytest.approx(np.mean(t["value"] == t["gold"]), abs=1e-12)
    version = current_versions(demo_db, task.task_id).set_index("name").loc["GPT-4", "version"]
    with demo_db.connect() as con:
        rows = con.execute("SELECT labeler, labeler_version, created_by, n_items, split_id FROM align_final_evaluations"
                           " ORDER BY final_id").fetchall()
    assert rows == [("GPT-4", version, "engineer", 80, split.split_id)] * 2
    assert run(demo_db, "align", "final", "--task", "mt-bench", "--labeler", "GPT-4", "--user", "expert",
               "--password-stdin", stdin="expert-demo\n", monkeypatch=monkeypatch) == 2
    assert "only engineers and leads run a final evaluation on test" in capsys.readouterr().err
    with demo_db.connect() as con:
        assert con.execute("SELECT count(*) FROM align_final_evaluations").fetchone()[0] == 2


def test_the_previous_release_database_migrates_to_the_split_tables_and_splits(tmp_path):
    path = tmp_path / "old.duckdb"
    shutil.copy(PREVIOUS, path)
    db = Database(path)
    task = get_task(db, "mt-bench")
    gold = resolve_gold(db, task)
    if gold.n_items < 3:
        pytest.fail("the previous release file has too little gold to split")
    s = make_split(db, task)
    assert sum(s.counts().values()) == gold.n_items
    with db.connect() as con:
        names = {r[0] for r in con.execute("SELECT name FROM schema_migrations").fetchall()}
    assert "0022_align_splits" in names
