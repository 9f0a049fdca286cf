-- wpbackup catalog, schema 1.
-- Append-only: never edit a migration that has shipped; add a new numbered file instead.
-- All instants are UTC, stored as RFC 3339 text (sortable, readable in the sqlite3 shell).

-- A site: one WordPress deployment with its regions and provider.
CREATE TABLE sites (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    provider    TEXT NOT NULL CHECK (provider IN ('aws', 'sim')),
    region      TEXT NOT NULL,
    dr_region   TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- A component of a site (instance, cluster, file system, bucket); one policy each.
CREATE TABLE components (
    id          INTEGER PRIMARY KEY,
    site_id     INTEGER NOT NULL REFERENCES sites(id),
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('lightsail-instance', 'ec2-instance',
                    'aurora-cluster', 'efs', 's3-bucket')),
    resource_id TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (site_id, name)
);

-- Every distinct policy text a component has run under. A run points at the exact
-- version by id; the hash makes "did the policy change?" a comparison.
CREATE TABLE policies (
    id            INTEGER PRIMARY KEY,
    component_id  INTEGER NOT NULL REFERENCES components(id),
    content_hash  TEXT NOT NULL,
    source_path   TEXT NOT NULL,
    body          TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    UNIQUE (component_id, content_hash)
);

-- One attempt to take a component's point (and its DR copies), after Velero's phases.
CREATE TABLE runs (
    id              INTEGER PRIMARY KEY,
    component_id    INTEGER NOT NULL REFERENCES components(id),
    policy_id       INTEGER NOT NULL REFERENCES policies(id),
    trigger         TEXT NOT NULL CHECK (trigger IN ('manual', 'schedule', 'on-demand', 'simulate')),
    scheduled_for   TEXT NOT NULL,          -- the instant the deterministic names derive from
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    phase           TEXT NOT NULL CHECK (phase IN ('InProgress', 'Completed', 'PartiallyFailed',
                        'Failed', 'Skipped', 'Interrupted')),
    points_created  INTEGER NOT NULL DEFAULT 0,
    points_failed   INTEGER NOT NULL DEFAULT 0,
    copies_created  INTEGER NOT NULL DEFAULT 0,
    copies_failed   INTEGER NOT NULL DEFAULT 0,
    failure_reason  TEXT,
    warnings        TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
    pid             INTEGER                        -- the process that ran it (crash recovery)
);
CREATE INDEX runs_by_component ON runs (component_id, started_at);
CREATE INDEX runs_in_progress ON runs (phase) WHERE phase = 'InProgress';

-- A recovery point: a snapshot, AMI, cluster snapshot, AWS Backup recovery point or S3
-- checkpoint, in one region. A DR copy has source_point_id set.
CREATE TABLE recovery_points (
    id              INTEGER PRIMARY KEY,
    component_id    INTEGER NOT NULL REFERENCES components(id),
    run_id          INTEGER REFERENCES runs(id),
    kind            TEXT NOT NULL CHECK (kind IN ('lightsail-snapshot', 'ec2-ami',
                        'aurora-cluster-snapshot', 'efs-recovery-point', 's3-checkpoint')),
    region          TEXT NOT NULL,
    name            TEXT NOT NULL,          -- deterministic: wpb-<site>-<component>-<instant>
    provider_id     TEXT NOT NULL,          -- snapshot name, AMI id, ARN …
    arn             TEXT,
    point_time      TEXT NOT NULL,          -- the instant whose state the point holds
    state           TEXT NOT NULL CHECK (state IN ('creating', 'available', 'failed',
                        'deleting', 'deleted', 'missing')),
    source_point_id INTEGER REFERENCES recovery_points(id),
    managed         INTEGER NOT NULL DEFAULT 1,   -- tagged wpbackup:managed (only these are ever deleted)
    encrypted       INTEGER,
    size_bytes      INTEGER,
    metadata        TEXT NOT NULL DEFAULT '{}',   -- JSON: what a restore needs (type, AZ, subnet, SGs …)
    failure_reason  TEXT,
    created_at      TEXT NOT NULL,
    completed_at    TEXT,
    deleted_at      TEXT,
    UNIQUE (region, kind, provider_id)
);
CREATE INDEX points_by_component_time ON recovery_points (component_id, region, point_time);
CREATE INDEX points_by_state ON recovery_points (state);

-- Every deletion attempt (retention or manual), with the rule that let the point go.
CREATE TABLE point_deletions (
    id           INTEGER PRIMARY KEY,
    point_id     INTEGER NOT NULL REFERENCES recovery_points(id),
    requested_at TEXT NOT NULL,
    reason       TEXT NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('pending', 'deleted', 'failed')),
    error        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0
);

-- Holds keep points from retention (a whole component, or one point), until released or expired.
CREATE TABLE holds (
    id           INTEGER PRIMARY KEY,
    point_id     INTEGER REFERENCES recovery_points(id),
    component_id INTEGER REFERENCES components(id),
    reason       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    released_at  TEXT,
    CHECK (point_id IS NOT NULL OR component_id IS NOT NULL)
);

-- A restore plan: the reviewed, versioned artifact that execution runs exactly.
CREATE TABLE restore_plans (
    id           TEXT PRIMARY KEY,          -- e.g. rp-20261128t031500z-blog
    site_id      INTEGER NOT NULL REFERENCES sites(id),
    purpose      TEXT NOT NULL CHECK (purpose IN ('restore', 'drill')),
    target_time  TEXT NOT NULL,
    to_region    TEXT NOT NULL,
    plan_version INTEGER NOT NULL,
    plan         TEXT NOT NULL,             -- the JSON plan, byte for byte what is executed
    status       TEXT NOT NULL CHECK (status IN ('planned', 'executing', 'completed', 'failed',
                     'rolled-back', 'torn-down')),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

-- Each step of a plan: state, timing and the provider ids it created (for resume).
CREATE TABLE restore_steps (
    id           INTEGER PRIMARY KEY,
    plan_id      TEXT NOT NULL REFERENCES restore_plans(id),
    step_key     TEXT NOT NULL,
    depends_on   TEXT NOT NULL DEFAULT '[]',   -- JSON array of step keys
    state        TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'skipped')),
    started_at   TEXT,
    finished_at  TEXT,
    provider_ids TEXT NOT NULL DEFAULT '{}',   -- JSON object
    error        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (plan_id, step_key)
);

-- Points a restore plan relies on: never pruned while the plan is unfinished.
CREATE TABLE restore_plan_points (
    plan_id  TEXT NOT NULL REFERENCES restore_plans(id),
    point_id INTEGER NOT NULL REFERENCES recovery_points(id),
    PRIMARY KEY (plan_id, point_id)
);

-- An audit: when, as of when, overall status and the full report.
CREATE TABLE audits (
    id         INTEGER PRIMARY KEY,
    site_id    INTEGER REFERENCES sites(id),
    as_of      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('pass', 'warn', 'fail')),
    report     TEXT NOT NULL                -- JSON
);

CREATE TABLE audit_findings (
    id          INTEGER PRIMARY KEY,
    audit_id    INTEGER NOT NULL REFERENCES audits(id),
    control     TEXT NOT NULL,
    component   TEXT,
    status      TEXT NOT NULL CHECK (status IN ('pass', 'warn', 'fail')),
    evidence    TEXT NOT NULL DEFAULT '{}',  -- JSON
    remediation TEXT
);
CREATE INDEX findings_by_audit ON audit_findings (audit_id);
