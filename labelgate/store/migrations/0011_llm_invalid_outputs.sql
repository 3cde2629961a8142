-- Imported LLM judge outputs that are not a valid label of the task (a 6 on a 1-3 scale, a
-- category the task does not have, an empty answer). They are the judge's errors, not the file's:
-- kept as given, counted per labeler as an invalid rate, and never read by a metric (which reads
-- llm_labels only). Append-only like llm_labels; the same key (item, labeler, version, batch,
-- sample, order) is never stored twice, here or there.
CREATE TABLE llm_invalid_labels (
    task_id      INTEGER NOT NULL,
    item_id      VARCHAR NOT NULL,
    labeler      VARCHAR NOT NULL,
    version      VARCHAR NOT NULL,
    batch        VARCHAR NOT NULL,
    sample_index INTEGER NOT NULL DEFAULT 0,
    shown_order  VARCHAR,
    raw_value    VARCHAR NOT NULL,           -- the value as the file gave it ('' when empty)
    import_id    INTEGER NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

ALTER TABLE imports ADD COLUMN n_invalid BIGINT NOT NULL DEFAULT 0;   -- stored in llm_invalid_labels
ALTER TABLE imports ADD COLUMN n_clipped BIGINT NOT NULL DEFAULT 0;   -- numbers clipped to the range (--invalid clip)
