-- Publish ACLs (SQLite). Keep in step with ../postgres/0003_publish_acl.sql.
--
-- A publish remembers the user who created it (their access to the device
-- port is checked on every flow; '' for publishes of the admin socket) and
-- the source prefixes it accepts connections from (comma-separated; '' =
-- any source).

ALTER TABLE publishes ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE publishes ADD COLUMN allow_cidrs TEXT NOT NULL DEFAULT '';
