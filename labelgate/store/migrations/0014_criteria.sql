-- Issue 11: a task holds an ordered list of criteria (several questions per item). Every table that
-- holds a label value, or a setting fitted to one, says which criterion it is about.
--
-- Tasks made before this migration asked one question: each becomes a task with one criterion named
-- 'label' (kind-neutral, the same for every task, and what the old column `value` always held), and
-- every existing row is about it. Nothing else about those tasks changes: their spec hash (the
-- fingerprint of an approval) is computed as before for a task whose only criterion is that default
-- one (labelgate.tasks.Task.spec_hash), so approvals made before stay fresh.

-- The criteria of each revision, in order (labelgate.tasks.Criterion.to_dict()); the revision's own
-- `spec` and the task's `kind` stay those of the first criterion.
ALTER TABLE task_revisions ADD COLUMN criteria JSON;
UPDATE task_revisions r SET criteria = json_array(json_object(
        'name', 'label', 'kind', t.kind, 'spec', r.spec::JSON, 'rubric', '', 'required', true,
        'rationale', 'off', 'show_if', NULL, 'rate', NULL))
    FROM tasks t WHERE t.task_id = r.task_id;

-- Human answers: one row per criterion answered. The rows an expert gives one item at once share
-- their chain position (`revision`), so an item is answered, superseded and undone as a whole; the
-- uniqueness moves to (task, item, rater, round, revision, criterion). DuckDB cannot change a
-- constraint, so the rows are copied (label ids, times and order kept).
CREATE TABLE human_label_rows_0014 AS SELECT * FROM human_label_rows;
DROP VIEW human_labels;
DROP TABLE human_label_rows;
CREATE TABLE human_label_rows (
    label_id    BIGINT NOT NULL DEFAULT nextval('human_label_id_seq'),
    task_id     INTEGER NOT NULL,
    item_id     VARCHAR NOT NULL,
    rater       VARCHAR NOT NULL,
    round       INTEGER NOT NULL DEFAULT 1,   -- 1 first pass, 2 blind test-retest
    revision    INTEGER NOT NULL DEFAULT 1,   -- position in the item's chain; the highest is current
    status      VARCHAR NOT NULL CHECK (status IN ('label', 'skip', 'flag', 'undo')),
    value       VARCHAR,                      -- canonical text of the label (NULL for skip/flag/undo)
    value_num   DOUBLE,                       -- numeric form for ordinal / continuous
    shown_order VARCHAR,                      -- pairwise: '12' or '21' as shown to this rater
    comment     VARCHAR,                      -- the item's comment (on every row of the answer)
    source      VARCHAR NOT NULL CHECK (source IN ('app', 'import')),
    import_id   INTEGER,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    criterion   VARCHAR NOT NULL,             -- the criterion this row answers
    rationale   VARCHAR,                      -- the expert's "why" for this criterion
    UNIQUE (task_id, item_id, rater, round, revision, criterion)
);
INSERT INTO human_label_rows (label_id, task_id, item_id, rater, round, revision, status, value, value_num,
                              shown_order, comment, source, import_id, created_at, criterion)
SELECT label_id, task_id, item_id, rater, round, revision, status, value, value_num, shown_order, comment,
       source, import_id, created_at, 'label'
FROM human_label_rows_0014 ORDER BY label_id;
DROP TABLE human_label_rows_0014;

-- The current answers (as before, plus criterion and rationale at the end): every row of the latest
-- answer of each chain, unless that answer is an undo.
CREATE VIEW human_labels AS
SELECT label_id, task_id, item_id, rater, round, status, value, value_num, shown_order, comment, source,
       import_id, created_at, criterion, rationale
FROM human_label_rows
QUALIFY revision = max(revision) OVER (PARTITION BY task_id, item_id, rater, round) AND status <> 'undo';

-- The same answers one row per item (what the queue, progress and retests count): status, comment and
-- time of the answer, and its first label id.
CREATE VIEW human_answers AS
SELECT task_id, item_id, rater, round, any_value(status) AS status, any_value(comment) AS comment,
       any_value(source) AS source, min(label_id) AS label_id, min(created_at) AS created_at,
       count(*) AS n_criteria
FROM human_labels
GROUP BY task_id, item_id, rater, round;

-- Every other table keyed by a label value: existing rows are about the criterion 'label'; new rows
-- must name theirs (no default, so a writer that forgets is refused instead of guessing).
ALTER TABLE llm_labels ADD COLUMN criterion VARCHAR DEFAULT 'label';
ALTER TABLE llm_labels ALTER COLUMN criterion DROP DEFAULT;
ALTER TABLE llm_labels ALTER COLUMN criterion SET NOT NULL;
ALTER TABLE llm_labels ADD COLUMN rationale VARCHAR;

ALTER TABLE llm_invalid_labels ADD COLUMN criterion VARCHAR DEFAULT 'label';
ALTER TABLE llm_invalid_labels ALTER COLUMN criterion DROP DEFAULT;
ALTER TABLE llm_invalid_labels ALTER COLUMN criterion SET NOT NULL;

ALTER TABLE llm_calls ADD COLUMN criterion VARCHAR DEFAULT 'label';
ALTER TABLE llm_calls ALTER COLUMN criterion DROP DEFAULT;
ALTER TABLE llm_calls ALTER COLUMN criterion SET NOT NULL;
ALTER TABLE llm_calls ADD COLUMN rationale VARCHAR;

ALTER TABLE llm_run_items ADD COLUMN criterion VARCHAR DEFAULT 'label';
ALTER TABLE llm_run_items ALTER COLUMN criterion DROP DEFAULT;
ALTER TABLE llm_run_items ALTER COLUMN criterion SET NOT NULL;

ALTER TABLE adjudications ADD COLUMN criterion VARCHAR DEFAULT 'label';
ALTER TABLE adjudications ALTER COLUMN criterion DROP DEFAULT;
ALTER TABLE adjudications ALTER COLUMN criterion SET NOT NULL;

ALTER TABLE gold_release_items ADD COLUMN criterion VARCHAR DEFAULT 'label';
ALTER TABLE gold_release_items ALTER COLUMN criterion DROP DEFAULT;
ALTER TABLE gold_release_items ALTER COLUMN criterion SET NOT NULL;

ALTER TABLE corrections ADD COLUMN criterion VARCHAR DEFAULT 'label';
ALTER TABLE corrections ALTER COLUMN criterion DROP DEFAULT;
ALTER TABLE corrections ALTER COLUMN criterion SET NOT NULL;
