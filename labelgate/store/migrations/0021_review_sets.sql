-- Targeted review sets (issue 14): items drawn for people to check, by a strategy, with the
-- probability each had of being drawn (so a weighted estimate over the pool stays possible).
-- Review items are kept apart from the calibration set: their human labels never enter gold,
-- the gate, corrections or PPI (labelgate/store/gold.py leaves them out). Appended, never edited.
CREATE SEQUENCE review_draw_id_seq START 1;
CREATE TABLE review_draws (
    draw_id         INTEGER PRIMARY KEY DEFAULT nextval('review_draw_id_seq'),
    task_id         INTEGER NOT NULL,
    labeler         VARCHAR NOT NULL,
    labeler_version VARCHAR NOT NULL,
    batch           VARCHAR,            -- NULL: the labeler's whole pool
    strategy        VARCHAR NOT NULL,   -- disagreement | confidence | entropy | predicted-error | random | mix
    size            INTEGER NOT NULL,
    pool_size       INTEGER NOT NULL,   -- items the draw was made from (the weighted estimate's N)
    seed            BIGINT NOT NULL,
    floor           DOUBLE NOT NULL,    -- share of the draw spread evenly (every item keeps a chance)
    gold_name       VARCHAR NOT NULL,   -- the gold the error predictor was fitted on, for people
    details         JSON NOT NULL,      -- per strategy: how it scored (e.g. the predictor's AUROC)
    created_by      VARCHAR NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE review_draw_items (
    draw_id     INTEGER NOT NULL,
    item_id     VARCHAR NOT NULL,
    position    INTEGER NOT NULL,
    score       DOUBLE NOT NULL,        -- the strategy's score (higher: more likely wrong)
    probability DOUBLE NOT NULL,        -- inclusion probability at draw time
    reason      VARCHAR NOT NULL,       -- why it was picked, in words
    llm_value   VARCHAR,                -- the labeler's label at draw time (what people check)
    llm_value_num DOUBLE
);
