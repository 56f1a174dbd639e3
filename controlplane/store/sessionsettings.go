package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SessionSettings are an organization's rules for remote sessions.
type SessionSettings struct {
	// DetachedTimeout ends a session that has had no viewer for this long.
	DetachedTimeout time.Duration
	// IdleTimeout ends a session with neither input nor output for this long.
	IdleTimeout time.Duration
	// BufferSize is the agent's output buffer per session, in bytes.
	BufferSize int
	// MaxUserSessions and MaxDeviceSessions bound the live sessions of one
	// user and on one device.
	MaxUserSessions   int
	MaxDeviceSessions int
}

// Defaults and bounds of SessionSettings.
const (
	DefaultDetachedTimeout   = 30 * time.Minute
	DefaultIdleTimeout       = 8 * time.Hour
	DefaultBufferSize        = 4 << 20
	DefaultMaxUserSessions   = 10
	DefaultMaxDeviceSessions = 20

	MinSessionBuffer   = 64 << 10
	MaxSessionBuffer   = 64 << 20
	MaxDetachedTimeout = 7 * 24 * time.Hour
	MaxIdleTimeout     = 30 * 24 * time.Hour
	MaxSessionsLimit   = 256
)

// DefaultSessionSettings are the settings of an organization that set none.
func DefaultSessionSettings() SessionSettings {
	return SessionSettings{DetachedTimeout: DefaultDetachedTimeout, IdleTimeout: DefaultIdleTimeout,
		BufferSize: DefaultBufferSize, MaxUserSessions: DefaultMaxUserSessions, MaxDeviceSessions: DefaultMaxDeviceSessions}
}

// ValidateSessionSettings checks every field (whole seconds, within bounds).
func ValidateSessionSettings(ss SessionSettings) error {
	switch {
	case ss.DetachedTimeout < time.Second || ss.DetachedTimeout > MaxDetachedTimeout || ss.DetachedTimeout%time.Second != 0:
		return invalid("detached_timeout", "must be whole seconds from 1s to 168h")
	case ss.IdleTimeout < time.Second || ss.IdleTimeout > MaxIdleTimeout || ss.IdleTimeout%time.Second != 0:
		return invalid("idle_timeout", "must be whole seconds from 1s to 720h")
	case ss.BufferSize < MinSessionBuffer || ss.BufferSize > MaxSessionBuffer:
		return invalid("buffer_size", fmt.Sprintf("must be %d to %d bytes", MinSessionBuffer, MaxSessionBuffer))
	case ss.MaxUserSessions < 1 || ss.MaxUserSessions > MaxSessionsLimit:
		return invalid("max_user_sessions", fmt.Sprintf("must be 1 to %d", MaxSessionsLimit))
	case ss.MaxDeviceSessions < 1 || ss.MaxDeviceSessions > MaxSessionsLimit:
		return invalid("max_device_sessions", fmt.Sprintf("must be 1 to %d", MaxSessionsLimit))
	}
	return nil
}

// GetSessionSettings returns the organization's session settings (the
// defaults if it set none; an unknown org has the defaults too).
func (s *Store) GetSessionSettings(ctx context.Context, orgID string) (SessionSettings, error) {
	var detached, idle int64
	ss := SessionSettings{}
	err := s.reader().queryRow(ctx, `SELECT detached_timeout_sec, idle_timeout_sec, buffer_size, max_user_sessions,
		max_device_sessions FROM org_session_settings WHERE org_id = ?`, orgID).
		Scan(&detached, &idle, &ss.BufferSize, &ss.MaxUserSessions, &ss.MaxDeviceSessions)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return DefaultSessionSettings(), nil
		}
		return SessionSettings{}, fmt.Errorf("getting session settings of %s: %w", orgID, err)
	}
	ss.DetachedTimeout, ss.IdleTimeout = time.Duration(detached)*time.Second, time.Duration(idle)*time.Second
	return ss, nil
}

// SetSessionSettings replaces the organization's session settings.
// Errors: ErrInvalid, ErrNotFound (no such org).
func (s *Store) SetSessionSettings(ctx context.Context, orgID string, ss SessionSettings) error {
	if err := ValidateSessionSettings(ss); err != nil {
		return err
	}
	_, err := s.writer().exec(ctx, `INSERT INTO org_session_settings (org_id, detached_timeout_sec, idle_timeout_sec,
		buffer_size, max_user_sessions, max_device_sessions, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (org_id) DO UPDATE SET detached_timeout_sec = excluded.detached_timeout_sec,
			idle_timeout_sec = excluded.idle_timeout_sec, buffer_size = excluded.buffer_size,
			max_user_sessions = excluded.max_user_sessions, max_device_sessions = excluded.max_device_sessions,
			updated_at = excluded.updated_at`,
		orgID, int64(ss.DetachedTimeout/time.Second), int64(ss.IdleTimeout/time.Second), ss.BufferSize,
		ss.MaxUserSessions, ss.MaxDeviceSessions, toMillis(now()))
	if errors.Is(err, errForeignKey) {
		return fmt.Errorf("organization %s: %w", orgID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("setting session settings of %s: %w", orgID, err)
	}
	return nil
}
