-- Alignment lab (issue 12): the gold items of a task split once into train / dev / test per gold
-- release (NULL: the unreleased draft), and every final evaluation on the sealed test split.
-- Appended, never edited: a split's items never move, and each look at test is counted.
CREATE SEQUENCE align_split_id_seq START 1;
CREATE TABLE align_splits (
    split_id      INTEGER PRIMARY KEY DEFAULT nextval('align_split_id_seq'),
    task_id       INTEGER NOT NULL,
    gold_release  INTEGER,            -- NULL: the unreleased draft
    gold_version  VARCHAR NOT NULL,   -- fingerprint of the gold labels the split was made from
    train_share   DOUBLE NOT NULL,
    dev_share     DOUBLE NOT NULL,
    test_share    DOUBLE NOT NULL,
    stratify      VARCHAR,            -- metadata column stratified on besides the gold label
    seed          BIGINT NOT NULL,
    inherited_from INTEGER,           -- the earlier split whose items kept their part
    created_by    VARCHAR NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE align_split_items (
    split_id  INTEGER NOT NULL,
    item_id   VARCHAR NOT NULL,
    part      VARCHAR NOT NULL,       -- train | dev | test
    stratum   VARCHAR NOT NULL
);
CREATE SEQUENCE align_final_id_seq START 1;
CREATE TABLE align_final_evaluations (
    final_id        INTEGER PRIMARY KEY DEFAULT nextval('align_final_id_seq'),
    split_id        INTEGER NOT NULL,
    task_id         INTEGER NOT NULL,
    labeler         VARCHAR NOT NULL,
    labeler_version VARCHAR NOT NULL,
    n_items         INTEGER NOT NULL,
    metrics         JSON NOT NULL,    -- metric -> {estimate, ci_low, ci_high}
    created_by      VARCHAR NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
