// Package enroll issues single-use registration tokens and turns a token plus
// an agent's WireGuard public key into an enrolled device with its own /32.
//
// Token secrets are returned once, at creation, and only their SHA-256 is
// stored. Consuming a token and creating the device happen in one store
// transaction, so a token enrolls at most one device however many agents race
// for it.
package enroll

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/netstack"
)

// Token lifetimes.
const (
	DefaultTTL = 15 * time.Minute
	MaxTTL     = 24 * time.Hour
)

// TokenPrefix marks Warren enrollment tokens so secret scanners can find them.
const TokenPrefix = "wrn_enroll_"

// Store is what enrollment needs from persistence.
type Store interface {
	CreateEnrollToken(ctx context.Context, t store.EnrollToken) (store.EnrollToken, error)
	Enroll(ctx context.Context, req store.EnrollRequest) (store.Device, error)
}

// Config configures a Service.
type Config struct {
	Store    Store
	Prefix   netip.Prefix         // overlay prefix IPAM allocates from
	Reserved []netip.Addr         // addresses never handed to a device
	Engines  func() []wire.Engine // engine replicas to return to a new agent
	Now      func() time.Time     // nil = time.Now
	Logger   *slog.Logger         // nil = discard
	// Enrolled is called after each successful enrollment (the engine adds
	// the new peer). It may be nil.
	Enrolled func(ctx context.Context, d store.Device)
}

// Service issues tokens and enrolls devices. It is safe for concurrent use.
type Service struct {
	cfg Config
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg}
}

// Token is a freshly created enrollment token. Secret is shown once.
type Token struct {
	ID        string    `json:"id"`
	Secret    string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// LogValue keeps the secret out of logs.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", t.ID), slog.Time("expires_at", t.ExpiresAt))
}

// CreateToken issues a single-use token valid for ttl (0 = DefaultTTL).
func (s *Service) CreateToken(ctx context.Context, ttl time.Duration) (Token, error) {
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < time.Second || ttl > MaxTTL {
		return Token{}, &Error{Code: "invalid_ttl", Message: fmt.Sprintf("ttl must be between 1s and %v", MaxTTL)}
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Token{}, err
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	rec, err := s.cfg.Store.CreateEnrollToken(ctx, store.EnrollToken{
		Hash:      HashToken(secret),
		ExpiresAt: s.cfg.Now().Add(ttl),
	})
	if err != nil {
		return Token{}, fmt.Errorf("storing enrollment token: %w", err)
	}
	return Token{ID: rec.ID, Secret: secret, ExpiresAt: rec.ExpiresAt}, nil
}

// HashToken is how a token secret is stored and looked up. The lookup is by
// an index on the hash, so no comparison of the secret itself ever happens.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Error is an enrollment failure the agent may be told about. Code is
// stable; Message is for people.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Enrollment error codes.
var (
	ErrTokenInvalid = &Error{Code: "invalid_token", Message: "the enrollment token is unknown, expired or already used"}
	ErrBadKey       = &Error{Code: "invalid_public_key", Message: "wg_public_key must be a base64 Curve25519 public key of 32 bytes, not all zero"}
	ErrKeyInUse     = &Error{Code: "public_key_in_use", Message: "this WireGuard public key belongs to an enrolled device"}
	ErrNameTaken    = &Error{Code: "name_taken", Message: "a device with this name exists"}
	ErrPoolFull     = &Error{Code: "address_pool_exhausted", Message: "no free overlay address is left in the prefix"}
)

// Enroll consumes the request's token and creates the device. Every failure
// leaves no row and no address behind.
func (s *Service) Enroll(ctx context.Context, req wire.EnrollRequest) (wire.EnrollResponse, error) {
	if err := req.Validate(); err != nil {
		return wire.EnrollResponse{}, err
	}
	key, err := netstack.ParseKey(req.WGPublicKey)
	if err != nil || key.IsZero() {
		return wire.EnrollResponse{}, ErrBadKey
	}
	d, err := s.cfg.Store.Enroll(ctx, store.EnrollRequest{
		TokenHash: HashToken(req.Token),
		Now:       s.cfg.Now(),
		Prefix:    s.cfg.Prefix,
		Reserved:  s.cfg.Reserved,
		Device: store.Device{
			Name:         req.Name,
			PublicKey:    key.String(),
			Hostname:     req.Hostname,
			OS:           req.OS,
			AgentVersion: req.Version,
		},
		NameExplicit: req.Name != "",
	})
	if err != nil {
		return wire.EnrollResponse{}, mapStoreError(err)
	}
	s.cfg.Logger.Info("device enrolled", "device_id", d.ID, "name", d.Name, "overlay_ip", d.OverlayIP)
	if s.cfg.Enrolled != nil {
		s.cfg.Enrolled(ctx, d)
	}
	return wire.EnrollResponse{
		DeviceID:  d.ID,
		Name:      d.Name,
		OverlayIP: d.OverlayIP.String(),
		Prefix:    s.cfg.Prefix.String(),
		Engines:   s.cfg.Engines(),
	}, nil
}

func mapStoreError(err error) error {
	var conflict *store.ConflictError
	switch {
	case errors.Is(err, store.ErrTokenInvalid):
		return ErrTokenInvalid
	case errors.Is(err, store.ErrPoolExhausted):
		return ErrPoolFull
	case errors.As(err, &conflict) && conflict.Field == "public_key":
		return ErrKeyInUse
	case errors.As(err, &conflict) && conflict.Field == "name":
		return ErrNameTaken
	}
	return fmt.Errorf("enrolling device: %w", err)
}
