-- What serves a component after a restore cut over to restored resources: the restored
-- cluster, file system or web server adopted in place of the one the policy names. Runs,
-- audits, `points` and later restores use the newest adoption that has not ended;
-- `restore rollback` ends the plan's adoptions (the previous resource serves again).
CREATE TABLE serving (
    site         TEXT NOT NULL,
    component    TEXT NOT NULL,
    resource_id  TEXT NOT NULL,           -- what serves now (restored)
    replaced     TEXT NOT NULL,           -- what served before
    region       TEXT NOT NULL,
    plan_id      TEXT NOT NULL REFERENCES restore_plans(id),
    since        TEXT NOT NULL,
    ended_at     TEXT,                    -- rolled back
    PRIMARY KEY (plan_id, component)
);
CREATE INDEX serving_by_component ON serving (site, component, since);
