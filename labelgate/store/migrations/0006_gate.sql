-- Gate, monitor and export (issue 6). Every table here is append-only: the latest row is
-- current, and nothing is ever updated or deleted (labelgate/store/gate.py has no such statement).

-- A task's gate criteria (qc.gate.Criterion dicts) as a lead or engineer last saved them.
CREATE TABLE gate_criteria (
    task_id    INTEGER NOT NULL,
    criteria   JSON NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A task's monitor thresholds (labelgate.monitor.Thresholds as a dict): a breach blocks a batch.
CREATE TABLE monitor_thresholds (
    task_id    INTEGER NOT NULL,
    thresholds JSON NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The audit log: every gate evaluation, every decision and every export, with who, when and
-- the fingerprint of what was judged (labeler version, task spec, gold version, correction).
CREATE SEQUENCE gate_event_id_seq START 1;
CREATE TABLE gate_events (
    event_id        INTEGER PRIMARY KEY DEFAULT nextval('gate_event_id_seq'),
    task_id         INTEGER NOT NULL,
    labeler         VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL CHECK (kind IN ('evaluation', 'approve', 'refuse', 'export')),
    actor           VARCHAR NOT NULL,
    actor_role      VARCHAR NOT NULL,
    labeler_version VARCHAR NOT NULL,
    task_revision   INTEGER NOT NULL,
    task_spec       VARCHAR NOT NULL,      -- Task.spec_hash(): kind, label options and rubric
    gold_version    VARCHAR NOT NULL,      -- Gold.version
    correction_id   INTEGER,               -- the labeler version's current correction (NULL: none)
    criteria        JSON NOT NULL,         -- the criteria evaluated
    metrics         JSON NOT NULL,         -- metric name -> estimate / ci / n (the evidence)
    result          JSON NOT NULL,         -- qc GateResult.to_dict(); for an export: its report
    verdict         VARCHAR NOT NULL,      -- pass | fail (the gate's verdict at that moment)
    comment         VARCHAR,
    forced          BOOLEAN NOT NULL DEFAULT FALSE,   -- an export made without a fresh approval
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
