-- Remote sessions (PostgreSQL). Keep in step with ../sqlite/0004_remote_sessions.sql,
-- which explains the design.

CREATE TABLE remote_sessions (
	id          TEXT COLLATE "C" NOT NULL,
	org_id      TEXT COLLATE "C" NOT NULL,
	device_id   TEXT COLLATE "C" NOT NULL,
	service     TEXT COLLATE "C" NOT NULL,
	protocol    TEXT COLLATE "C" NOT NULL,
	owner_id    TEXT COLLATE "C" NOT NULL,
	started_at  BIGINT  NOT NULL,
	ended_at    BIGINT,
	end_reason  TEXT COLLATE "C" NOT NULL DEFAULT '',
	recorded    BOOLEAN NOT NULL DEFAULT FALSE,
	last_seen   BIGINT  NOT NULL DEFAULT 0,
	cols        INTEGER NOT NULL DEFAULT 80,
	rows        INTEGER NOT NULL DEFAULT 24,
	CONSTRAINT remote_sessions_pkey PRIMARY KEY (id),
	CONSTRAINT remote_sessions_org_id_fkey FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE,
	CONSTRAINT remote_sessions_device_fkey FOREIGN KEY (org_id, device_id)
		REFERENCES devices (org_id, id) ON DELETE CASCADE
);

CREATE INDEX remote_sessions_org_idx ON remote_sessions (org_id, started_at);
CREATE INDEX remote_sessions_owner_idx ON remote_sessions (org_id, owner_id);
CREATE INDEX remote_sessions_device_idx ON remote_sessions (device_id, ended_at);

CREATE TABLE attach_tickets (
	ticket_hash BYTEA NOT NULL,
	session_id  TEXT COLLATE "C" NOT NULL,
	user_id     TEXT COLLATE "C" NOT NULL,
	role        TEXT COLLATE "C" NOT NULL CHECK (role IN ('driver', 'observer')),
	expires_at  BIGINT NOT NULL,
	CONSTRAINT attach_tickets_pkey PRIMARY KEY (ticket_hash),
	CONSTRAINT attach_tickets_session_id_fkey FOREIGN KEY (session_id)
		REFERENCES remote_sessions (id) ON DELETE CASCADE
);

CREATE INDEX attach_tickets_session_idx ON attach_tickets (session_id);
CREATE INDEX attach_tickets_expires_idx ON attach_tickets (expires_at);

CREATE TABLE host_keys (
	device_id     TEXT COLLATE "C" NOT NULL,
	service       TEXT COLLATE "C" NOT NULL,
	fingerprint   TEXT COLLATE "C" NOT NULL,
	first_seen    BIGINT NOT NULL,
	accepted_by   TEXT COLLATE "C" NOT NULL DEFAULT '',
	pending       TEXT COLLATE "C" NOT NULL DEFAULT '',
	pending_seen  BIGINT NOT NULL DEFAULT 0,
	CONSTRAINT host_keys_pkey PRIMARY KEY (device_id, service),
	CONSTRAINT host_keys_device_id_fkey FOREIGN KEY (device_id) REFERENCES devices (id) ON DELETE CASCADE
);

ALTER TABLE services ADD COLUMN record BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE org_session_settings (
	org_id               TEXT COLLATE "C" NOT NULL,
	detached_timeout_sec BIGINT  NOT NULL,
	idle_timeout_sec     BIGINT  NOT NULL,
	buffer_size          BIGINT  NOT NULL,
	max_user_sessions    INTEGER NOT NULL,
	max_device_sessions  INTEGER NOT NULL,
	updated_at           BIGINT  NOT NULL,
	CONSTRAINT org_session_settings_pkey PRIMARY KEY (org_id),
	CONSTRAINT org_session_settings_org_id_fkey FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE
);
