"""One item's answers on the Label page, before they are submitted: the buttons and keys of each
criterion, which criteria are shown, which one the keys answer, and what is still missing.

Pure (no Streamlit, no database), so the rules are tested on their own; pages/label.py and
labelgate/ui/criteria_view.py keep the draft in session state (per item) and call these.

Answers are held in canonical form (what the database stores: pairwise in the original numbering),
because a criterion's ``show_if`` names canonical values; `shown_value` gives what the expert sees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from labelgate.labeling import to_original_answer

# Streamlit's own keys (c, r), and skip / flag / tie / undo on the Label page
RESERVED_KEYS = frozenset({"c", "r", "s", "f", "t", "u"})


def shortcut_keys(labels: list[str]) -> list[str | None]:
    """Keys for the label buttons: the labels themselves when each is one free character
    (digits of a 1-5 scale, letters), else positions 1-9 (a label "0" never gets key "1")."""
    if all(len(x) == 1 and x.isalnum() and x.lower() not in RESERVED_KEYS for x in labels) and \
            len({x.lower() for x in labels}) == len(labels):
        return list(labels)
    return [str(i + 1) if i < 9 else None for i in range(len(labels))]


def answer_options(criterion) -> list[tuple[str, str, str | None]]:
    """(value as shown, button text, key) of each answer button of a discrete criterion (or task:
    anything with ``kind`` and ``labels``). Pairwise values name the outputs as shown. The text is
    raw: escape it (widgets.plain) where Streamlit reads markdown."""
    if criterion.kind == "pairwise":
        options = [("1", "Output 1", "1"), ("2", "Output 2", "2")]
        if "tie" in criterion.labels:
            options.append(("tie", "Tie", "t"))
        return options
    return [(label, label, key) for label, key in zip(criterion.labels, shortcut_keys(criterion.labels), strict=True)]


def canonical_value(criterion, shown: str, order: str | None) -> str:
    """The value stored for a button pressed: pairwise answers name the outputs as shown."""
    return to_original_answer(str(shown).lower(), order or "12") if criterion.kind == "pairwise" else str(shown)


def shown_value(criterion, canonical: str | None, order: str | None) -> str | None:
    """The button that shows a stored answer (the pairwise mapping is its own inverse)."""
    if canonical is None:
        return None
    return canonical_value(criterion, canonical, order)


def shown_criteria(criteria: Sequence, answers: Mapping[str, str]) -> list:
    """The criteria on screen for these answers, in order: one with ``show_if`` only while its
    trigger is shown and has one of the named answers."""
    seen: dict[str, str | None] = {}
    out = []
    for c in criteria:
        if c.shown(seen):
            out.append(c)
            seen[c.name] = answers.get(c.name)
    return out


def with_answer(criteria: Sequence, answers: Mapping[str, str], name: str, value: str | None) -> dict[str, str]:
    """`answers` with `name` answered `value` (None clears it), without the answers of criteria
    that this hides: a changed trigger drops what was answered under the old one."""
    new = {k: v for k, v in answers.items() if k != name}
    if value is not None:
        new[name] = value
    shown = {c.name for c in shown_criteria(criteria, new)}
    return {k: v for k, v in new.items() if k in shown}


def _names(criteria: Sequence, answers: Mapping[str, str]) -> list[str]:
    return [c.name for c in shown_criteria(criteria, answers)]


def first_focus(criteria: Sequence, answers: Mapping[str, str]) -> str:
    """Where the keys start: the first criterion shown and not answered (else the first)."""
    names = _names(criteria, answers)
    return next((n for n in names if n not in answers), names[0])


def moved_focus(criteria: Sequence, answers: Mapping[str, str], focus: str | None, step: int) -> str:
    """Tab (+1) and Shift+Tab (-1): the next or previous criterion shown, wrapping around."""
    names = _names(criteria, answers)
    if focus not in names:
        return names[0] if step > 0 else names[-1]
    return names[(names.index(focus) + step) % len(names)]


def needs_rationale(criterion, answers: Mapping[str, str], rationales: Mapping[str, str]) -> bool:
    """A required "why" not yet written for an answered criterion."""
    return (criterion.rationale == "required" and criterion.name in answers
            and not (rationales.get(criterion.name) or "").strip())


def focus_after_answer(criteria: Sequence, answers: Mapping[str, str], rationales: Mapping[str, str],
                       name: str) -> str:
    """Where the keys go once `name` is answered: they stay while its required rationale is still
    to be written; else the next criterion shown (the last one keeps the focus)."""
    by_name = {c.name: c for c in criteria}
    if needs_rationale(by_name[name], answers, rationales):
        return name
    names = _names(criteria, answers)
    if name not in names:
        return first_focus(criteria, answers)
    pos = names.index(name)
    return names[pos + 1] if pos + 1 < len(names) else name


def missing(criteria: Sequence, answers: Mapping[str, str], rationales: Mapping[str, str]) -> list[str]:
    """What stops the item from being submitted, in screen order: each required criterion shown and
    unanswered (its name), and each required rationale not written ("why for NAME")."""
    out = []
    for c in shown_criteria(criteria, answers):
        if c.required and c.name not in answers:
            out.append(c.name)
        elif needs_rationale(c, answers, rationales):
            out.append(f"why for {c.name}")
    return out


def submission(criteria: Sequence, answers: Mapping[str, str], rationales: Mapping[str, str]
               ) -> tuple[dict[str, str], dict[str, str]]:
    """The answers and rationales to store: those of the criteria shown, rationales trimmed and only
    where asked (a hidden criterion's leftovers never reach the database)."""
    shown = {c.name: c for c in shown_criteria(criteria, answers)}
    kept = {k: v for k, v in answers.items() if k in shown}
    why = {k: (rationales.get(k) or "").strip() for k in kept if shown[k].rationale != "off"}
    return kept, {k: v for k, v in why.items() if v}
