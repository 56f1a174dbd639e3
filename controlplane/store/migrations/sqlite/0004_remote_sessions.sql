-- Remote sessions (SQLite). Keep in step with ../postgres/0004_remote_sessions.sql.
--
-- A remote session lives on an agent; the engine keeps only its record
-- (who opened what, when, how it ended). Its live state (viewers,
-- offsets, activity) is never stored: the agent reports it. Rows go with
-- their organization and their device.

CREATE TABLE remote_sessions (
	id          TEXT    NOT NULL PRIMARY KEY,
	org_id      TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	device_id   TEXT    NOT NULL,
	service     TEXT    NOT NULL,
	protocol    TEXT    NOT NULL,
	owner_id    TEXT    NOT NULL,
	started_at  INTEGER NOT NULL,
	ended_at    INTEGER, -- NULL while live
	end_reason  TEXT    NOT NULL DEFAULT '',
	recorded    INTEGER NOT NULL DEFAULT 0 CHECK (recorded IN (0, 1)),
	last_seen   INTEGER NOT NULL DEFAULT 0, -- when the agent last listed it
	cols        INTEGER NOT NULL DEFAULT 80,
	rows        INTEGER NOT NULL DEFAULT 24,
	FOREIGN KEY (org_id, device_id) REFERENCES devices (org_id, id) ON DELETE CASCADE
) STRICT;

CREATE INDEX remote_sessions_org_idx ON remote_sessions (org_id, started_at);
CREATE INDEX remote_sessions_owner_idx ON remote_sessions (org_id, owner_id);
CREATE INDEX remote_sessions_device_idx ON remote_sessions (device_id, ended_at);

-- Single-use attach tickets: only the SHA-256 of the secret is stored.
CREATE TABLE attach_tickets (
	ticket_hash BLOB    NOT NULL PRIMARY KEY,
	session_id  TEXT    NOT NULL REFERENCES remote_sessions (id) ON DELETE CASCADE,
	user_id     TEXT    NOT NULL,
	role        TEXT    NOT NULL CHECK (role IN ('driver', 'observer')),
	expires_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX attach_tickets_session_idx ON attach_tickets (session_id);
CREATE INDEX attach_tickets_expires_idx ON attach_tickets (expires_at);

-- SSH host keys by device and service name: the fingerprint trusted (first
-- use, or accepted by an admin) and the one last offered instead, pending
-- an admin's decision.
CREATE TABLE host_keys (
	device_id     TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	service       TEXT    NOT NULL,
	fingerprint   TEXT    NOT NULL,
	first_seen    INTEGER NOT NULL,
	accepted_by   TEXT    NOT NULL DEFAULT '', -- '' = trusted on first use
	pending       TEXT    NOT NULL DEFAULT '',
	pending_seen  INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (device_id, service)
) STRICT;

-- Recording policy of a service.
ALTER TABLE services ADD COLUMN record INTEGER NOT NULL DEFAULT 0 CHECK (record IN (0, 1));

-- Per-organization session settings; an org without a row has the defaults.
CREATE TABLE org_session_settings (
	org_id               TEXT    NOT NULL PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
	detached_timeout_sec INTEGER NOT NULL,
	idle_timeout_sec     INTEGER NOT NULL,
	buffer_size          INTEGER NOT NULL,
	max_user_sessions    INTEGER NOT NULL,
	max_device_sessions  INTEGER NOT NULL,
	updated_at           INTEGER NOT NULL
) STRICT;
