-- Restore plans may be staging copies (`wpbackup staging up`). SQLite cannot change a CHECK
-- constraint in place, so the table is rebuilt inside the migration's transaction, as
-- 0006 rebuilt components: foreign keys deferred, the rows of restore_steps,
-- restore_plan_points and serving that reference a plan count as orphans while the table
-- is dropped and stop counting when the same ids are inserted again — the commit checks
-- that none is left.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE restore_plans_copy AS SELECT * FROM restore_plans;
DROP TABLE restore_plans;
CREATE TABLE restore_plans (
    id           TEXT PRIMARY KEY,          -- e.g. rp-20261128t031500z-blog
    site_id      INTEGER NOT NULL REFERENCES sites(id),
    purpose      TEXT NOT NULL CHECK (purpose IN ('restore', 'drill', 'staging')),
    target_time  TEXT NOT NULL,
    to_region    TEXT NOT NULL,
    plan_version INTEGER NOT NULL,
    plan         TEXT NOT NULL,             -- the JSON plan, byte for byte what is executed
    status       TEXT NOT NULL CHECK (status IN ('planned', 'executing', 'completed', 'failed',
                     'rolled-back', 'torn-down')),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
INSERT INTO restore_plans (id, site_id, purpose, target_time, to_region, plan_version, plan,
                           status, created_at, updated_at)
    SELECT id, site_id, purpose, target_time, to_region, plan_version, plan, status,
           created_at, updated_at
    FROM restore_plans_copy;
DROP TABLE restore_plans_copy;
