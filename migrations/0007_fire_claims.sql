-- Several daemons share a PostgreSQL catalog's schedule; the same tables here keep the code
-- one (a SQLite catalog still has one daemon, behind its lease).
-- `daemons`: one row per running daemon, renewed by its heartbeat; a daemon whose row has
-- expired is dead, and its claimed fires are taken over.
CREATE TABLE daemons (
    holder       TEXT PRIMARY KEY,        -- "<host>:<pid>:<start instant>:<n>"
    pid          INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
-- `fire_claims`: each (component, scheduled instant) is run by the one daemon whose claim
-- row it is; `done` once its run ended (or it was recorded as missed).
CREATE TABLE fire_claims (
    component_id  INTEGER NOT NULL REFERENCES components(id),
    scheduled_for TEXT NOT NULL,
    holder        TEXT NOT NULL,
    claimed_at    TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('claimed', 'done')),
    takeovers     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (component_id, scheduled_for)
);
CREATE INDEX fire_claims_open ON fire_claims (holder) WHERE state = 'claimed';
