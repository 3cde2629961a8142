-- Routing by expertise (issue 11, point 10): users carry expertise tags, and a task names the item
-- metadata column that holds each item's domain. Items of a domain go to experts tagged with it
-- first; to others only when the task allows it. A task without a domain column, and a user
-- without tags, are served exactly as before.

-- Per task revision: the metadata column holding the domain (NULL: no routing), and whether
-- experts without the item's tag may label it when no matching expert is free (default: yes).
ALTER TABLE task_revisions ADD COLUMN domain_column VARCHAR;
ALTER TABLE task_revisions ADD COLUMN others_may_label BOOLEAN DEFAULT true;

-- A user's expertise tags, appended on every change (the latest row per user is current; the
-- rows before it are the history, shown with the other account changes).
CREATE SEQUENCE user_expertise_id_seq START 1;
CREATE TABLE user_expertise (
    change_id  INTEGER PRIMARY KEY DEFAULT nextval('user_expertise_id_seq'),
    user_name  VARCHAR NOT NULL,
    tags       VARCHAR[] NOT NULL,     -- lower case, sorted; [] clears them
    changed_by VARCHAR,
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
