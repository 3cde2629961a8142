-- LLM labeling runs (issue 4): named item batches, runs, the per-call ledger that is also the
-- response cache, and each run's per-item outcomes. All SQL on these lives in labelgate/store/llm.py.

-- The API key of a labeler is never stored; only the name of the variable that holds it.
ALTER TABLE labeler_versions ADD COLUMN api_key_env VARCHAR;

-- A batch is a named list of items of a task (e.g. this week's production sample).
CREATE TABLE item_batches (
    task_id    INTEGER NOT NULL,
    batch      VARCHAR NOT NULL,
    item_id    VARCHAR NOT NULL,
    position   INTEGER NOT NULL,
    created_by VARCHAR,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, batch, item_id)
);

-- One row per run of a labeler over a selection of items. Counters are refreshed at every flush,
-- and heartbeat_at with them, so a run whose process died shows as interrupted.
CREATE SEQUENCE llm_run_id_seq START 1;
CREATE TABLE llm_runs (
    run_id        INTEGER PRIMARY KEY DEFAULT nextval('llm_run_id_seq'),
    task_id       INTEGER NOT NULL,
    labeler       VARCHAR NOT NULL,
    version       VARCHAR NOT NULL,
    item_set      VARCHAR NOT NULL,        -- calibration | anchor | batch:NAME | retry:<run_id> | items
    batch         VARCHAR NOT NULL,        -- llm_labels.batch of the selection's own items
    parent_run_id INTEGER,                 -- the run this one resumes or retries
    status        VARCHAR NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled', 'error')),
    n_items       INTEGER NOT NULL DEFAULT 0,   -- work items (an item in two batches counts twice)
    n_calls       INTEGER NOT NULL DEFAULT 0,   -- planned calls: items x samples x orders
    n_labeled     INTEGER NOT NULL DEFAULT 0,   -- items whose every call gave a valid label
    n_failed      INTEGER NOT NULL DEFAULT 0,   -- items with at least one failed call
    n_cached      INTEGER NOT NULL DEFAULT 0,   -- calls answered from the cache (no request)
    n_requests    INTEGER NOT NULL DEFAULT 0,   -- HTTP requests sent, retries included
    tokens_in     BIGINT NOT NULL DEFAULT 0,
    tokens_out    BIGINT NOT NULL DEFAULT 0,
    cost_usd      DOUBLE NOT NULL DEFAULT 0,
    options       JSON,                         -- concurrency, rpm, tpm, timeout, ... (no secrets)
    message       VARCHAR,                      -- why the run stopped, when it did not finish
    started_by    VARCHAR,
    started_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at   TIMESTAMPTZ
);

-- Every request that ended (answered, or given up after retries), append-only. The answered
-- ones are the cache: key (task_id, version, task_spec, content_hash, sample_index,
-- shown_order, cache_scope). No PRIMARY KEY (a big table); the runner never writes a key twice
-- with status 'ok'.
CREATE TABLE llm_calls (
    call_id           VARCHAR NOT NULL,
    run_id            INTEGER NOT NULL,
    task_id           INTEGER NOT NULL,
    labeler           VARCHAR NOT NULL,
    version           VARCHAR NOT NULL,
    task_spec         VARCHAR NOT NULL,     -- Task.spec_hash(): a rubric or options edit changes the prompt
    cache_scope       VARCHAR NOT NULL DEFAULT '',   -- '' or 'anchor:<batch>' (anchors re-asked per batch)
    item_id           VARCHAR NOT NULL,
    content_hash      VARCHAR NOT NULL,
    sample_index      INTEGER NOT NULL,
    shown_order       VARCHAR,              -- pairwise: '12' or '21'
    status            VARCHAR NOT NULL CHECK (status IN ('ok', 'invalid', 'error')),
    value             VARCHAR,              -- canonical label in the original numbering
    value_num         DOUBLE,
    raw_label         VARCHAR,              -- the label as the model gave it (shown numbering)
    confidence        DOUBLE,
    confidence_source VARCHAR,              -- logprob | verbalized
    conf_verbalized   DOUBLE,
    conf_logprob      DOUBLE,
    raw_response      VARCHAR,              -- the model's text, secrets scrubbed
    tokens_in         INTEGER,
    tokens_out        INTEGER,
    latency_ms        DOUBLE,
    cost_usd          DOUBLE NOT NULL DEFAULT 0,
    attempts          INTEGER NOT NULL DEFAULT 1,
    error             VARCHAR,              -- why it failed, secrets scrubbed
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- What each run did with each of its calls: labeled by a request, reused from the cache, or failed.
CREATE TABLE llm_run_items (
    run_id       INTEGER NOT NULL,
    item_id      VARCHAR NOT NULL,
    batch        VARCHAR NOT NULL,
    sample_index INTEGER NOT NULL,
    shown_order  VARCHAR,
    outcome      VARCHAR NOT NULL CHECK (outcome IN ('labeled', 'cached', 'failed')),
    call_id      VARCHAR,
    error        VARCHAR,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
