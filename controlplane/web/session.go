package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

// Cookie and header names.
const (
	// SessionCookie holds the browser session's secret.
	SessionCookie = "warren_session"
	// CSRFHeader must carry the session's CSRF token (GET MePath returns it)
	// on every state-changing request authenticated by the session cookie.
	CSRFHeader = "X-CSRF-Token"
)

// How a principal authenticated.
const (
	ViaSession = "session"
	ViaToken   = "token"
)

// touchEvery bounds how often a session's or token's last-use time is
// written: at most once a minute each, instead of on every request.
const touchEvery = time.Minute

// Principal is who a request acts for, as Authenticate resolved it from a
// live session or API token.
type Principal struct {
	UserID string
	// OrgID is the organization the request works in: the session's
	// current org while the user is still a member of it, or the API
	// token's org. "" = none.
	OrgID string
	// PlatformAdmin is the user's platform admin role, read on every
	// request. API tokens never carry it: they are scoped to one org.
	PlatformAdmin bool
	Via           string // ViaSession or ViaToken
	SessionID     string // the session's ID when Via is ViaSession
	TokenID       string // the API token's ID when Via is ViaToken
}

// LogValue logs the principal's ids only.
func (p Principal) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user_id", p.UserID), slog.String("org_id", p.OrgID), slog.String("via", p.Via))
}

type principalKey struct{}

// authState is what Authenticate leaves in the context.
type authState struct {
	p    Principal
	csrf secret // the session's CSRF token; "" for API tokens
}

// PrincipalFrom returns the principal Authenticate put in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	st, ok := ctx.Value(principalKey{}).(*authState)
	if !ok {
		return Principal{}, false
	}
	return st.p, true
}

func stateFrom(ctx context.Context) *authState {
	st, _ := ctx.Value(principalKey{}).(*authState)
	return st
}

// Authenticate calls next with the request's Principal in its context
// (PrincipalFrom) when the request carries a live API token
// ("Authorization: Bearer wrn_pat_...") or, without an Authorization header,
// a live session cookie; otherwise it answers 401 "unauthenticated". The
// session or token row is read on every request, so logout, revocation
// and disabling a user take effect at the next request. State-changing
// requests (any method but GET, HEAD, OPTIONS, TRACE) authenticated by the
// session cookie must also carry the session's CSRF token in CSRFHeader and
// an Origin (or, without one, a Referer) of the public URL's origin, or get
// 403; API-token requests need neither, since browsers never attach that
// header on their own.
func (a *Authn) Authenticate(next http.Handler) http.Handler {
	return a.handle(func(w http.ResponseWriter, r *http.Request) error {
		st, err := a.resolve(w, r)
		if err != nil {
			return err
		}
		if st.p.Via == ViaSession && !safeMethod(r.Method) {
			if err := a.checkCSRF(r, st.csrf); err != nil {
				return err
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, st)))
		return nil
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

func (a *Authn) resolve(w http.ResponseWriter, r *http.Request) (*authState, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		return a.resolveToken(r, h)
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, errUnauthenticated
	}
	st, err := a.resolveSession(r.Context(), secret(c.Value))
	if errors.Is(err, errUnauthenticated) {
		http.SetCookie(w, a.expiredCookie(SessionCookie, "/")) // a stale cookie: drop it
	}
	return st, err
}

func (a *Authn) resolveToken(r *http.Request, header string) (*authState, error) {
	scheme, rest, _ := strings.Cut(header, " ")
	tok := secret(strings.TrimSpace(rest))
	if !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(string(tok), APITokenPrefix) ||
		!validRandom(strings.TrimPrefix(string(tok), APITokenPrefix)) {
		return nil, errUnauthenticated
	}
	ctx, now := r.Context(), a.now()
	t, err := a.cfg.Store.GetAPITokenByHash(ctx, tok.hash(), now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("looking up API token: %w", err)
	}
	if now.Sub(t.LastUsedAt) >= touchEvery {
		if err := a.cfg.Store.TouchAPIToken(ctx, t.ID, now); err != nil {
			a.log.WarnContext(ctx, "recording API token use", slog.String("token_id", t.ID), slog.Any("err", err))
		}
	}
	return &authState{p: Principal{UserID: t.UserID, OrgID: t.OrgID, Via: ViaToken, TokenID: t.ID}}, nil
}

func (a *Authn) resolveSession(ctx context.Context, tok secret) (*authState, error) {
	if !validRandom(string(tok)) {
		return nil, errUnauthenticated
	}
	now := a.now()
	ses, err := a.cfg.Store.GetSessionByHash(ctx, tok.hash(), now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("looking up session: %w", err)
	}
	u, err := a.cfg.Store.GetUser(ctx, ses.UserID)
	if errors.Is(err, store.ErrNotFound) || err == nil && u.Disabled {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("looking up user of session %s: %w", ses.ID, err)
	}
	orgID, err := a.currentOrg(ctx, ses)
	if err != nil {
		return nil, err
	}
	if now.Sub(ses.LastSeenAt) >= touchEvery {
		if err := a.cfg.Store.TouchSession(ctx, ses.ID, now); err != nil {
			a.log.WarnContext(ctx, "recording session use", slog.String("session_id", ses.ID), slog.Any("err", err))
		}
	}
	p := Principal{UserID: u.ID, OrgID: orgID, PlatformAdmin: u.PlatformAdmin, Via: ViaSession, SessionID: ses.ID}
	return &authState{p: p, csrf: secret(ses.CSRFToken)}, nil
}

// currentOrg returns the session's org if the user is still a member of it.
func (a *Authn) currentOrg(ctx context.Context, ses store.Session) (string, error) {
	if ses.OrgID == "" {
		return "", nil
	}
	_, err := a.cfg.Store.GetMembership(ctx, ses.OrgID, ses.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("checking membership of session %s: %w", ses.ID, err)
	}
	return ses.OrgID, nil
}

func (a *Authn) checkCSRF(r *http.Request, want secret) error {
	got := r.Header.Get(CSRFHeader)
	if want == "" || !constantEqual(got, string(want)) {
		return errCSRFToken
	}
	if !a.sameOrigin(r) {
		return errOrigin
	}
	return nil
}

// sameOrigin checks the Origin header or, when a browser sent none, the
// Referer's origin. A request with neither is refused.
func (a *Authn) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		return a.originMatches(o)
	}
	ref := r.Header.Get("Referer")
	if ref == "" {
		return false
	}
	u, err := url.Parse(ref)
	if err != nil || u.Host == "" {
		return false
	}
	return originOf(u) == a.origin
}

