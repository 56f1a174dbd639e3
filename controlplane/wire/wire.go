// Package wire holds the JSON messages exchanged between the engine and its
// agents: enrollment over HTTPS and the netmap stream over the overlay.
//
// It is shared by both sides, so it imports only the standard library. Every
// decoder here is fed by the network: decode with the Decode functions, which
// cap sizes, reject unknown fields and validate what they return.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Well-known overlay ports and paths.
const (
	// AgentAPIPort is the port of the agent API on each device's /32.
	AgentAPIPort = 7
	// EnginePort is the HTTP port the engine serves agents on, on its own /32.
	EnginePort = 80
	// StreamPath is the netmap stream (WebSocket) on the engine's overlay address.
	StreamPath = "/agent/v1/stream"
	// EnrollPath is the public enrollment endpoint.
	EnrollPath = "/api/v1/enroll"
)

// MaxEnrollBody caps an enrollment request body.
const MaxEnrollBody = 16 << 10

// MaxMessage caps one netmap stream message.
const MaxMessage = 1 << 20

// EnrollRequest is the body of POST /api/v1/enroll.
type EnrollRequest struct {
	Token       string `json:"token"`
	WGPublicKey string `json:"wg_public_key"` // standard base64, 32 bytes
	Name        string `json:"name,omitempty"`
	Hostname    string `json:"hostname"`
	OS          string `json:"os"`
	Version     string `json:"version"`
}

// EnrollResponse answers a successful enrollment.
type EnrollResponse struct {
	DeviceID  string   `json:"device_id"`
	Name      string   `json:"name"`
	OverlayIP string   `json:"overlay_ip"`
	Prefix    string   `json:"prefix"`
	Engines   []Engine `json:"engines"`
}

// Engine describes one engine replica as an agent peers with it.
type Engine struct {
	PublicKey string `json:"public_key"`
	Endpoint  string `json:"endpoint"` // host:port of its WireGuard UDP listener
	OverlayIP string `json:"overlay_ip"`
}

// Service is a port on a device's /32 that the agent forwards to Target.
type Service struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Port     uint16 `json:"port"`
	Target   string `json:"target"`
}

// Netmap is what the engine pushes to an agent: everything the agent must
// apply. Version grows with every change; an agent ignores older versions.
type Netmap struct {
	Version  int64     `json:"version"`
	DeviceID string    `json:"device_id"`
	Engines  []Engine  `json:"engines"`
	Services []Service `json:"services"`
}

// Health is what the agent reports on its stream.
type Health struct {
	Version  string `json:"version"`
	Hostname string `json:"hostname"`
	OS       string `json:"os"`
	// NetmapVersion is the last netmap version the agent applied.
	NetmapVersion int64 `json:"netmap_version"`
}

// Message types on the netmap stream.
const (
	TypeNetmap = "netmap"
	TypeHealth = "health"
)

// Message is one frame on the netmap stream (a WebSocket text message).
type Message struct {
	Type   string  `json:"type"`
	Netmap *Netmap `json:"netmap,omitempty"`
	Health *Health `json:"health,omitempty"`
	// Sessions is the agent's session list (TypeSessions).
	Sessions *SessionList `json:"sessions,omitempty"`
}

// ErrorBody is the API error envelope.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail carries a stable machine-readable code and a human message.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	TraceID string `json:"trace_id,omitempty"`
}

// Protocols a service may declare.
var Protocols = []string{"tcp", "ssh", "rdp", "vnc", "http", "host"}

// Field limits.
const (
	MaxNameLen     = 63
	MaxHostnameLen = 253
	MaxServices    = 1024
)

