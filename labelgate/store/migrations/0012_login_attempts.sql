-- Every login attempt (app and CLI), so that wrong passwords can be slowed per account and per
-- client (labelgate.login) and an admin can see them. Appended, never edited; no password kept.
CREATE TABLE login_attempts (
    at_utc    TIMESTAMP NOT NULL,
    user_name VARCHAR NOT NULL,   -- as typed (trimmed, at most 100 characters): may name no account
    client    VARCHAR NOT NULL,   -- the browser's IP address, 'localhost', or 'cli'
    outcome   VARCHAR NOT NULL CHECK (outcome IN ('ok', 'wrong', 'refused'))
);
CREATE INDEX login_attempts_user ON login_attempts (user_name, at_utc);
CREATE INDEX login_attempts_client ON login_attempts (client, at_utc);
