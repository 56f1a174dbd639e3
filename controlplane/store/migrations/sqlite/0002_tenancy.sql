-- Tenancy (SQLite). Keep in step with ../postgres/0002_tenancy.sql.
--
-- Tenancy is enforced by the schema where it can be: org-scoped rows refer
-- to each other through composite foreign keys (org_id, x_id) -> (org_id, id),
-- so a group member, a grant or a subfolder can only point at rows of its own
-- organization. Deleting an organization cascades to everything it owns
-- except devices (the store refuses while it has any) and audit events
-- (append-only, kept forever).

CREATE TABLE orgs (
	id          TEXT    NOT NULL PRIMARY KEY,
	name        TEXT    NOT NULL,
	slug        TEXT    NOT NULL UNIQUE,
	created_at  INTEGER NOT NULL
) STRICT;

-- Identity is the OIDC issuer + subject; email is informational only.
CREATE TABLE users (
	id             TEXT    NOT NULL PRIMARY KEY,
	issuer         TEXT    NOT NULL,
	subject        TEXT    NOT NULL,
	email          TEXT    NOT NULL DEFAULT '',
	display_name   TEXT    NOT NULL DEFAULT '',
	platform_admin INTEGER NOT NULL DEFAULT 0 CHECK (platform_admin IN (0, 1)),
	disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
	created_at     INTEGER NOT NULL,
	last_login_at  INTEGER NOT NULL DEFAULT 0,
	UNIQUE (issuer, subject)
) STRICT;

CREATE INDEX users_email_idx ON users (email);

CREATE TABLE memberships (
	org_id      TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role        TEXT    NOT NULL CHECK (role IN ('admin', 'member')),
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (org_id, user_id)
) STRICT;

CREATE INDEX memberships_user_id_idx ON memberships (user_id);

CREATE TABLE groups (
	id          TEXT    NOT NULL PRIMARY KEY,
	org_id      TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	name        TEXT    NOT NULL,
	created_at  INTEGER NOT NULL,
	UNIQUE (org_id, name),
	UNIQUE (org_id, id) -- target of the composite foreign keys
) STRICT;

-- A member is a user (who must be a member of the org) or another group of
-- the same org: exactly one of user_id and subgroup_id is set.
CREATE TABLE group_members (
	org_id       TEXT    NOT NULL,
	group_id     TEXT    NOT NULL,
	user_id      TEXT,
	subgroup_id  TEXT,
	created_at   INTEGER NOT NULL,
	CHECK ((user_id IS NULL) <> (subgroup_id IS NULL)),
	CHECK (subgroup_id IS NULL OR subgroup_id <> group_id),
	FOREIGN KEY (org_id, group_id) REFERENCES groups (org_id, id) ON DELETE CASCADE,
	FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE,
	FOREIGN KEY (org_id, subgroup_id) REFERENCES groups (org_id, id) ON DELETE CASCADE,
	UNIQUE (group_id, user_id),
	UNIQUE (group_id, subgroup_id)
) STRICT;

CREATE INDEX group_members_user_idx ON group_members (org_id, user_id);
CREATE INDEX group_members_subgroup_idx ON group_members (org_id, subgroup_id);

CREATE TABLE folders (
	id          TEXT    NOT NULL PRIMARY KEY,
	org_id      TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	parent_id   TEXT,   -- NULL: top level
	name        TEXT    NOT NULL,
	created_at  INTEGER NOT NULL,
	-- Where the name must be unique: the parent, or the org at top level
	-- (a NULL parent would make every top-level name distinct).
	scope_id    TEXT    NOT NULL GENERATED ALWAYS AS (COALESCE(parent_id, org_id)) STORED,
	-- No cascade: the store refuses to delete a folder with subfolders.
	FOREIGN KEY (org_id, parent_id) REFERENCES folders (org_id, id),
	UNIQUE (scope_id, name),
	UNIQUE (org_id, id)
) STRICT;

CREATE INDEX folders_parent_idx ON folders (org_id, parent_id);

