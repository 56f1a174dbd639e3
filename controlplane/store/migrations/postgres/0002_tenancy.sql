-- Tenancy (PostgreSQL). Keep in step with ../sqlite/0002_tenancy.sql, which
-- explains the design. Constraint names follow 0001's convention; a unique
-- key scoped by a parent column is named after its last column
-- (memberships_user_id_key for (org_id, user_id)), as SQLite reports it.

CREATE TABLE orgs (
	id          TEXT COLLATE "C" NOT NULL,
	name        TEXT COLLATE "C" NOT NULL,
	slug        TEXT COLLATE "C" NOT NULL,
	created_at  BIGINT NOT NULL,
	CONSTRAINT orgs_pkey PRIMARY KEY (id),
	CONSTRAINT orgs_slug_key UNIQUE (slug)
);

CREATE TABLE users (
	id             TEXT COLLATE "C" NOT NULL,
	issuer         TEXT COLLATE "C" NOT NULL,
	subject        TEXT COLLATE "C" NOT NULL,
	email          TEXT COLLATE "C" NOT NULL DEFAULT '',
	display_name   TEXT COLLATE "C" NOT NULL DEFAULT '',
	platform_admin BOOLEAN NOT NULL DEFAULT FALSE,
	disabled       BOOLEAN NOT NULL DEFAULT FALSE,
	created_at     BIGINT  NOT NULL,
	last_login_at  BIGINT  NOT NULL DEFAULT 0,
	CONSTRAINT users_pkey PRIMARY KEY (id),
	CONSTRAINT users_identity_key UNIQUE (issuer, subject)
);

CREATE INDEX users_email_idx ON users (email);

