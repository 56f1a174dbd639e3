package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

// APITokenPrefix starts every API token, so leaked tokens are easy to find
// with secret scanners and never mistaken for another credential.
const APITokenPrefix = "wrn_pat_"

// tokenBytes is the entropy of every secret this package mints.
const tokenBytes = 32

// secret is a bearer secret (session token, CSRF token, setup token, API
// token). However it is printed or logged it shows REDACTED; code that needs
// the value converts it with string().
type secret string

func (secret) String() string               { return "REDACTED" }
func (secret) GoString() string             { return "REDACTED" }
func (secret) Format(f fmt.State, _ rune)   { io.WriteString(f, "REDACTED") }
func (secret) LogValue() slog.Value         { return slog.StringValue("REDACTED") }
func (secret) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }

// hash is what the store keeps of s.
func (s secret) hash() []byte { return hashOf(string(s)) }

var _ slog.LogValuer = secret("")

// newSecret returns tokenBytes random bytes, base64url encoded.
func newSecret() secret {
	b := make([]byte, tokenBytes)
	rand.Read(b) // never fails (crypto/rand documents it)
	return secret(base64.RawURLEncoding.EncodeToString(b))
}

// validRandom reports whether s has the shape newSecret produces, so
// malformed input is refused before any store lookup.
func validRandom(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// hashOf is how every secret is stored: the SHA-256 of its text.
func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// CreateAPIToken mints an API token for userID, scoped to orgID, named
// name, valid for ttl (0 = until revoked). It returns the token's secret,
// which is shown once and never stored (only its SHA-256 is), and the
// stored record. The user must be a member of the org (store.ErrNotFound
// otherwise); the token dies with the membership.
func (a *Authn) CreateAPIToken(ctx context.Context, orgID, userID, name string, ttl time.Duration) (string, store.APIToken, error) {
	if ttl < 0 {
		return "", store.APIToken{}, errors.New("creating API token: negative TTL")
	}
	tok := APITokenPrefix + newSecret()
	now := a.now()
	t := store.APIToken{TokenHash: tok.hash(), UserID: userID, OrgID: orgID, Name: name, CreatedAt: now}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl)
	}
	t, err := a.cfg.Store.CreateAPIToken(ctx, t)
	if err != nil {
		return "", store.APIToken{}, err
	}
	a.log.InfoContext(ctx, "API token created", slog.String("token_id", t.ID), slog.String("user_id", userID), slog.String("org_id", orgID))
	return string(tok), t, nil
}

// ListAPITokens returns the org's tokens (of one user if userID is not ""),
// newest first, revoked and expired ones included. The records hold only
// hashes; callers must still not return TokenHash to clients.
func (a *Authn) ListAPITokens(ctx context.Context, orgID, userID string) ([]store.APIToken, error) {
	return a.cfg.Store.ListAPITokens(ctx, orgID, userID)
}

// RevokeAPIToken revokes the org's token id; the next request that presents
// it is refused.
func (a *Authn) RevokeAPIToken(ctx context.Context, orgID, id string) error {
	if err := a.cfg.Store.RevokeAPIToken(ctx, orgID, id); err != nil {
		return err
	}
	a.log.InfoContext(ctx, "API token revoked", slog.String("token_id", id), slog.String("org_id", orgID))
	return nil
}
