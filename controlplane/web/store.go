package web

import (
	"context"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

// IdPStore finds an organization's IdP by email domain.
type IdPStore interface {
	FindIdPByDomain(ctx context.Context, domain string) (store.IdP, error)
}

// LocalUserStore holds the built-in IdP's accounts.
type LocalUserStore interface {
	GetLocalUserByEmail(ctx context.Context, email string) (store.LocalUser, error)
	CreateLocalUser(ctx context.Context, u store.LocalUser) (store.LocalUser, error)
}

// UserStore records identities and the platform admin role.
type UserStore interface {
	UpsertUserIdentity(ctx context.Context, issuer, subject, email, displayName string) (store.User, bool, error)
	GetUser(ctx context.Context, id string) (store.User, error)
	SetPlatformAdmin(ctx context.Context, id string, admin bool) error
}

// MemberStore holds organization memberships.
type MemberStore interface {
	AddMember(ctx context.Context, m store.Membership) (store.Membership, error)
	GetMembership(ctx context.Context, orgID, userID string) (store.Membership, error)
	ListMemberships(ctx context.Context, userID string) ([]store.Membership, error)
}

// SessionStore holds browser sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, ses store.Session) (store.Session, error)
	GetSessionByHash(ctx context.Context, hash []byte, now time.Time) (store.Session, error)
	TouchSession(ctx context.Context, id string, now time.Time) error
	SetSessionOrg(ctx context.Context, id, orgID string) error
	RevokeSession(ctx context.Context, id string) error
	RevokeUserSessions(ctx context.Context, userID string) (int, error)
}

// APITokenStore holds API tokens.
type APITokenStore interface {
	CreateAPIToken(ctx context.Context, t store.APIToken) (store.APIToken, error)
	GetAPITokenByHash(ctx context.Context, hash []byte, now time.Time) (store.APIToken, error)
	TouchAPIToken(ctx context.Context, id string, now time.Time) error
	ListAPITokens(ctx context.Context, orgID, userID string) ([]store.APIToken, error)
	RevokeAPIToken(ctx context.Context, orgID, id string) error
}

// SetupStore holds the one-time setup tokens.
type SetupStore interface {
	CountPlatformAdmins(ctx context.Context) (int, error)
	CreateSetupToken(ctx context.Context, hash []byte, expiresAt time.Time) error
	ConsumeSetupToken(ctx context.Context, hash []byte, now time.Time) error
}

// AuditStore appends audit events (logins).
type AuditStore interface {
	AppendAudit(ctx context.Context, ev store.AuditEvent) (store.AuditEvent, error)
}

// MemberAdder adds a membership. The engine passes its authz service, which
// writes the OpenFGA tuple with the row.
type MemberAdder interface {
	AddMember(ctx context.Context, m store.Membership) (store.Membership, error)
}

// Store is everything Authn persists; *store.Store implements it.
type Store interface {
	IdPStore
	LocalUserStore
	UserStore
	MemberStore
	SessionStore
	APITokenStore
	SetupStore
	AuditStore
}

var _ Store = (*store.Store)(nil)
