-- Browser sessions, so that a reload or a new tab keeps the user signed in. The browser holds a
-- random token in a cookie; only its SHA-256 is stored, so this table cannot be replayed.
CREATE TABLE sessions (
    token_sha256 VARCHAR PRIMARY KEY,
    user_name    VARCHAR NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ
);
