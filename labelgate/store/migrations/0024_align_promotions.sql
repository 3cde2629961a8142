-- Alignment lab (issue 12): a variant promoted to be the task's labeler after its final evaluation on test.
-- Appended, never edited: the gate reads the latest promotion of a labeler's current version and shows its
-- dev and test numbers (and the optimism gap) as evidence.
CREATE SEQUENCE align_promotion_id_seq START 1;
CREATE TABLE align_promotions (
    promotion_id    INTEGER PRIMARY KEY DEFAULT nextval('align_promotion_id_seq'),
    task_id         INTEGER NOT NULL,
    split_id        INTEGER NOT NULL,
    final_id        INTEGER NOT NULL,   -- the final evaluation on test it carries
    variant         VARCHAR NOT NULL,   -- the labeler the lab ran (the variant's name)
    labeler         VARCHAR NOT NULL,   -- the name it was saved under for the gate
    labeler_version VARCHAR NOT NULL,
    primary_metric  VARCHAR NOT NULL,   -- the task's gate metric on dev and test
    dev_metrics     JSON NOT NULL,      -- metric -> {estimate, ci_low, ci_high} on dev
    test_metrics    JSON NOT NULL,      -- metric -> {estimate, ci_low, ci_high} on test
    n_dev_items     INTEGER NOT NULL,
    n_test_items    INTEGER NOT NULL,
    test_looks      INTEGER NOT NULL,   -- final evaluations of the split when it was promoted
    created_by      VARCHAR NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
