-- Core tables: users, tasks, items, item sets, human and LLM labels, imports.
-- Label tables are append-only: a person's entry is never updated or deleted; "current"
-- views derive from them. The big label tables carry no PRIMARY KEY (file size, load speed);
-- uniqueness is enforced where a person writes.

CREATE TABLE users (
    name          VARCHAR PRIMARY KEY,
    role          VARCHAR NOT NULL CHECK (role IN ('expert', 'engineer', 'lead', 'admin')),
    password_hash VARCHAR NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_by    VARCHAR,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE SEQUENCE task_id_seq START 1;
CREATE TABLE tasks (
    task_id    INTEGER PRIMARY KEY DEFAULT nextval('task_id_seq'),
    name       VARCHAR NOT NULL UNIQUE,
    kind       VARCHAR NOT NULL CHECK (kind IN ('categorical', 'ordinal', 'continuous', 'pairwise')),
    created_by VARCHAR,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every edit of a task's options, rubric or display settings is a new revision.
CREATE TABLE task_revisions (
    task_id          INTEGER NOT NULL,
    revision         INTEGER NOT NULL,
    spec             JSON NOT NULL,      -- {"labels": [...]} | {"scale": [lo, hi], "anchors": {...}} | {"range": [lo, hi]}
    rubric           VARCHAR NOT NULL DEFAULT '',
    text_columns     JSON NOT NULL,      -- item fields shown to the expert, in order
    experts_per_item INTEGER NOT NULL DEFAULT 2,
    created_by       VARCHAR,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, revision)
);

CREATE SEQUENCE import_id_seq START 1;
CREATE TABLE imports (
    import_id   INTEGER PRIMARY KEY DEFAULT nextval('import_id_seq'),
    task_id     INTEGER NOT NULL,
    kind        VARCHAR NOT NULL,        -- items | labels
    source      VARCHAR,                 -- human | llm (labels only)
    file_name   VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    n_rows      BIGINT NOT NULL,
    n_added     BIGINT NOT NULL,
    created_by  VARCHAR,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE items (
    task_id      INTEGER NOT NULL,
    item_id      VARCHAR NOT NULL,
    fields       JSON NOT NULL,          -- text shown to people and models
    meta         JSON NOT NULL,          -- everything else, kept for slicing
    content_hash VARCHAR NOT NULL,
    import_id    INTEGER,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, item_id)
);

-- Calibration and anchor sets: each draw is kept; the latest draw per (task, set) is current.
CREATE SEQUENCE draw_id_seq START 1;
CREATE TABLE item_set_draws (
    draw_id          INTEGER PRIMARY KEY DEFAULT nextval('draw_id_seq'),
    task_id          INTEGER NOT NULL,
    set_name         VARCHAR NOT NULL CHECK (set_name IN ('calibration', 'anchor')),
    size             INTEGER NOT NULL,
    seed             BIGINT NOT NULL,
    stratify_by      VARCHAR,
    created_by       VARCHAR,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE item_set_members (
    draw_id  INTEGER NOT NULL,
    item_id  VARCHAR NOT NULL,
    position INTEGER NOT NULL
);

CREATE SEQUENCE human_label_id_seq START 1;
CREATE TABLE human_labels (
    label_id    BIGINT NOT NULL DEFAULT nextval('human_label_id_seq'),
    task_id     INTEGER NOT NULL,
    item_id     VARCHAR NOT NULL,
    rater       VARCHAR NOT NULL,
    round       INTEGER NOT NULL DEFAULT 1,   -- 1 first pass, 2 blind test-retest
    status      VARCHAR NOT NULL CHECK (status IN ('label', 'skip', 'flag')),
    value       VARCHAR,                      -- canonical text of the label (NULL for skip/flag)
    value_num   DOUBLE,                       -- numeric form for ordinal / continuous
    shown_order VARCHAR,                      -- pairwise: '12' or '21' as shown to this rater
    comment     VARCHAR,
    source      VARCHAR NOT NULL CHECK (source IN ('app', 'import')),
    import_id   INTEGER,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (task_id, item_id, rater, round)
);

-- A labeler version is immutable; editing a labeler appends a row, and the latest row per
-- (task, name) is current. Returning to an earlier configuration appends its version again.
CREATE TABLE labeler_versions (
    task_id         INTEGER NOT NULL,
    name            VARCHAR NOT NULL,
    version         VARCHAR NOT NULL,       -- hash of everything that changes outputs
    provider        VARCHAR NOT NULL,       -- openai | anthropic | openai-compatible | import
    model           VARCHAR NOT NULL,
    family          VARCHAR NOT NULL,
    base_url        VARCHAR,
    prompt_template VARCHAR NOT NULL DEFAULT '',
    temperature     DOUBLE NOT NULL DEFAULT 0,
    max_tokens      INTEGER NOT NULL DEFAULT 256,
    n_samples       INTEGER NOT NULL DEFAULT 1,
    both_orders     BOOLEAN NOT NULL DEFAULT FALSE,
    created_by      VARCHAR,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE llm_labels (
    task_id      INTEGER NOT NULL,
    item_id      VARCHAR NOT NULL,
    labeler      VARCHAR NOT NULL,
    version      VARCHAR NOT NULL,
    batch        VARCHAR NOT NULL,
    sample_index INTEGER NOT NULL DEFAULT 0,
    shown_order  VARCHAR,
    value        VARCHAR NOT NULL,
    value_num    DOUBLE,
    confidence   DOUBLE,
    source       VARCHAR NOT NULL,           -- run | import
    import_id    INTEGER,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