// CheckOrigin reports whether the request's Origin header is exactly the
// public URL's origin (scheme, host and port; default ports may be
// omitted). Use it on WebSocket upgrades authenticated by the session
// cookie: browsers send Origin on every WebSocket handshake, and a
// cross-site page must not ride the cookie. It is false when Origin is
// absent, which only non-browser clients do; those authenticate with API
// tokens.
func (a *Authn) CheckOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	return o != "" && a.originMatches(o)
}

func (a *Authn) originMatches(o string) bool {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.Path != "" || u.User != nil || u.RawQuery != "" {
		return false
	}
	return originOf(u) == a.origin
}

func constantEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// RevokeUserSessions ends every browser session of the user (log out
// everywhere) and returns how many it ended. It takes effect at each
// session's next request.
func (a *Authn) RevokeUserSessions(ctx context.Context, userID string) (int, error) {
	n, err := a.cfg.Store.RevokeUserSessions(ctx, userID)
	if err != nil {
		return 0, err
	}
	a.log.InfoContext(ctx, "sessions revoked", slog.String("user_id", userID), slog.Int("count", n))
	return n, nil
}

// newSession stores a session for the user in orgID and returns its
// secret, the cookie's value.
func (a *Authn) newSession(ctx context.Context, r *http.Request, userID, orgID string) (secret, store.Session, error) {
	tok := newSecret()
	now := a.now()
	ses, err := a.cfg.Store.CreateSession(ctx, store.Session{
		TokenHash: tok.hash(),
		UserID:    userID,
		OrgID:     orgID,
		CSRFToken: string(newSecret()),
		CreatedAt: now,
		ExpiresAt: now.Add(a.cfg.SessionTTL),
		SourceIP:  remoteIP(r),
		UserAgent: r.UserAgent(),
	})
	if err != nil {
		return "", store.Session{}, fmt.Errorf("creating session: %w", err)
	}
	return tok, ses, nil
}

// remoteIP is the peer's address. Forwarding headers are not trusted.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// cookie returns an HttpOnly, SameSite=Lax cookie that is Secure unless the
// public URL is plain http on loopback. Lax (not Strict) because the OIDC
// callback arrives as a top-level navigation from the IdP's site and must
// carry the login-binding cookie, and a link into the console from another
// site should land signed in.
func (a *Authn) cookie(name, value, path string, maxAge time.Duration) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		MaxAge:   int(maxAge / time.Second),
		HttpOnly: true,
		Secure:   a.secure,
		SameSite: http.SameSiteLaxMode,
	}
}

func (a *Authn) expiredCookie(name, path string) *http.Cookie {
	c := a.cookie(name, "", path, 0)
	c.MaxAge = -1
	return c
}