-- Devices of 0001 keep org_id NULL until assigned. SQLite cannot add a
-- table-level constraint, so "the folder is in the device's org" is checked
-- by the store (PostgreSQL also enforces it with a composite key).
ALTER TABLE devices ADD COLUMN org_id TEXT REFERENCES orgs (id);
ALTER TABLE devices ADD COLUMN folder_id TEXT REFERENCES folders (id);
CREATE UNIQUE INDEX devices_org_id_id_key ON devices (org_id, id);
CREATE INDEX devices_folder_id_idx ON devices (folder_id);

-- Enrollment tokens may place the device in an org and folder.
ALTER TABLE enroll_tokens ADD COLUMN org_id TEXT REFERENCES orgs (id) ON DELETE CASCADE;
ALTER TABLE enroll_tokens ADD COLUMN folder_id TEXT REFERENCES folders (id) ON DELETE CASCADE;
CREATE INDEX enroll_tokens_org_id_idx ON enroll_tokens (org_id);
CREATE INDEX enroll_tokens_folder_id_idx ON enroll_tokens (folder_id);

-- Target credentials, sealed by the caller. scope_id is the service or
-- folder; service_id/folder_id repeat it for the foreign key that matches
-- the scope type.
CREATE TABLE credentials (
	id          TEXT    NOT NULL PRIMARY KEY,
	org_id      TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	scope_type  TEXT    NOT NULL CHECK (scope_type IN ('service', 'folder')),
	scope_id    TEXT    NOT NULL,
	service_id  TEXT    REFERENCES services (id) ON DELETE CASCADE,
	folder_id   TEXT,
	name        TEXT    NOT NULL,
	username    TEXT    NOT NULL DEFAULT '',
	kind        TEXT    NOT NULL CHECK (kind IN ('password', 'private_key')),
	sealed      BLOB    NOT NULL,
	kek_id      TEXT    NOT NULL,
	version     INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	CHECK ((scope_type = 'service' AND service_id = scope_id AND folder_id IS NULL)
		OR (scope_type = 'folder' AND folder_id = scope_id AND service_id IS NULL)),
	FOREIGN KEY (org_id, folder_id) REFERENCES folders (org_id, id) ON DELETE CASCADE,
	UNIQUE (scope_id, name)
) STRICT;

CREATE INDEX credentials_org_id_idx ON credentials (org_id);
CREATE INDEX credentials_service_id_idx ON credentials (service_id);
CREATE INDEX credentials_folder_idx ON credentials (org_id, folder_id);

CREATE TABLE idps (
	id                    TEXT    NOT NULL PRIMARY KEY,
	org_id                TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	name                  TEXT    NOT NULL,
	issuer                TEXT    NOT NULL,
	client_id             TEXT    NOT NULL,
	client_secret_sealed  BLOB    NOT NULL,
	kek_id                TEXT    NOT NULL DEFAULT '',
	version               INTEGER NOT NULL DEFAULT 1,
	group_claim           TEXT    NOT NULL DEFAULT '',
	created_at            INTEGER NOT NULL,
	updated_at            INTEGER NOT NULL,
	UNIQUE (org_id, name)
) STRICT;

-- A domain belongs to one IdP across all organizations.
CREATE TABLE idp_domains (
	idp_id  TEXT NOT NULL REFERENCES idps (id) ON DELETE CASCADE,
	domain  TEXT NOT NULL UNIQUE
) STRICT;

CREATE INDEX idp_domains_idp_id_idx ON idp_domains (idp_id);

-- Users of the built-in IdP.
CREATE TABLE local_users (
	id             TEXT    NOT NULL PRIMARY KEY,
	email          TEXT    NOT NULL UNIQUE,
	password_hash  TEXT    NOT NULL,
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL
) STRICT;

-- One-time tokens of the setup link that creates the first platform admin.
CREATE TABLE setup_tokens (
	token_hash  BLOB    NOT NULL UNIQUE,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	used_at     INTEGER
) STRICT;

