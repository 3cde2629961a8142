"""How many malformed or hostile files and form inputs the security and reliability tests feed the
app (issue 10 asks for at least 40), counted from the tests' own corpora so the number cannot drift
from what runs. `pytest -s` prints the breakdown."""

from __future__ import annotations

from tests.reliability import test_bad_database
from tests.security import test_base_url_secrets, test_hostile_files, test_hostile_forms_browser
from tests.security.hostile import FORMULAS, MARKDOWN, RTL_EMOJI, SQL


def _params(test) -> list:
    (mark,) = [m for m in test.pytestmark if m.name == "parametrize"]
    return list(mark.args[1])


def corpus() -> dict[str, int]:
    return {
        "item files refused naming the row or column (test_hostile_files.BAD_ITEMS)":
            len(test_hostile_files.BAD_ITEMS),
        "label files refused (test_hostile_files.BAD_LABELS)": len(test_hostile_files.BAD_LABELS),
        "formula, markdown/HTML beacon, RTL/emoji and SQL values stored exactly in ids, text, metadata, "
        "raters, batches and comments, exported neutralized (hostile.py)": len(FORMULAS + MARKDOWN + RTL_EMOJI + SQL),
        "Parquet and JSONL files with typed metadata (timestamps, lists, structs, bytes, inf/NaN)": 2,
        "a 1,000,000-row file with one ragged row (refused whole, then imported whole)": 1,
        "hostile form inputs typed in Chromium (task, user, labeler, batch, comment; a user name with a space)":
            len(test_hostile_forms_browser.hostile(0)) + 1,
        "base URLs with a secret or malformed, refused on the CLI and the Labelers page":
            len(test_base_url_secrets.BAD_URLS)
            + len(_params(test_base_url_secrets.test_a_base_url_must_be_http_with_a_host)),
        "database files that are damaged, newer or not labelgate's (test_bad_database)":
            len(test_bad_database.CASES),
    }


def test_the_bad_input_corpus_has_at_least_forty_inputs():
    counts = corpus()
    total = sum(counts.values())
    print(f"\nbad-input corpus: {total} malformed or hostile files and form inputs")
    for what, n in counts.items():
        print(f"  {n:3d}  {what}")
    assert total >= 40, counts
