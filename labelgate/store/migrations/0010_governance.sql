-- Governed settings of a task (issue 9): the gate criteria, the monitor thresholds and the
-- human share of exports. Only a lead changes them (labelgate/governance.py checks it).
--
-- Each save is a numbered version per (task, setting). The primary key makes a second save
-- against the same loaded version fail, so two sessions editing at once cannot overwrite each
-- other silently: the later one is refused and told who saved in between.
CREATE TABLE setting_versions (
    task_id         INTEGER NOT NULL,
    setting         VARCHAR NOT NULL CHECK (setting IN ('gate_criteria', 'monitor_thresholds', 'human_share')),
    version         INTEGER NOT NULL,
    value           JSON NOT NULL,          -- the whole setting as saved (criteria list, thresholds, share)
    changed_by      VARCHAR NOT NULL,
    changed_by_role VARCHAR NOT NULL,
    changed_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, setting, version)
);

-- The audit of those saves: one row per value that changed, with its old and new value
-- (NULL old value: the default was in force; NULL new value: a threshold switched off).
CREATE TABLE setting_changes (
    task_id         INTEGER NOT NULL,
    setting         VARCHAR NOT NULL,
    version         INTEGER NOT NULL,       -- the setting_versions row this change belongs to
    name            VARCHAR NOT NULL,       -- a criterion's metric, a threshold's field, or human_share
    old_value       JSON,
    new_value       JSON,
    changed_by      VARCHAR NOT NULL,
    changed_by_role VARCHAR NOT NULL,
    changed_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Criteria and thresholds saved before this migration become the first versions, in order (who
-- saved them is kept; their role was not recorded then). Their old tables are superseded.
INSERT INTO setting_versions
SELECT task_id, 'gate_criteria', row_number() OVER (PARTITION BY task_id ORDER BY created_at),
       criteria, created_by, 'unrecorded', created_at
FROM gate_criteria;
INSERT INTO setting_versions
SELECT task_id, 'monitor_thresholds', row_number() OVER (PARTITION BY task_id ORDER BY created_at),
       thresholds, created_by, 'unrecorded', created_at
FROM monitor_thresholds;
DROP TABLE gate_criteria;
DROP TABLE monitor_thresholds;
