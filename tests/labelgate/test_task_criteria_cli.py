"""`labelgate task create NAME --criteria FILE` (issue 11): YAML or JSON, errors naming the criterion."""

from __future__ import annotations

import json

from labelgate.cli import main as cli
from labelgate.store.tasks import get_task

YAML = """\
# the reasoning rubric of a math tutor's answers
- name: reasoning valid
  kind: categorical
  labels: [yes, no]
  rate: yes
  rubric: Every step follows from the ones before.
- name: first wrong step
  kind: ordinal
  scale: 1-9
  rationale: required
  show_if: {criterion: reasoning valid, equals: no}
- name: clarity
  kind: ordinal
  scale: 1-5
  anchors: {1: confusing, 5: crystal clear}
  required: false
  rationale: optional
- name: certainty
  kind: continuous
  range: [0, 1]
- name: better
  kind: pairwise
  labels: 1,2,tie
"""


def run(db, *args) -> int:
    return cli(["--db", str(db.path), *args])


def test_task_create_from_a_yaml_list_of_criteria(db, tmp_path, capsys):
    f = tmp_path / "criteria.yaml"
    f.write_text(YAML, encoding="utf-8")
    rubric = tmp_path / "rubric.md"
    rubric.write_text("Judge the tutor's answer.", encoding="utf-8")
    assert run(db, "task", "create", "tutor", "--criteria", str(f), "--rubric", str(rubric),
               "--text-columns", "question,answer") == 0
    out = capsys.readouterr().out
    assert "created task tutor with 5 criteria:" in out
    assert "  first wrong step: ordinal, a whole number from 1 to 9" in out
    task = get_task(db, "tutor")
    assert task.criterion_names == ["reasoning valid", "first wrong step", "clarity", "certainty", "better"]
    valid, step, clarity, conf, better = task.criteria
    # YAML reads yes/no as booleans: they are the options "yes" and "no"
    assert (valid.spec, valid.rate, valid.rubric) == ({"labels": ["yes", "no"]}, "yes",
                                                      "Every step follows from the ones before.")
    assert (step.show_if, step.rationale, step.required) == ({"criterion": "reasoning valid", "equals": "no"},
                                                             "required", True)
    assert clarity.spec == {"scale": [1, 5], "anchors": {"1": "confusing", "5": "crystal clear"}}
    assert (clarity.required, clarity.rationale) == (False, "optional")
    assert conf.spec == {"range": [0.0, 1.0]} and better.spec == {"labels": ["1", "2", "tie"]}
    assert task.rubric == "Judge the tutor's answer." and task.text_columns == ("question", "answer")
    assert run(db, "task", "show", "tutor") == 0
    shown = capsys.readouterr().out
    assert "first wrong step: ordinal, a whole number from 1 to 9 (required; rationale required; shown when " \
           "reasoning valid is no)" in shown
    assert run(db, "task", "list") == 0
    assert "5 criteria: reasoning valid, first wrong step, clarity, certainty, better" in capsys.readouterr().out


def test_task_create_from_json_and_the_one_question_flags_still_make_one_criterion(db, tmp_path, capsys):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"criteria": [{"name": "fluency", "kind": "ordinal", "scale": [1, 5]},
                                          {"name": "topic", "kind": "categorical", "labels": ["a", "b"]}]}))
    assert run(db, "task", "create", "j", "--criteria", str(f)) == 0
    assert get_task(db, "j").criterion_names == ["fluency", "topic"]
    assert run(db, "task", "create", "one", "--kind", "ordinal", "--scale", "1-5") == 0
    task = get_task(db, "one")
    assert task.criterion_names == ["label"] and task.criteria[0].is_default


def test_criteria_file_errors_name_the_file_the_criterion_and_the_field(db, tmp_path, capsys):
    cases = {
        "dup.yaml": ("- {name: a, kind: ordinal, scale: 1-5}\n- {name: a, kind: ordinal, scale: 1-3}\n",
                     "dup.yaml: criterion 2 ('a'): name: another criterion is already called 'a'"),
        "later.yaml": ("- {name: a, kind: ordinal, scale: 1-5, show_if: {criterion: b, equals: 1}}\n"
                       "- {name: b, kind: ordinal, scale: 1-5}\n",
                       "later.yaml: criterion 1 ('a'): show_if: 'b' comes later"),
        "option.yaml": ("- {name: ok, kind: categorical, labels: [yes, no]}\n"
                        "- {name: why, kind: ordinal, scale: 1-3, show_if: {criterion: ok, equals: maybe}}\n",
                        "option.yaml: criterion 2 ('why'): show_if: 'maybe' is not an option of 'ok'; options are "
                        "yes, no"),
        "scale.yaml": ("- {name: s, kind: ordinal, scale: 5-1}\n",
                       "scale.yaml: criterion 1 ('s'): scale: an ordinal scale needs whole numbers low < high"),
        "kind.yaml": ("- {name: s}\n", "kind.yaml: criterion 1 ('s'): kind must be one of"),
        "bad.yaml": ("- {name: s, kind: [\n", "bad.yaml: not valid YAML"),
        "bad.json": ("[{", "bad.json: not valid JSON"),
        "empty.yaml": ("", "empty.yaml: criteria: expected a non-empty list"),
    }
    for name, (text, message) in cases.items():
        f = tmp_path / name
        f.write_text(text, encoding="utf-8")
        assert run(db, "task", "create", "t", "--criteria", str(f)) == 2, name
        assert message in capsys.readouterr().err, name
    f = tmp_path / "ok.yaml"
    f.write_text("- {name: s, kind: ordinal, scale: 1-5}\n", encoding="utf-8")
    assert run(db, "task", "create", "t", "--criteria", str(f), "--kind", "ordinal", "--scale", "1-5") == 2
    assert "--criteria gives every criterion its options: leave out --kind, --scale" in capsys.readouterr().err
    assert run(db, "task", "create", "t") == 2
    assert "give --kind (one question) or --criteria FILE" in capsys.readouterr().err
    assert run(db, "task", "create", "t", "--criteria", str(tmp_path / "missing.yaml")) == 2
    assert "cannot read the criteria file" in capsys.readouterr().err
    with db.connect() as con:
        assert con.execute("SELECT count(*) FROM tasks").fetchall() == [(0,)]