CREATE TABLE sessions (
	id            TEXT    NOT NULL PRIMARY KEY,
	token_hash    BLOB    NOT NULL UNIQUE,
	user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	org_id        TEXT    REFERENCES orgs (id) ON DELETE SET NULL, -- the current org
	csrf_token    TEXT    NOT NULL,
	created_at    INTEGER NOT NULL,
	expires_at    INTEGER NOT NULL,
	revoked_at    INTEGER,
	last_seen_at  INTEGER NOT NULL DEFAULT 0,
	source_ip     TEXT    NOT NULL DEFAULT '',
	user_agent    TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_org_id_idx ON sessions (org_id);

-- API tokens are scoped to one org and exist only while the user is a
-- member of it.
CREATE TABLE api_tokens (
	id            TEXT    NOT NULL PRIMARY KEY,
	token_hash    BLOB    NOT NULL UNIQUE,
	user_id       TEXT    NOT NULL,
	org_id        TEXT    NOT NULL,
	name          TEXT    NOT NULL,
	created_at    INTEGER NOT NULL,
	expires_at    INTEGER NOT NULL DEFAULT 0,
	last_used_at  INTEGER NOT NULL DEFAULT 0,
	revoked_at    INTEGER,
	FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
) STRICT;

CREATE INDEX api_tokens_org_user_idx ON api_tokens (org_id, user_id);

-- Grants are what the OpenFGA tuples mirror. subject_id/object_id are the
-- API view; user_id, group_id, folder_id and device_id repeat them in the
-- column whose foreign key keeps the grant inside its org and removes it
-- with its subject or object.
CREATE TABLE grants (
	id            TEXT    NOT NULL PRIMARY KEY,
	org_id        TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	subject_type  TEXT    NOT NULL CHECK (subject_type IN ('user', 'group')),
	subject_id    TEXT    NOT NULL,
	relation      TEXT    NOT NULL,
	object_type   TEXT    NOT NULL CHECK (object_type IN ('organization', 'folder', 'device')),
	object_id     TEXT    NOT NULL,
	user_id       TEXT,
	group_id      TEXT,
	folder_id     TEXT,
	device_id     TEXT,
	created_at    INTEGER NOT NULL,
	CHECK ((subject_type = 'user' AND user_id = subject_id AND group_id IS NULL)
		OR (subject_type = 'group' AND group_id = subject_id AND user_id IS NULL)),
	CHECK ((object_type = 'organization' AND object_id = org_id AND folder_id IS NULL AND device_id IS NULL)
		OR (object_type = 'folder' AND folder_id = object_id AND device_id IS NULL)
		OR (object_type = 'device' AND device_id = object_id AND folder_id IS NULL)),
	FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE,
	FOREIGN KEY (org_id, group_id) REFERENCES groups (org_id, id) ON DELETE CASCADE,
	FOREIGN KEY (org_id, folder_id) REFERENCES folders (org_id, id) ON DELETE CASCADE,
	FOREIGN KEY (org_id, device_id) REFERENCES devices (org_id, id) ON DELETE CASCADE,
	UNIQUE (org_id, subject_type, subject_id, relation, object_type, object_id)
) STRICT;

CREATE INDEX grants_object_idx ON grants (org_id, object_type, object_id);
CREATE INDEX grants_user_idx ON grants (org_id, user_id);
CREATE INDEX grants_group_idx ON grants (org_id, group_id);
CREATE INDEX grants_folder_idx ON grants (org_id, folder_id);
CREATE INDEX grants_device_idx ON grants (org_id, device_id);

-- Append-only. No foreign keys: events outlive what they name. org_id is
-- '' for platform events. AUTOINCREMENT: ids are never reused, so they
-- order events and make stable pagination cursors.
CREATE TABLE audit_events (
	id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	org_id      TEXT    NOT NULL DEFAULT '',
	actor_id    TEXT    NOT NULL DEFAULT '',
	actor_type  TEXT    NOT NULL DEFAULT '',
	action      TEXT    NOT NULL,
	object_type TEXT    NOT NULL DEFAULT '',
	object_id   TEXT    NOT NULL DEFAULT '',
	result      TEXT    NOT NULL CHECK (result IN ('allowed', 'denied', 'error')),
	reason      TEXT    NOT NULL DEFAULT '',
	source_ip   TEXT    NOT NULL DEFAULT '',
	details     TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX audit_events_org_idx ON audit_events (org_id, id);
