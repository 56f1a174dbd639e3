package wire

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// The session endpoints of the agent API (on AgentAPIPort; only engines
// reach it):
//
//	POST   /v1/sessions                 OpenSession -> 201 SessionInfo
//	GET    /v1/sessions                 -> 200 SessionList (live and recently ended)
//	GET    /v1/sessions/{id}            -> 200 SessionInfo
//	DELETE /v1/sessions/{id}            terminate (reason "terminated") -> 204
//	GET    /v1/sessions/{id}/attach     WebSocket; binary messages, one protocols/stream frame each
//
// Attach query parameters: role=driver|observer (observer can never send
// Input or Resize; driver may drive and take over), offset=N (the viewer
// holds every output byte before N; absent: a new viewer, see
// protocols/stream), viewer=ID (the engine's opaque viewer id, shown in
// SessionInfo.Viewers), takeover=1 (take the driver role at once), hidden=1
// (a recorder: never listed as a viewer, never counts as attached).
//
// Errors use ErrorBody with the codes below.
const (
	SessionsPath = "/v1/sessions"

	// Error codes of the agent's session endpoints.
	CodeHostKeyMismatch = "host_key_mismatch" // 409; ErrorDetail.Message names the offered fingerprint
	CodeSSHAuthFailed   = "ssh_auth_failed"   // 502
	CodeDialFailed      = "dial_failed"       // 502: target unreachable or refused
	CodeSessionLimit    = "session_limit"     // 429: the agent's own cap (MaxAgentSessions)
	CodeSessionNotFound = "not_found"         // 404
	CodeSessionExists   = "conflict"          // 409: id already in use
	CodeBadRequest      = "bad_request"       // 400
)

// Limits on session requests.
const (
	MaxSessionBody       = 64 << 10
	DefaultBufferSize    = 4 << 20
	MinBufferSize        = 64 << 10
	MaxBufferSize        = 64 << 20
	DefaultDetachTimeout = 30 * time.Minute
	DefaultIdleTimeout   = 8 * time.Hour
	MaxAgentSessions     = 256
	MaxSessionIDLen      = 64
	// EndedRetention is how long an agent keeps listing an ended session.
	EndedRetention = 10 * time.Minute
)

// Session states.
const (
	SessionRunning = "running"
	SessionEnded   = "ended"
)

// Reasons a session ended (SessionInfo.EndReason).
const (
	EndExited     = "exited"     // the remote shell exited
	EndTerminated = "terminated" // DELETE /v1/sessions/{id}
	EndDetached   = "detached_timeout"
	EndIdle       = "idle_timeout"
	EndConnection = "connection_lost" // the SSH connection to the target broke
	EndAgentStop  = "agent_stopped"
)

// OpenSession asks the agent to open a session to one of its services. The
// credential is for this session only: the agent keeps it in memory for as
// long as it needs to authenticate, never on disk, never in a log.
type OpenSession struct {
	ID      string `json:"id"`       // chosen by the engine; [A-Za-z0-9_-], <= 64
	OrgID   string `json:"org_id"`   // echoed back in SessionInfo; the agent does not interpret it
	OwnerID string `json:"owner_id"` // the user who opened it; echoed back
	Service string `json:"service"`  // name of a service in the agent's current netmap
	// Username, and Password or PrivateKey (PEM, OpenSSH or PKCS#8, unencrypted).
	Username   string `json:"username"`
	Password   string `json:"password,omitempty"`
	PrivateKey string `json:"private_key,omitempty"`
	// HostKey is the expected SHA-256 fingerprint ("SHA256:<base64>", as
	// ssh.FingerprintSHA256 prints it). Empty: first use, the agent accepts
	// the offered key and reports it in SessionInfo.HostKey.
	HostKey string `json:"host_key,omitempty"`
	Cols    uint16 `json:"cols"`           // 0: 80
	Rows    uint16 `json:"rows"`           // 0: 24
	Term    string `json:"term,omitempty"` // "": xterm-256color
	// BufferSize in bytes (0: DefaultBufferSize; MinBufferSize..MaxBufferSize).
	BufferSize int `json:"buffer_size,omitempty"`
	// Timeouts in seconds (0: the defaults above).
	DetachedTimeoutSec int64 `json:"detached_timeout_sec,omitempty"`
	IdleTimeoutSec     int64 `json:"idle_timeout_sec,omitempty"`
}

// LogValue keeps credentials out of logs.
func (o OpenSession) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", o.ID), slog.String("org_id", o.OrgID),
		slog.String("owner_id", o.OwnerID), slog.String("service", o.Service),
		slog.String("username", o.Username), slog.String("credential", "REDACTED"))
}

// String keeps credentials out of %v and %+v.
func (o OpenSession) String() string {
	return fmt.Sprintf("OpenSession{id=%s service=%s credential=REDACTED}", o.ID, o.Service)
}

var _ slog.LogValuer = OpenSession{}

