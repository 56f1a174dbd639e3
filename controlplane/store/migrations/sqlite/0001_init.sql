-- Initial schema (SQLite). Keep in step with ../postgres/0001_init.sql.
-- Timestamps are unix milliseconds (0 = never); booleans are 0/1.

CREATE TABLE engines (
	id          TEXT    NOT NULL PRIMARY KEY,
	public_key  TEXT    NOT NULL UNIQUE,
	overlay_ip  TEXT    NOT NULL UNIQUE,
	endpoint    TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE enroll_tokens (
	id          TEXT    NOT NULL PRIMARY KEY,
	token_hash  BLOB    NOT NULL UNIQUE,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	used_at     INTEGER,
	-- The device this token enrolled; no foreign key: the device may be
	-- deleted later and the token stays as a record of what happened.
	device_id   TEXT
) STRICT;

CREATE TABLE devices (
	id             TEXT    NOT NULL PRIMARY KEY,
	name           TEXT    NOT NULL UNIQUE,
	public_key     TEXT    NOT NULL UNIQUE,
	overlay_ip     TEXT    NOT NULL UNIQUE,
	hostname       TEXT    NOT NULL DEFAULT '',
	os             TEXT    NOT NULL DEFAULT '',
	agent_version  TEXT    NOT NULL DEFAULT '',
	created_at     INTEGER NOT NULL,
	last_endpoint  TEXT    NOT NULL DEFAULT '',
	last_handshake INTEGER NOT NULL DEFAULT 0,
	disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
) STRICT;

CREATE TABLE services (
	id          TEXT    NOT NULL PRIMARY KEY,
	device_id   TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	name        TEXT    NOT NULL,
	protocol    TEXT    NOT NULL,
	port        INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
	target      TEXT    NOT NULL,
	created_at  INTEGER NOT NULL,
	UNIQUE (device_id, name),
	UNIQUE (device_id, port)
) STRICT;

CREATE TABLE publishes (
	id          TEXT    NOT NULL PRIMARY KEY,
	service_id  TEXT    NOT NULL REFERENCES services (id) ON DELETE CASCADE,
	listen      TEXT    NOT NULL UNIQUE,
	created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX publishes_service_id_idx ON publishes (service_id);
