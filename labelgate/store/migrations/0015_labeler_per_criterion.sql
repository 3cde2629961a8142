-- Issue 11: a labeler of a task with several criteria answers them in one call per item (the
-- default, one JSON object with a member per criterion) or, with per_criterion, in a call per
-- criterion. Labelers saved before keep FALSE, and their version hash (LabelerConfig.version leaves
-- the default out).
ALTER TABLE labeler_versions ADD COLUMN per_criterion BOOLEAN NOT NULL DEFAULT FALSE;