// DecodeOpenSession reads and validates an OpenSession body.
func DecodeOpenSession(r io.Reader) (OpenSession, error) {
	var o OpenSession
	if err := decodeStrict(r, MaxSessionBody, &o); err != nil {
		return OpenSession{}, err
	}
	return o, o.Validate()
}

// Validate checks every field.
func (o OpenSession) Validate() error {
	switch {
	case !ValidSessionID(o.ID):
		return &FieldError{"id", "must be 1-64 of [A-Za-z0-9_-]"}
	case len(o.OrgID) > MaxSessionIDLen || !printable(o.OrgID):
		return &FieldError{"org_id", "too long or not printable"}
	case len(o.OwnerID) > MaxSessionIDLen || !printable(o.OwnerID):
		return &FieldError{"owner_id", "too long or not printable"}
	case !ValidName(o.Service):
		return &FieldError{"service", "not a valid service name"}
	case o.Username == "" || len(o.Username) > 256 || !printable(o.Username):
		return &FieldError{"username", "must be 1-256 printable characters"}
	case (o.Password == "") == (o.PrivateKey == ""):
		return &FieldError{"password", "exactly one of password and private_key is required"}
	case o.HostKey != "" && (!strings.HasPrefix(o.HostKey, "SHA256:") || len(o.HostKey) > 128):
		return &FieldError{"host_key", `must be "SHA256:..."`}
	case len(o.Term) > 64 || !printable(o.Term):
		return &FieldError{"term", "too long or not printable"}
	case o.BufferSize != 0 && (o.BufferSize < MinBufferSize || o.BufferSize > MaxBufferSize):
		return &FieldError{"buffer_size", fmt.Sprintf("must be %d..%d", MinBufferSize, MaxBufferSize)}
	case o.DetachedTimeoutSec < 0 || o.DetachedTimeoutSec > 7*24*3600:
		return &FieldError{"detached_timeout_sec", "must be 0..604800"}
	case o.IdleTimeoutSec < 0 || o.IdleTimeoutSec > 30*24*3600:
		return &FieldError{"idle_timeout_sec", "must be 0..2592000"}
	}
	return nil
}

// ValidSessionID reports whether id is 1-64 of [A-Za-z0-9_-].
func ValidSessionID(id string) bool {
	if id == "" || len(id) > MaxSessionIDLen {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// SessionInfo is the agent's view of one session: the source of truth.
type SessionInfo struct {
	ID           string       `json:"id"`
	OrgID        string       `json:"org_id"`
	OwnerID      string       `json:"owner_id"`
	Service      string       `json:"service"`
	Protocol     string       `json:"protocol"` // "ssh"
	State        string       `json:"state"`    // SessionRunning or SessionEnded
	EndReason    string       `json:"end_reason,omitempty"`
	StartedAt    time.Time    `json:"started_at"`
	EndedAt      time.Time    `json:"ended_at,omitzero"`
	LastActivity time.Time    `json:"last_activity"` // last input or output
	HostKey      string       `json:"host_key"`      // the fingerprint the target offered
	Cols         uint16       `json:"cols"`
	Rows         uint16       `json:"rows"`
	Offset       uint64       `json:"offset"`       // output end offset
	BufferStart  uint64       `json:"buffer_start"` // oldest offset still buffered
	Viewers      []ViewerInfo `json:"viewers"`      // hidden viewers are not listed
}

// ViewerInfo is one attached viewer.
type ViewerInfo struct {
	ID         string    `json:"id"`
	Role       string    `json:"role"` // "driver" or "observer"
	AttachedAt time.Time `json:"attached_at"`
}

// SessionList is the agent's list of sessions: every live one and those that
// ended within EndedRetention.
type SessionList struct {
	Sessions []SessionInfo `json:"sessions"`
}

// TypeSessions is the netmap-stream message (agent -> engine) carrying the
// agent's SessionList. The agent sends it after every (re)connect of the
// stream and whenever a session opens, ends or its viewers change
// (coalesced, at most a few per second), so the engine's view of live
// sessions is always rebuilt from the agent.
const TypeSessions = "sessions"

// Validate checks a session list as the engine receives it from an agent
// (which it trusts no more than any network input).
func (l *SessionList) Validate() error {
	if len(l.Sessions) > MaxAgentSessions*2 {
		return &FieldError{"sessions", "too many"}
	}
	seen := make(map[string]bool, len(l.Sessions))
	for i, s := range l.Sessions {
		field := fmt.Sprintf("sessions[%d]", i)
		switch {
		case !ValidSessionID(s.ID) || seen[s.ID]:
			return &FieldError{field + ".id", "invalid or duplicate"}
		case s.State != SessionRunning && s.State != SessionEnded:
			return &FieldError{field + ".state", "unknown state"}
		case len(s.Viewers) > 1024:
			return &FieldError{field + ".viewers", "too many"}
		case len(s.OrgID) > MaxSessionIDLen || len(s.OwnerID) > MaxSessionIDLen || len(s.Service) > MaxNameLen ||
			len(s.HostKey) > 128 || len(s.EndReason) > 64:
			return &FieldError{field, "field too long"}
		}
		seen[s.ID] = true
	}
	return nil
}
