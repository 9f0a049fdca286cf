-- Which catalog this is: a random id made once, when the catalog is created or first
-- migrated. Restore plans carry it, and `restore apply` refuses a plan made from another
-- catalog (its point ids would name other points).
CREATE TABLE catalog_identity (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    catalog_id  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
INSERT INTO catalog_identity (id, catalog_id, created_at)
VALUES (1, lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