// decodeStrict decodes exactly one JSON value from r (capped at limit bytes)
// into v, rejecting unknown fields and trailing data.
func decodeStrict(r io.Reader, limit int64, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	if int64(len(data)) > limit {
		return ErrTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	return nil
}

// Decoding errors.
var (
	ErrTooLarge  = errors.New("message too large")
	ErrMalformed = errors.New("malformed message")
	ErrInvalid   = errors.New("invalid field")
)

// FieldError names the field that failed validation.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes every FieldError match ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// DecodeEnrollRequest reads and validates an enrollment body.
func DecodeEnrollRequest(r io.Reader) (EnrollRequest, error) {
	var req EnrollRequest
	if err := decodeStrict(r, MaxEnrollBody, &req); err != nil {
		return EnrollRequest{}, err
	}
	return req, req.Validate()
}

// Validate checks field shapes. The key's cryptographic validity is the
// caller's to check (it needs the key type).
func (r EnrollRequest) Validate() error {
	switch {
	case r.Token == "" || len(r.Token) > 256:
		return &FieldError{"token", "missing or too long"}
	case r.WGPublicKey == "" || len(r.WGPublicKey) > 64:
		return &FieldError{"wg_public_key", "missing or too long"}
	case r.Name != "" && !ValidName(r.Name):
		return &FieldError{"name", "must be 1-63 characters of a-z, 0-9, '-', '_' or '.', starting with a letter or digit"}
	case len(r.Hostname) > MaxHostnameLen || !printable(r.Hostname):
		return &FieldError{"hostname", "too long or not printable"}
	case len(r.OS) > 64 || !printable(r.OS):
		return &FieldError{"os", "too long or not printable"}
	case len(r.Version) > 64 || !printable(r.Version):
		return &FieldError{"version", "too long or not printable"}
	}
	return nil
}

// DecodeMessage reads one netmap stream message and validates it.
func DecodeMessage(data []byte) (Message, error) {
	var m Message
	if err := decodeStrict(bytes.NewReader(data), MaxMessage, &m); err != nil {
		return Message{}, err
	}
	return m, m.Validate()
}

// Validate checks that the message carries what its type says.
func (m Message) Validate() error {
	switch m.Type {
	case TypeNetmap:
		if m.Netmap == nil || m.Health != nil || m.Sessions != nil {
			return &FieldError{"netmap", "missing"}
		}
		return m.Netmap.Validate()
	case TypeHealth:
		if m.Health == nil || m.Netmap != nil || m.Sessions != nil {
			return &FieldError{"health", "missing"}
		}
		return nil
	case TypeSessions:
		if m.Sessions == nil || m.Netmap != nil || m.Health != nil {
			return &FieldError{"sessions", "missing"}
		}
		return m.Sessions.Validate()
	default:
		return &FieldError{"type", fmt.Sprintf("unknown message type %q", m.Type)}
	}
}

// Validate checks a netmap: engines have keys and addresses, services have
// unique valid names and ports and a host:port target.
func (n *Netmap) Validate() error {
	if n.Version < 0 {
		return &FieldError{"version", "negative"}
	}
	for i, e := range n.Engines {
		if _, err := netip.ParseAddr(e.OverlayIP); err != nil {
			return &FieldError{fmt.Sprintf("engines[%d].overlay_ip", i), "not an IP address"}
		}
		if e.PublicKey == "" {
			return &FieldError{fmt.Sprintf("engines[%d].public_key", i), "missing"}
		}
	}
	if len(n.Services) > MaxServices {
		return &FieldError{"services", "too many"}
	}
	names := make(map[string]bool, len(n.Services))
	ports := make(map[uint16]bool, len(n.Services))
	for i, s := range n.Services {
		if err := s.Validate(); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.Field = fmt.Sprintf("services[%d].%s", i, fe.Field)
			}
			return err
		}
		if names[s.Name] || ports[s.Port] {
			return &FieldError{fmt.Sprintf("services[%d]", i), "duplicate name or port"}
		}
		names[s.Name], ports[s.Port] = true, true
	}
	return nil
}

// Validate checks one service definition.
func (s Service) Validate() error {
	switch {
	case !ValidName(s.Name):
		return &FieldError{"name", "must be 1-63 characters of a-z, 0-9, '-', '_' or '.', starting with a letter or digit"}
	case !ValidProtocol(s.Protocol):
		return &FieldError{"protocol", "must be one of " + strings.Join(Protocols, ", ")}
	case s.Port == 0:
		return &FieldError{"port", "must be 1-65535"}
	case s.Port == AgentAPIPort:
		return &FieldError{"port", "port 7 is reserved for the agent API"}
	}
	if err := ValidTarget(s.Target); err != nil {
		return &FieldError{"target", err.Error()}
	}
	return nil
}

// ValidProtocol reports whether p is a known service protocol.
func ValidProtocol(p string) bool {
	for _, q := range Protocols {
		if p == q {
			return true
		}
	}
	return false
}

// ValidName reports whether s is a valid device or service name.
func ValidName(s string) bool {
	if s == "" || len(s) > MaxNameLen {
		return false
	}
	for i, c := range s {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '-' && c != '_' && c != '.')) {
			return false
		}
	}
	return true
}

// ValidTarget checks a host:port forward target.
func ValidTarget(t string) error {
	host, port, err := splitHostPort(t)
	if err != nil {
		return err
	}
	if host == "" || len(host) > MaxHostnameLen || !printable(host) || strings.ContainsAny(host, " /") {
		return errors.New("host must be a name or an IP address")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("port must be 1-65535")
	}
	return nil
}

func splitHostPort(t string) (host, port string, err error) {
	i := strings.LastIndexByte(t, ':')
	if i < 0 {
		return "", "", errors.New("must be host:port")
	}
	host, port = t[:i], t[i+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	return host, port, nil
}

func printable(s string) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