CREATE TABLE memberships (
	org_id      TEXT COLLATE "C" NOT NULL,
	user_id     TEXT COLLATE "C" NOT NULL,
	role        TEXT COLLATE "C" NOT NULL CHECK (role IN ('admin', 'member')),
	created_at  BIGINT NOT NULL,
	CONSTRAINT memberships_user_id_key PRIMARY KEY (org_id, user_id),
	CONSTRAINT memberships_org_id_fkey FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE,
	CONSTRAINT memberships_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX memberships_user_id_idx ON memberships (user_id);

CREATE TABLE groups (
	id          TEXT COLLATE "C" NOT NULL,
	org_id      TEXT COLLATE "C" NOT NULL,
	name        TEXT COLLATE "C" NOT NULL,
	created_at  BIGINT NOT NULL,
	CONSTRAINT groups_pkey PRIMARY KEY (id),
	CONSTRAINT groups_org_id_fkey FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE,
	CONSTRAINT groups_name_key UNIQUE (org_id, name),
	CONSTRAINT groups_org_id_id_key UNIQUE (org_id, id)
);

CREATE TABLE group_members (
	org_id       TEXT COLLATE "C" NOT NULL,
	group_id     TEXT COLLATE "C" NOT NULL,
	user_id      TEXT COLLATE "C",
	subgroup_id  TEXT COLLATE "C",
	created_at   BIGINT NOT NULL,
	CONSTRAINT group_members_one_check CHECK ((user_id IS NULL) <> (subgroup_id IS NULL)),
	CONSTRAINT group_members_self_check CHECK (subgroup_id IS NULL OR subgroup_id <> group_id),
	CONSTRAINT group_members_group_fkey FOREIGN KEY (org_id, group_id)
		REFERENCES groups (org_id, id) ON DELETE CASCADE,
	CONSTRAINT group_members_user_fkey FOREIGN KEY (org_id, user_id)
		REFERENCES memberships (org_id, user_id) ON DELETE CASCADE,
	CONSTRAINT group_members_subgroup_fkey FOREIGN KEY (org_id, subgroup_id)
		REFERENCES groups (org_id, id) ON DELETE CASCADE,
	CONSTRAINT group_members_user_id_key UNIQUE (group_id, user_id),
	CONSTRAINT group_members_subgroup_id_key UNIQUE (group_id, subgroup_id)
);

CREATE INDEX group_members_user_idx ON group_members (org_id, user_id);
CREATE INDEX group_members_subgroup_idx ON group_members (org_id, subgroup_id);

CREATE TABLE folders (
	id          TEXT COLLATE "C" NOT NULL,
	org_id      TEXT COLLATE "C" NOT NULL,
	parent_id   TEXT COLLATE "C",
	name        TEXT COLLATE "C" NOT NULL,
	created_at  BIGINT NOT NULL,
	scope_id    TEXT COLLATE "C" NOT NULL GENERATED ALWAYS AS (COALESCE(parent_id, org_id)) STORED,
	CONSTRAINT folders_pkey PRIMARY KEY (id),
	CONSTRAINT folders_org_id_fkey FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE,
	CONSTRAINT folders_parent_fkey FOREIGN KEY (org_id, parent_id) REFERENCES folders (org_id, id),
	CONSTRAINT folders_name_key UNIQUE (scope_id, name),
	CONSTRAINT folders_org_id_id_key UNIQUE (org_id, id)
);

CREATE INDEX folders_parent_idx ON folders (org_id, parent_id);

ALTER TABLE devices
	ADD COLUMN org_id TEXT COLLATE "C" CONSTRAINT devices_org_id_fkey REFERENCES orgs (id),
	ADD COLUMN folder_id TEXT COLLATE "C" CONSTRAINT devices_folder_id_fkey REFERENCES folders (id),
	ADD CONSTRAINT devices_org_id_id_key UNIQUE (org_id, id),
	ADD CONSTRAINT devices_folder_fkey FOREIGN KEY (org_id, folder_id) REFERENCES folders (org_id, id);
CREATE INDEX devices_folder_id_idx ON devices (folder_id);

ALTER TABLE enroll_tokens
	ADD COLUMN org_id TEXT COLLATE "C" CONSTRAINT enroll_tokens_org_id_fkey REFERENCES orgs (id) ON DELETE CASCADE,
	ADD COLUMN folder_id TEXT COLLATE "C" CONSTRAINT enroll_tokens_folder_id_fkey REFERENCES folders (id) ON DELETE CASCADE,
	ADD CONSTRAINT enroll_tokens_folder_fkey FOREIGN KEY (org_id, folder_id)
		REFERENCES folders (org_id, id) ON DELETE CASCADE;
CREATE INDEX enroll_tokens_org_id_idx ON enroll_tokens (org_id);
CREATE INDEX enroll_tokens_folder_id_idx ON enroll_tokens (folder_id);

CREATE TABLE credentials (
	id          TEXT COLLATE "C" NOT NULL,
	org_id      TEXT COLLATE "C" NOT NULL,
	scope_type  TEXT COLLATE "C" NOT NULL CHECK (scope_type IN ('service', 'folder')),
	scope_id    TEXT COLLATE "C" NOT NULL,
	service_id  TEXT COLLATE "C",
	folder_id   TEXT COLLATE "C",
	name        TEXT COLLATE "C" NOT NULL,
	username    TEXT COLLATE "C" NOT NULL DEFAULT '',
	kind        TEXT COLLATE "C" NOT NULL CHECK (kind IN ('password', 'private_key')),
	sealed      BYTEA   NOT NULL,
	kek_id      TEXT COLLATE "C" NOT NULL,
	version     INTEGER NOT NULL,
	created_at  BIGINT  NOT NULL,
	updated_at  BIGINT  NOT NULL,
	CONSTRAINT credentials_scope_check CHECK (
		(scope_type = 'service' AND service_id = scope_id AND folder_id IS NULL)
		OR (scope_type = 'folder' AND folder_id = scope_id AND service_id IS NULL)),
	CONSTRAINT credentials_pkey PRIMARY KEY (id),
	CONSTRAINT credentials_org_id_fkey FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE,
	CONSTRAINT credentials_service_id_fkey FOREIGN KEY (service_id) REFERENCES services (id) ON DELETE CASCADE,
	CONSTRAINT credentials_folder_fkey FOREIGN KEY (org_id, folder_id)
		REFERENCES folders (org_id, id) ON DELETE CASCADE,
	CONSTRAINT credentials_name_key UNIQUE (scope_id, name)
);

CREATE INDEX credentials_org_id_idx ON credentials (org_id);
CREATE INDEX credentials_service_id_idx ON credentials (service_id);
CREATE INDEX credentials_folder_idx ON credentials (org_id, folder_id);

CREATE TABLE idps (
	id                    TEXT COLLATE "C" NOT NULL,
	org_id                TEXT COLLATE "C" NOT NULL,
	name                  TEXT COLLATE "C" NOT NULL,
	issuer                TEXT COLLATE "C" NOT NULL,
	client_id             TEXT COLLATE "C" NOT NULL,
	client_secret_sealed  BYTEA   NOT NULL,
	kek_id                TEXT COLLATE "C" NOT NULL DEFAULT '',
	version               INTEGER NOT NULL DEFAULT 1,
	group_claim           TEXT COLLATE "C" NOT NULL DEFAULT '',
	created_at            BIGINT  NOT NULL,
	updated_at            BIGINT  NOT NULL,
	CONSTRAINT idps_pkey PRIMARY KEY (id),
	CONSTRAINT idps_org_id_fkey FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE,
	CONSTRAINT idps_name_key UNIQUE (org_id, name)
);

CREATE TABLE idp_domains (
	idp_id  TEXT COLLATE "C" NOT NULL,
	domain  TEXT COLLATE "C" NOT NULL,
	CONSTRAINT idp_domains_idp_id_fkey FOREIGN KEY (idp_id) REFERENCES idps (id) ON DELETE CASCADE,
	CONSTRAINT idp_domains_domain_key UNIQUE (domain)
);

CREATE INDEX idp_domains_idp_id_idx ON idp_domains (idp_id);

CREATE TABLE local_users (
	id             TEXT COLLATE "C" NOT NULL,
	email          TEXT COLLATE "C" NOT NULL,
	password_hash  TEXT COLLATE "C" NOT NULL,
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL,
	CONSTRAINT local_users_pkey PRIMARY KEY (id),
	CONSTRAINT local_users_email_key UNIQUE (email)
);

CREATE TABLE setup_tokens (
	token_hash  BYTEA  NOT NULL,
	created_at  BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL,
	used_at     BIGINT,
	CONSTRAINT setup_tokens_token_hash_key UNIQUE (token_hash)
);

CREATE TABLE sessions (
	id            TEXT COLLATE "C" NOT NULL,
	token_hash    BYTEA  NOT NULL,
	user_id       TEXT COLLATE "C" NOT NULL,
	org_id        TEXT COLLATE "C",
	csrf_token    TEXT COLLATE "C" NOT NULL,
	created_at    BIGINT NOT NULL,
	expires_at    BIGINT NOT NULL,
	revoked_at    BIGINT,
	last_seen_at  BIGINT NOT NULL DEFAULT 0,
	source_ip     TEXT COLLATE "C" NOT NULL DEFAULT '',
	user_agent    TEXT COLLATE "C" NOT NULL DEFAULT '',
	CONSTRAINT sessions_pkey PRIMARY KEY (id),
	CONSTRAINT sessions_token_hash_key UNIQUE (token_hash),
	CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
	CONSTRAINT sessions_org_id_fkey FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE SET NULL
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_org_id_idx ON sessions (org_id);

CREATE TABLE api_tokens (
	id            TEXT COLLATE "C" NOT NULL,
	token_hash    BYTEA  NOT NULL,
	user_id       TEXT COLLATE "C" NOT NULL,
	org_id        TEXT COLLATE "C" NOT NULL,
	name          TEXT COLLATE "C" NOT NULL,
	created_at    BIGINT NOT NULL,
	expires_at    BIGINT NOT NULL DEFAULT 0,
	last_used_at  BIGINT NOT NULL DEFAULT 0,
	revoked_at    BIGINT,
	CONSTRAINT api_tokens_pkey PRIMARY KEY (id),
	CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash),
	CONSTRAINT api_tokens_membership_fkey FOREIGN KEY (org_id, user_id)
		REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);

CREATE INDEX api_tokens_org_user_idx ON api_tokens (org_id, user_id);

CREATE TABLE grants (
	id            TEXT COLLATE "C" NOT NULL,
	org_id        TEXT COLLATE "C" NOT NULL,
	subject_type  TEXT COLLATE "C" NOT NULL CHECK (subject_type IN ('user', 'group')),
	subject_id    TEXT COLLATE "C" NOT NULL,
	relation      TEXT COLLATE "C" NOT NULL,
	object_type   TEXT COLLATE "C" NOT NULL CHECK (object_type IN ('organization', 'folder', 'device')),
	object_id     TEXT COLLATE "C" NOT NULL,
	user_id       TEXT COLLATE "C",
	group_id      TEXT COLLATE "C",
	folder_id     TEXT COLLATE "C",
	device_id     TEXT COLLATE "C",
	created_at    BIGINT NOT NULL,
	CONSTRAINT grants_subject_check CHECK (
		(subject_type = 'user' AND user_id = subject_id AND group_id IS NULL)
		OR (subject_type = 'group' AND group_id = subject_id AND user_id IS NULL)),
	CONSTRAINT grants_object_check CHECK (
		(object_type = 'organization' AND object_id = org_id AND folder_id IS NULL AND device_id IS NULL)
		OR (object_type = 'folder' AND folder_id = object_id AND device_id IS NULL)
		OR (object_type = 'device' AND device_id = object_id AND folder_id IS NULL)),
	CONSTRAINT grants_pkey PRIMARY KEY (id),
	CONSTRAINT grants_org_id_fkey FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE,
	CONSTRAINT grants_user_fkey FOREIGN KEY (org_id, user_id)
		REFERENCES memberships (org_id, user_id) ON DELETE CASCADE,
	CONSTRAINT grants_group_fkey FOREIGN KEY (org_id, group_id)
		REFERENCES groups (org_id, id) ON DELETE CASCADE,
	CONSTRAINT grants_folder_fkey FOREIGN KEY (org_id, folder_id)
		REFERENCES folders (org_id, id) ON DELETE CASCADE,
	CONSTRAINT grants_device_fkey FOREIGN KEY (org_id, device_id)
		REFERENCES devices (org_id, id) ON DELETE CASCADE,
	CONSTRAINT grants_tuple_key UNIQUE (org_id, subject_type, subject_id, relation, object_type, object_id)
);

CREATE INDEX grants_object_idx ON grants (org_id, object_type, object_id);
CREATE INDEX grants_user_idx ON grants (org_id, user_id);
CREATE INDEX grants_group_idx ON grants (org_id, group_id);
CREATE INDEX grants_folder_idx ON grants (org_id, folder_id);
CREATE INDEX grants_device_idx ON grants (org_id, device_id);

CREATE TABLE audit_events (
	id          BIGINT GENERATED ALWAYS AS IDENTITY,
	org_id      TEXT COLLATE "C" NOT NULL DEFAULT '',
	actor_id    TEXT COLLATE "C" NOT NULL DEFAULT '',
	actor_type  TEXT COLLATE "C" NOT NULL DEFAULT '',
	action      TEXT COLLATE "C" NOT NULL,
	object_type TEXT COLLATE "C" NOT NULL DEFAULT '',
	object_id   TEXT COLLATE "C" NOT NULL DEFAULT '',
	result      TEXT COLLATE "C" NOT NULL CHECK (result IN ('allowed', 'denied', 'error')),
	reason      TEXT COLLATE "C" NOT NULL DEFAULT '',
	source_ip   TEXT COLLATE "C" NOT NULL DEFAULT '',
	details     TEXT COLLATE "C" NOT NULL DEFAULT '',
	created_at  BIGINT NOT NULL,
	CONSTRAINT audit_events_pkey PRIMARY KEY (id)
);

CREATE INDEX audit_events_org_idx ON audit_events (org_id, id);
