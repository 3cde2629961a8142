-- Gold releases (issue 9): numbered, frozen snapshots of a task's gold, published by an engineer
-- or a lead. Expert answers and adjudications go on into the live draft; calibration, the gate and
-- exports work against a release. Append-only: a release and its items are written once, in one
-- transaction, and never changed (labelgate/store/gold_releases.py has no UPDATE or DELETE).
CREATE TABLE gold_releases (
    task_id           INTEGER NOT NULL,
    release_no        INTEGER NOT NULL,      -- 1, 2, ... per task
    gold_version      VARCHAR NOT NULL,      -- Gold.version of the released labels
    n_items           INTEGER NOT NULL,      -- gold items
    n_disputed        INTEGER NOT NULL,      -- items left out as disputed
    last_label_id     BIGINT NOT NULL,       -- the newest first-round human answer it saw (0: none)
    n_adjudications   INTEGER NOT NULL,      -- adjudication rows it saw
    expert_agreement  JSON NOT NULL,         -- experts' Krippendorff alpha with CI, pairwise kappas, n_raters
    note              VARCHAR,
    created_by        VARCHAR NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, release_no)
);

-- Every item of a release: its gold label and how it was reached, or the dispute that left it out.
CREATE TABLE gold_release_items (
    task_id       INTEGER NOT NULL,
    release_no    INTEGER NOT NULL,
    item_id       VARCHAR NOT NULL,
    status        VARCHAR NOT NULL CHECK (status IN ('gold', 'disputed')),
    value         VARCHAR,                   -- the gold label (NULL when disputed)
    value_num     DOUBLE,
    source        VARCHAR,                   -- adjudicated | agreed (NULL when disputed)
    n_experts     INTEGER NOT NULL,
    expert_values VARCHAR                    -- disputed: the experts' labels
);

-- What a gate event and a correction were about: the release (NULL: the unreleased draft).
ALTER TABLE gate_events ADD COLUMN gold_release INTEGER;
ALTER TABLE corrections ADD COLUMN gold_release INTEGER;
