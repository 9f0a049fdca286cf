-- Exactly one daemon per catalog: a lease row with a heartbeat. A second daemon finds an
-- unexpired lease held by someone else and exits; a lease whose holder stopped
-- heartbeating (expired) is taken over.
CREATE TABLE daemon_lease (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    holder       TEXT NOT NULL,          -- "<host>:<pid>:<start instant>"
    pid          INTEGER NOT NULL,
    acquired_at  TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
