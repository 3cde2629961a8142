-- A fitted correction of one labeler version, tied to the gold it was fitted on. Appended;
-- the latest row per (task, labeler, labeler_version) is the labeler's current correction.
CREATE SEQUENCE correction_id_seq START 1;
CREATE TABLE corrections (
    correction_id   INTEGER PRIMARY KEY DEFAULT nextval('correction_id_seq'),
    task_id         INTEGER NOT NULL,
    labeler         VARCHAR NOT NULL,
    labeler_version VARCHAR NOT NULL,
    method          VARCHAR NOT NULL,       -- linear | isotonic | linear_covariates | ordinal_cuts | platt | temperature | confusion
    params          JSON NOT NULL,          -- qc params .to_dict()
    gold_version    VARCHAR NOT NULL,       -- Gold.version of the items it was fitted on
    n_fit           INTEGER NOT NULL,
    cv_metrics      JSON,                   -- cross-validated before/after table
    created_by      VARCHAR NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
