-- Several daemons on one catalog share the schedule (docs/fleet.md).
-- `daemons`: one row per running daemon, renewed by its heartbeat; a daemon whose row has
-- expired is dead, and its claimed fires are taken over.
CREATE TABLE daemons (
    holder       TEXT PRIMARY KEY,        -- "<host>:<pid>:<start instant>:<n>"
    pid          BIGINT NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
-- `fire_claims`: each (component, scheduled instant) is run by the one daemon whose claim
-- row it is — the primary key makes a second claim impossible; `done` once its run ended
-- (or it was recorded as missed).
CREATE TABLE fire_claims (
    component_id  BIGINT NOT NULL REFERENCES components(id),
    scheduled_for TIMESTAMPTZ NOT NULL,
    holder        TEXT NOT NULL,
    claimed_at    TIMESTAMPTZ NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('claimed', 'done')),
    takeovers     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (component_id, scheduled_for)
);
CREATE INDEX fire_claims_open ON fire_claims (holder) WHERE state = 'claimed';
