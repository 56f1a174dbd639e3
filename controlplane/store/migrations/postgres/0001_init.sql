-- Initial schema (PostgreSQL). Keep in step with ../sqlite/0001_init.sql.
-- Timestamps are unix milliseconds (0 = never).
-- Text columns use the "C" collation (byte order, as in SQLite) whatever
-- the database's locale, so that ORDER BY agrees across dialects.
-- Constraint names follow <table>_pkey and <table>_<field>_key: the store
-- derives ConflictError.Field from them, so keep the convention.

CREATE TABLE engines (
	id          TEXT COLLATE "C" NOT NULL,
	public_key  TEXT COLLATE "C" NOT NULL,
	overlay_ip  TEXT COLLATE "C" NOT NULL,
	endpoint    TEXT COLLATE "C" NOT NULL DEFAULT '',
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	CONSTRAINT engines_pkey PRIMARY KEY (id),
	CONSTRAINT engines_public_key_key UNIQUE (public_key),
	CONSTRAINT engines_overlay_ip_key UNIQUE (overlay_ip)
);

CREATE TABLE enroll_tokens (
	id          TEXT COLLATE "C" NOT NULL,
	token_hash  BYTEA  NOT NULL,
	created_at  BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL,
	used_at     BIGINT,
	-- The device this token enrolled; no foreign key: the device may be
	-- deleted later and the token stays as a record of what happened.
	device_id   TEXT COLLATE "C",
	CONSTRAINT enroll_tokens_pkey PRIMARY KEY (id),
	CONSTRAINT enroll_tokens_token_hash_key UNIQUE (token_hash)
);

CREATE TABLE devices (
	id             TEXT COLLATE "C" NOT NULL,
	name           TEXT COLLATE "C" NOT NULL,
	public_key     TEXT COLLATE "C" NOT NULL,
	overlay_ip     TEXT COLLATE "C" NOT NULL,
	hostname       TEXT COLLATE "C" NOT NULL DEFAULT '',
	os             TEXT COLLATE "C" NOT NULL DEFAULT '',
	agent_version  TEXT COLLATE "C" NOT NULL DEFAULT '',
	created_at     BIGINT  NOT NULL,
	last_endpoint  TEXT COLLATE "C" NOT NULL DEFAULT '',
	last_handshake BIGINT  NOT NULL DEFAULT 0,
	disabled       BOOLEAN NOT NULL DEFAULT FALSE,
	CONSTRAINT devices_pkey PRIMARY KEY (id),
	CONSTRAINT devices_name_key UNIQUE (name),
	CONSTRAINT devices_public_key_key UNIQUE (public_key),
	CONSTRAINT devices_overlay_ip_key UNIQUE (overlay_ip)
);

CREATE TABLE services (
	id          TEXT COLLATE "C" NOT NULL,
	device_id   TEXT COLLATE "C" NOT NULL,
	name        TEXT COLLATE "C" NOT NULL,
	protocol    TEXT COLLATE "C" NOT NULL,
	port        INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
	target      TEXT COLLATE "C" NOT NULL,
	created_at  BIGINT  NOT NULL,
	CONSTRAINT services_pkey PRIMARY KEY (id),
	CONSTRAINT services_device_id_fkey FOREIGN KEY (device_id) REFERENCES devices (id) ON DELETE CASCADE,
	CONSTRAINT services_name_key UNIQUE (device_id, name),
	CONSTRAINT services_port_key UNIQUE (device_id, port)
);

CREATE TABLE publishes (
	id          TEXT COLLATE "C" NOT NULL,
	service_id  TEXT COLLATE "C" NOT NULL,
	listen      TEXT COLLATE "C" NOT NULL,
	created_at  BIGINT NOT NULL,
	CONSTRAINT publishes_pkey PRIMARY KEY (id),
	CONSTRAINT publishes_service_id_fkey FOREIGN KEY (service_id) REFERENCES services (id) ON DELETE CASCADE,
	CONSTRAINT publishes_listen_key UNIQUE (listen)
);

CREATE INDEX publishes_service_id_idx ON publishes (service_id);
