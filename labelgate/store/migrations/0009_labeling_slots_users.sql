-- Issue 9: an expert's answer can be undone, experts hold slots on the items they are shown,
-- a task says how much of its calibration set every expert labels, and user changes are audited.

-- Every human answer row ever written. Rows of one (task, item, rater, round) form a chain
-- numbered by `revision`: a later row supersedes the one before it, and both are kept. An undo
-- is such a row (status 'undo'); the expert's next answer to that item supersedes the undo.
-- The table replaces human_labels, whose UNIQUE (task, item, rater, round) allowed no chain
-- (DuckDB cannot drop a constraint, so the rows are copied).
CREATE TABLE human_label_rows (
    label_id    BIGINT NOT NULL DEFAULT nextval('human_label_id_seq'),
    task_id     INTEGER NOT NULL,
    item_id     VARCHAR NOT NULL,
    rater       VARCHAR NOT NULL,
    round       INTEGER NOT NULL DEFAULT 1,   -- 1 first pass, 2 blind test-retest
    revision    INTEGER NOT NULL DEFAULT 1,   -- position in the chain; the highest is current
    status      VARCHAR NOT NULL CHECK (status IN ('label', 'skip', 'flag', 'undo')),
    value       VARCHAR,                      -- canonical text of the label (NULL for skip/flag/undo)
    value_num   DOUBLE,                       -- numeric form for ordinal / continuous
    shown_order VARCHAR,                      -- pairwise: '12' or '21' as shown to this rater
    comment     VARCHAR,
    source      VARCHAR NOT NULL CHECK (source IN ('app', 'import')),
    import_id   INTEGER,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (task_id, item_id, rater, round, revision)
);
INSERT INTO human_label_rows (label_id, task_id, item_id, rater, round, revision, status, value, value_num,
                              shown_order, comment, source, import_id, created_at)
SELECT label_id, task_id, item_id, rater, round, 1, status, value, value_num, shown_order, comment, source,
       import_id, created_at
FROM human_labels ORDER BY label_id;
DROP TABLE human_labels;

-- The current answers, with the columns human_labels had: the latest row of each chain, unless
-- that row is an undo (then the rater has no answer to the item until they give one again).
CREATE VIEW human_labels AS
SELECT label_id, task_id, item_id, rater, round, status, value, value_num, shown_order, comment, source,
       import_id, created_at
FROM human_label_rows
QUALIFY revision = max(revision) OVER (PARTITION BY task_id, item_id, rater, round) AND status <> 'undo';

-- How much of the calibration set every expert labels before items are spread to reach
-- experts-per-item (at least labelgate.labeling.OVERLAP_MIN_ITEMS items).
ALTER TABLE task_revisions ADD COLUMN overlap_share DOUBLE DEFAULT 0.2;

-- An item shown to an expert holds one of its experts-per-item slots for a while (see
-- labelgate.labeling.SLOT_MINUTES), so that experts working at once never push an item past
-- experts-per-item. Machine state, not a person's entry: a new showing refreshes the row.
CREATE TABLE label_slots (
    task_id     INTEGER NOT NULL,
    item_id     VARCHAR NOT NULL,
    rater       VARCHAR NOT NULL,
    reserved_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, item_id, rater)
);
-- One row per task that every slot-taking unit of work bumps first: two that overlap conflict
-- on it, so the second is retried on the state the first left (DuckDB has no SELECT FOR UPDATE).
CREATE TABLE label_slot_turns (
    task_id INTEGER PRIMARY KEY,
    turn    BIGINT NOT NULL
);

-- Who changed which account, when, from what to what (created: new_value is the role;
-- password: no values are kept; changed_by NULL: a script that named nobody).
CREATE SEQUENCE user_change_id_seq START 1;
CREATE TABLE user_changes (
    change_id  INTEGER PRIMARY KEY DEFAULT nextval('user_change_id_seq'),
    user_name  VARCHAR NOT NULL,
    field      VARCHAR NOT NULL CHECK (field IN ('created', 'role', 'active', 'password')),
    old_value  VARCHAR,
    new_value  VARCHAR,
    changed_by VARCHAR,
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
