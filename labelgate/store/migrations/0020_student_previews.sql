-- Student previews recorded as gate evidence (issue 13). A preview takes tens of seconds, so the
-- gate does not rerun it: an engineer or lead records one (Student page or `labelgate student
-- --record`), and the gate reads the latest record made on the labeler's current version and on
-- the gold it judges against. Appended, never edited.
CREATE SEQUENCE student_preview_id_seq START 1;
CREATE TABLE student_previews (
    preview_id      INTEGER PRIMARY KEY DEFAULT nextval('student_preview_id_seq'),
    task_id         INTEGER NOT NULL,
    labeler         VARCHAR NOT NULL,
    labeler_version VARCHAR NOT NULL,
    gold_version    VARCHAR NOT NULL,   -- Gold.version: the hash of the gold labels the students were scored on
    gold_name       VARCHAR NOT NULL,   -- e.g. "gold release 2", for people
    settings        JSON NOT NULL,      -- seeds, retention, human share, arms, folds
    metrics         JSON NOT NULL,      -- StudentReport.metrics(): the gate's student_* values
    report          JSON NOT NULL,      -- the whole preview, as `labelgate student --json` prints it
    created_by      VARCHAR NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX student_previews_labeler ON student_previews (task_id, labeler, preview_id);
