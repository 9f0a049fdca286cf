-- Components may be Auto Scaling groups (the elastic web tier). SQLite cannot change a
-- CHECK constraint in place, so the table is rebuilt inside the migration's transaction.
-- Foreign keys stay on (the pragma that turns them off is a no-op in a transaction);
-- deferred instead, the rows referencing components count as orphans while the table is
-- dropped and stop counting when the same ids are inserted again — the commit checks that
-- none is left.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE components_copy AS SELECT * FROM components;
DROP TABLE components;
CREATE TABLE components (
    id          INTEGER PRIMARY KEY,
    site_id     INTEGER NOT NULL REFERENCES sites(id),
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('lightsail-instance', 'ec2-instance',
                    'auto-scaling-group', 'aurora-cluster', 'efs', 's3-bucket')),
    resource_id TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (site_id, name)
);
INSERT INTO components (id, site_id, name, kind, resource_id, created_at)
    SELECT id, site_id, name, kind, resource_id, created_at FROM components_copy;
DROP TABLE components_copy;
