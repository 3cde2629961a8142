"""Routing by expertise (issue 11, point 10): experts carry tags, a task names the metadata column
holding each item's domain, and the queue serves an item to experts tagged with its domain first,
to others only when the task allows it. All against the real DuckDB file."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from labelgate import labeling
from labelgate.importer import read_table, validate_items
from labelgate.labeling import draw_calibration_set, next_item, queue, submit_answer
from labelgate.store import Database
from labelgate.store.imports import import_items
from labelgate.store.labels import human_labels
from labelgate.store.tasks import create_task, get_task, set_task_routing
from labelgate.store.users import add_user, set_user_active, set_user_tags, user_changes, user_tags
from labelgate.tasks import make_spec

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def no_overlap(monkeypatch):
    monkeypatch.setattr(labeling, "OVERLAP_MIN_ITEMS", 0)


def build(db, tmp_path, *, experts_per_item=2, others=True, domain="domain"):
    """12 items, 6 legal then 6 medical (interleaved in id order), all in the calibration set, none
    shared; ann is a legal expert, bob a medical one, cat has no tags."""
    task = create_task(db, "qa", "categorical", make_spec("categorical", labels=["1", "2"]))
    ids = [f"i{i:02d}" for i in range(12)]
    domains = ["Legal" if i % 2 == 0 else "medical " for i in range(12)]   # case and spaces do not matter
    pd.DataFrame({"item_id": ids, "text": [f"question {i}" for i in ids], "domain": domains,
                  "source": "s"}).to_csv(tmp_path / "items.csv", index=False)
    parsed = read_table(tmp_path / "items.csv")
    items, cols = validate_items(parsed, task)
    import_items(db, task, parsed, items, cols)
    draw_calibration_set(db, get_task(db, "qa"), size=12, seed=0, experts_per_item=experts_per_item,
                         overlap_share=0.0)
    for name in ("ann", "bob", "cat"):
        add_user(db, name, "expert", "pw-123456789")
    set_user_tags(db, "ann", "legal", changed_by="admin")
    set_user_tags(db, "bob", "Medical, code", changed_by="admin")
    if domain:
        set_task_routing(db, "qa", domain_column=domain, others_may_label=others, created_by="admin")
    return get_task(db, "qa"), {i: d.strip().lower() for i, d in zip(ids, domains, strict=True)}


def serve(db, task, rater, n=100) -> list[str]:
    served = []
    for _ in range(n):
        item = next_item(db, task, rater, retest_share=0)
        if item is None:
            break
        served.append(item.item_id)
        submit_answer(db, task, rater, item, answer="1")
    return served


def test_each_tagged_expert_gets_their_own_domains_items_first(db, tmp_path, no_overlap):
    task, dom = build(db, tmp_path)
    ann, bob = [], []
    for _ in range(6):   # working at the same time
        for rater, seen in (("ann", ann), ("bob", bob)):
            item = next_item(db, task, rater, retest_share=0)
            seen.append(item.item_id)
            submit_answer(db, task, rater, item, answer="1")
    assert [dom[i] for i in ann] == ["legal"] * 6
    assert [dom[i] for i in bob] == ["medical"] * 6
    # the other domain is allowed once their own is done: its experts have answered, a slot is free
    rest = serve(db, task, "ann")
    assert sorted(rest) == sorted(bob)


def test_with_others_not_allowed_an_expert_never_gets_the_other_domain(db, tmp_path, no_overlap):
    task, dom = build(db, tmp_path, others=False)
    assert task.domain_column == "domain" and task.others_may_label is False
    ann = serve(db, task, "ann")
    bob = serve(db, task, "bob")
    assert {dom[i] for i in ann} == {"legal"} and len(ann) == 6
    assert {dom[i] for i in bob} == {"medical"} and len(bob) == 6
    q = queue(db, task, "ann", retest_share=0)
    assert q.item is None and q.held_back == 6 and q.held_back_domains == ("medical",)
    assert q.others_may_label is False
    assert queue(db, task, "cat", retest_share=0).held_back == 12 and serve(db, task, "cat") == []
    labels = human_labels(db, task.task_id)
    assert {dom[i] for i in labels.loc[labels["rater"] == "ann", "item_id"]} == {"legal"}


def test_others_fill_only_what_no_free_matching_expert_can(db, tmp_path, no_overlap):
    """One slot per item: while ann and bob are free, an untagged expert is offered nothing; once
    bob is disabled nobody tagged medical is free, and the medical items go to cat."""
    task, dom = build(db, tmp_path, experts_per_item=1)
    q = queue(db, task, "cat", retest_share=0)
    assert q.item is None and q.held_back == 12 and q.held_back_domains == ("legal", "medical")
    set_user_active(db, "bob", False, changed_by="admin")
    got = serve(db, task, "cat")
    assert {dom[i] for i in got} == {"medical"} and len(got) == 6


def test_a_shown_item_comes_back_after_a_reload_and_progress_counts_only_what_is_open(db, tmp_path, no_overlap):
    task, dom = build(db, tmp_path, others=False)
    first = next_item(db, task, "ann", retest_share=0)
    again = next_item(db, task, "ann", retest_share=0)
    assert again.item_id == first.item_id and dom[first.item_id] == "legal"
    assert (first.done, first.total) == (0, 6)


def test_without_a_domain_column_tags_change_nothing(db, tmp_path, no_overlap):
    task, _ = build(db, tmp_path, domain=None)
    assert task.domain_column is None
    order = serve(db, task, "ann", n=3)
    plain = serve(db, task, "cat", n=3)
    # cat (untagged) and ann (tagged legal) are served the same draw order
    assert plain == order


def test_bad_input_names_the_field_and_changes_nothing(db, tmp_path, no_overlap):
    task, _ = build(db, tmp_path)
    with pytest.raises(ValueError, match=r"domain column: 'topic' is not a metadata column .*domain, source"):
        set_task_routing(db, "qa", domain_column="topic")
    assert get_task(db, "qa").revision == task.revision
    with pytest.raises(ValueError, match=r"expertise tags: 'le gal' is not a tag"):
        set_user_tags(db, "ann", "code, le gal")
    with pytest.raises(LookupError, match="no user named 'zed'"):
        set_user_tags(db, "zed", "code")
    assert user_tags(db) == {"ann": ["legal"], "bob": ["code", "medical"]}
    assert set_user_tags(db, "ann", "LEGAL ") is False
    set_user_tags(db, "ann", "", changed_by="lead")
    assert "ann" not in user_tags(db)
    changes = user_changes(db)
    mine = changes[(changes["user_name"] == "ann") & (changes["field"] == "expertise")]
    assert mine[["changed_by", "new_value"]].values.tolist() == [["lead", ""], ["admin", "legal"]]
    assert mine["old_value"].iloc[0] == "legal" and pd.isna(mine["old_value"].iloc[1])


def test_a_database_from_before_routing_migrates_untouched(tmp_path):
    path = tmp_path / "pre.duckdb"
    shutil.copy(DATA / "pre_criteria.duckdb", path)
    con = duckdb.connect(str(path), read_only=True)
    revisions = con.execute("SELECT count(*) FROM task_revisions").fetchone()[0]
    con.close()
    db = Database(path)
    task = get_task(db, "mt-bench")
    assert task.domain_column is None and task.others_may_label is True
    assert labeling.routing(task) is None and user_tags(db) == {}
    with db.connect() as c:
        assert c.execute("SELECT count(*), count(*) FILTER (WHERE others_may_label) FROM task_revisions"
                         ).fetchone() == (revisions, revisions)
    db.close()


def test_cli_sets_tags_and_the_domain_and_refuses_bad_input(db, tmp_path, capsys, no_overlap):
    from labelgate.cli import main as cli

    build(db, tmp_path, domain=None)
    base = ["--db", str(db.path)]
    assert cli([*base, "users", "tags", "cat", "--set", "Code, legal"]) == 0
    assert "cat: expertise tags: code, legal" in capsys.readouterr().out
    assert cli([*base, "users", "tags", "cat", "--set", "c++"]) == 2
    assert "expertise tags: 'c++' is not a tag" in capsys.readouterr().err
    assert user_tags(db)["cat"] == ["code", "legal"]
    assert cli([*base, "users", "list"]) == 0
    assert "code, legal" in capsys.readouterr().out
    assert cli([*base, "task", "set-domain", "qa", "topic"]) == 2
    assert "domain column: 'topic' is not a metadata column of task qa's items; its columns: domain, source" \
        in capsys.readouterr().err
    assert get_task(db, "qa").domain_column is None
    assert cli([*base, "task", "set-domain", "qa", "domain", "--experts-only"]) == 0
    assert "domain column domain; only experts tagged" in capsys.readouterr().out
    task = get_task(db, "qa")
    assert (task.domain_column, task.others_may_label) == ("domain", False)
    assert cli([*base, "task", "show", "qa"]) == 0
    assert "routing by expertise: domain column domain" in capsys.readouterr().out
    assert cli([*base, "task", "set-domain", "qa", "--clear"]) == 0
    assert get_task(db, "qa").domain_column is None


def test_retests_and_undo_keep_working_under_routing(db, tmp_path, no_overlap):
    """With every item picked for a retest after 2 more answers, ann's retests are of her own
    (legal) items, stored as round 2; an undone answer comes back first."""
    from labelgate.labeling import undo_last_answer

    task, dom = build(db, tmp_path, others=False)
    rounds = []
    for _ in range(9):
        item = next_item(db, task, "ann", retest_share=1.0, retest_after_items=2)
        if item is None:
            break
        rounds.append((item.item_id, item.round))
        submit_answer(db, task, "ann", item, answer="1")
    assert {dom[i] for i, _ in rounds} == {"legal"}
    assert any(r == 2 for _, r in rounds) and rounds[0][1] == 1
    firsts = [i for i, r in rounds if r == 1]
    assert len(firsts) == len(set(firsts))
    undone = undo_last_answer(db, task, "ann")
    assert next_item(db, task, "ann", retest_share=0).item_id == undone


def test_an_answer_to_an_item_no_longer_routed_to_the_expert_is_refused_and_nothing_is_stored(db, tmp_path,
                                                                                               no_overlap):
    """Experts only: ann is shown a legal item, then loses her legal tag before answering. The answer is
    refused with a sentence saying why, nothing is stored, and the item is not shown to her again."""
    from labelgate.labeling import submit_item
    from labelgate.store.labels import NotRoutedError

    task, dom = build(db, tmp_path, others=False)
    item = next_item(db, task, "ann", retest_share=0)
    assert dom[item.item_id] == "legal"
    set_user_tags(db, "ann", "code", changed_by="admin")
    with pytest.raises(NotRoutedError, match=f"Item {item.item_id} is no longer routed to you: its domain is "
                                             r"legal.*your expertise tags \(code\).*Nothing was stored"):
        submit_answer(db, task, "ann", item, answer="1")
    with pytest.raises(NotRoutedError):   # the several-criteria path stores through the same check
        submit_item(db, task, "ann", item, answers={task.criterion_name: "1"})
    assert human_labels(db, task.task_id).empty
    assert next_item(db, task, "ann", retest_share=0) is None   # her slot was given up; nothing of hers is left
    # the item is free for a legal expert again
    set_user_tags(db, "cat", "legal", changed_by="admin")
    assert dom[next_item(db, task, "cat", retest_share=0).item_id] == "legal"


def test_a_changed_domain_column_is_checked_at_the_answer_too(db, tmp_path, no_overlap):
    task, dom = build(db, tmp_path, others=False)
    item = next_item(db, task, "ann", retest_share=0)
    # the lead routes by another column after the item was shown (every item's source is "s")
    set_task_routing(db, "qa", domain_column="source", others_may_label=False, created_by="admin")
    from labelgate.store.labels import NotRoutedError

    with pytest.raises(NotRoutedError, match="its domain is s,"):
        submit_answer(db, task, "ann", item, answer="1")   # the page's task object is the old revision
    assert human_labels(db, task.task_id).empty


def test_when_others_may_label_a_shown_item_is_still_answered_after_a_tag_change(db, tmp_path, no_overlap):
    task, dom = build(db, tmp_path, others=True)
    item = next_item(db, task, "ann", retest_share=0)
    set_user_tags(db, "ann", "", changed_by="admin")
    submit_answer(db, task, "ann", item, answer="1")
    labels = human_labels(db, task.task_id)
    assert labels[["item_id", "rater", "value"]].values.tolist() == [[item.item_id, "ann", "1"]]
