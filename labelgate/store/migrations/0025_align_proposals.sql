-- Alignment lab (issue 12, item 4): instruction rewrites proposed by a model from the base labeler's errors on
-- the TRAIN split (never dev or test). Appended, never edited: who asked, when, from which base labeler version,
-- the exact prompt the proposer was sent, its answer and cost, and the variants (labeler versions) it became.
CREATE SEQUENCE align_proposal_id_seq START 1;
CREATE TABLE align_proposals (
    proposal_id       INTEGER PRIMARY KEY DEFAULT nextval('align_proposal_id_seq'),
    task_id           INTEGER NOT NULL,
    split_id          INTEGER NOT NULL,
    base_labeler      VARCHAR NOT NULL,
    base_version      VARCHAR NOT NULL,
    train_run_id      INTEGER,            -- the base labeler's run on train (its calls are cached)
    train_cost_usd    DOUBLE NOT NULL,    -- what that run paid (0 when every call was cached)
    n_train_items     INTEGER NOT NULL,
    n_errors          INTEGER NOT NULL,   -- train items the base labeler got wrong against the gold
    error_item_ids    JSON NOT NULL,      -- the train items shown to the proposer
    proposer_provider VARCHAR NOT NULL,
    proposer_model    VARCHAR NOT NULL,
    proposer_base_url VARCHAR,
    n_requested       INTEGER NOT NULL,
    prompt            VARCHAR NOT NULL,   -- system and user message as sent
    response          VARCHAR NOT NULL,   -- the proposer's answer as received
    tokens_in         INTEGER,
    tokens_out        INTEGER,
    cost_usd          DOUBLE NOT NULL,    -- the proposer call's estimated cost
    variants          JSON NOT NULL,      -- [{name, version, instructions, rationale}]
    created_by        VARCHAR NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
