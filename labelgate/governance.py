"""Who may change a task's governed settings, and the record of who changed what.

The gate criteria, the monitor thresholds and the human share of exports decide which LLM labels
may train a model: loosening any of them lets through labels that would otherwise be refused. So
only a lead changes them (checked here, whatever the page or command), every change is an audit
row with who, when, the old and the new value, and a save names the version it was made
against: if someone saved since, it is refused instead of silently overwriting their change.

The settings' own shapes live with their owners (labelgate.gate: criteria, labelgate.monitor:
thresholds, labelgate.export: human share); this module sees them as JSON values and compares
them name by name (a criterion by its metric, a threshold by its field).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from labelgate.auth import can_change_settings
from labelgate.store import Database
from labelgate.store import settings as store
from labelgate.store.settings import SettingVersion, StaleSettingError
from labelgate.store.users import User
from labelgate.tasks import Task

__all__ = ["Mark", "SettingPermissionError", "StaleSettingError", "change_log", "load", "marks", "removed", "save"]

NAMES = {"gate_criteria": "gate criteria", "monitor_thresholds": "monitor thresholds",
         "human_share": "human share of exports"}
# what makes two criteria different (their label and description are wording, not the rule)
_RULE = ("comparator", "threshold", "use", "min_n", "optional")


class SettingPermissionError(PermissionError):
    """Only a lead changes a governed setting."""


def _by_name(setting: str, value) -> dict:
    if value is None:
        return {}
    if setting == "gate_criteria":
        # keyed like Criterion.key: kappa on two task criteria are two rules, not one changed twice
        return {(f"{d['metric']}@{d['criterion']}" if d.get("criterion") else d["metric"]): {k: d.get(k) for k in _RULE}
                for d in value}
    if setting == "human_share":
        return {"human_share": value}
    return dict(value)


def load(db: Database, task: Task, setting: str) -> SettingVersion | None:
    """The saved version in force (its number is what a later save names), or None for the defaults."""
    return store.latest(db, task.task_id, setting)


def save(db: Database, task: Task, setting: str, value, *, default, user: User, expected_version: int) -> int:
    """Save a new value of a governed setting against the version the user loaded (0: the defaults).

    Returns the version now in force (unchanged when nothing differs). Raises
    SettingPermissionError for anyone but a lead, StaleSettingError when someone saved since.
    """
    if not can_change_settings(user.role):
        raise SettingPermissionError(f"Only a lead can change the {NAMES[setting]}; {user.name} is "
                                     f"{'an' if user.role[0] in 'aeiou' else 'a'} {user.role}.")
    current = load(db, task, setting)
    now = current.version if current else 0
    if now != expected_version:
        raise StaleSettingError(setting, expected_version, current)
    old, new = _by_name(setting, current.value if current else default), _by_name(setting, value)
    changes = [(k, old.get(k), new.get(k)) for k in list(old) + [k for k in new if k not in old]
               if old.get(k) != new.get(k)]
    if not changes:
        return now
    return store.save(db, task.task_id, setting, value, expected_version=expected_version, changes=changes,
                      changed_by=user.name, changed_by_role=user.role)


@dataclass(frozen=True)
class Mark:
    """A value that differs from the default, and the save that set it."""

    name: str
    default: object
    value: object
    by: str
    role: str
    at: pd.Timestamp

    def describe(self) -> str:
        return f"changed from the default by {self.by} on {self.at:%Y-%m-%d %H:%M}"


def marks(db: Database, task: Task, setting: str, *, default) -> dict[str, Mark]:
    """Every value of the setting in force that differs from the default, with who set it."""
    versions = store.history(db, task.task_id, setting)
    if not versions:
        return {}
    defaults = _by_name(setting, default)
    previous, set_by = defaults, {}
    for v in versions:
        values = _by_name(setting, v.value)
        for k, x in values.items():
            if previous.get(k) != x:
                set_by[k] = v
        previous = values
    return {k: Mark(k, defaults.get(k), x, set_by[k].changed_by, set_by[k].changed_by_role, set_by[k].changed_at)
            for k, x in previous.items() if x != defaults.get(k) and k in set_by}


def removed(db: Database, task: Task, setting: str, *, default) -> dict[str, Mark]:
    """Every default entry of the setting no longer in force, with the save that removed it."""
    versions = store.history(db, task.task_id, setting)
    defaults = _by_name(setting, default)
    previous, removed_by = defaults, {}
    for v in versions:
        values = _by_name(setting, v.value)
        removed_by.update({k: v for k in previous if k not in values})
        previous = values
    return {k: Mark(k, defaults[k], None, v.changed_by, v.changed_by_role, v.changed_at)
            for k, v in removed_by.items() if k in defaults and k not in previous}


def change_log(db: Database, task: Task) -> pd.DataFrame:
    """The task's setting changes, newest first, in words: when, who, what, from, to."""
    df = store.changes(db, task.task_id)
    return pd.DataFrame({"when": df["changed_at"], "who": df["changed_by"] + " (" + df["changed_by_role"] + ")",
                         "setting": df["setting"].map(NAMES), "what": df["name"],
                         "from": df["old_value"].map(_words), "to": df["new_value"].map(_words)})


def _words(v) -> str:
    """A stored value as a person reads it: a criterion as its rule, a number without float noise."""
    if v is None:
        return "off"
    if isinstance(v, dict):
        rule = f"{v.get('comparator', '')} {_words(v.get('threshold'))}".strip()
        if v.get("use") and v["use"] != "estimate":
            rule += f" ({'lower' if v['use'] == 'ci_low' else 'upper'} 95% bound)"
        if v.get("min_n"):
            rule += f", n ≥ {v['min_n']}"
        return rule + (", optional" if v.get("optional") else "")
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        return f"{v:g}"
    return str(v)
