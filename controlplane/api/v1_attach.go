package api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/coder/websocket"

	"github.com/warrenhq/warren/controlplane/broker"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/web"
	"github.com/warrenhq/warren/protocols/stream"
)

// serveAttach serves the attach WebSocket: authenticated by its single-use
// ticket, so it sits outside Authn.Authenticate (a browser cannot set
// headers on a WebSocket). A request that also carries an API token or a
// session cookie is held to it: the token must be of the path's
// organization, its user a member and the ticket's owner.
func (v *V1) serveAttach(rt *route) http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if err := v.attach(w, r); err != nil {
			writeError(v.log(), w, r, err)
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie(web.SessionCookie); r.Header.Get("Authorization") != "" || err == nil {
			v.Authn.Authenticate(h).ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// attach answers with an error only before the upgrade; afterwards the
// stream carries everything.
func (v *V1) attach(w http.ResponseWriter, r *http.Request) error {
	if v.Broker == nil {
		return &Error{http.StatusServiceUnavailable, "sessions_unavailable", "this engine serves no sessions"}
	}
	if r.Header.Get("Origin") != "" && !v.Authn.CheckOrigin(r) {
		return &Error{http.StatusForbidden, "bad_origin", "the request's Origin is not this engine's"}
	}
	ctx := r.Context()
	org, err := v.Store.GetOrg(ctx, r.PathValue("org"))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("org")
	}
	if err != nil {
		return err
	}
	userID := ""
	if p, ok := web.PrincipalFrom(ctx); ok {
		if p.Via == web.ViaToken && p.OrgID != org.ID {
			return notFound("org")
		}
		if _, err := v.Store.GetMembership(ctx, org.ID, p.UserID); err != nil && !p.PlatformAdmin {
			return notFoundAs(err, "org")
		}
		userID = p.UserID
	}
	q := r.URL.Query()
	var opts broker.AttachOptions
	if s := q.Get("offset"); s != "" {
		if opts.Offset, err = strconv.ParseUint(s, 10, 64); err != nil {
			return badRequest("invalid_field", "offset: must be a non-negative integer")
		}
		opts.Resume = true
	}
	switch q.Get("takeover") {
	case "", "0", "false":
	case "1", "true":
		opts.Takeover = true
	default:
		return badRequest("invalid_field", "takeover: must be 1 or 0")
	}
	att, err := v.Broker.Redeem(ctx, org, r.PathValue("session"), q.Get("ticket"), userID, remoteIP(r))
	if err != nil {
		return brokerError(err)
	}
	var acceptErr error
	accepted := false
	err = v.Broker.Attach(ctx, att, opts, func() (stream.Conn, error) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: v.originPatterns()})
		if err != nil {
			acceptErr = err // Accept has answered the request
			return nil, err
		}
		accepted = true
		return stream.WebSocketConn(c), nil
	})
	switch {
	case err == nil:
		return nil
	case accepted:
		v.log().Info("attach ended with an error", "session_id", att.Session.ID, "err", err)
		return nil
	case acceptErr != nil:
		v.log().Info("websocket upgrade refused", "session_id", att.Session.ID, "err", acceptErr)
		return nil
	}
	return brokerError(err)
}

// brokerError is the envelope of a broker refusal.
func brokerError(err error) error {
	var be *broker.Error
	if errors.As(err, &be) {
		return &Error{be.Status, be.Code, be.Message}
	}
	return err
}

// originPatterns are the hosts a browser's WebSocket may come from: the
// public URL's (a missing Origin, as from the CLI, is accepted too).
func (v *V1) originPatterns() []string {
	u, err := url.Parse(v.PublicURL)
	if err != nil || u.Host == "" {
		return nil
	}
	return []string{u.Host}
}
