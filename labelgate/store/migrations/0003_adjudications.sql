-- An engineer's or lead's final word on an item whose experts disagree. Appended, never
-- edited: the latest row per (task, item) is the adjudicated gold; the experts' own labels
-- stay as they were.
CREATE TABLE adjudications (
    task_id    INTEGER NOT NULL,
    item_id    VARCHAR NOT NULL,
    value      VARCHAR NOT NULL,
    value_num  DOUBLE,
    decided_by VARCHAR NOT NULL,
    reason     VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
