package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/warrenhq/warren/controlplane/auth"
	"github.com/warrenhq/warren/controlplane/auth/idp"
	"github.com/warrenhq/warren/controlplane/store"
)

// SetupTTL is how long a setup link stays valid.
const SetupTTL = time.Hour

// Password bounds for local accounts.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 1024
)

var (
	// ErrSetupDone: a platform admin exists, so no setup link is made.
	ErrSetupDone = errors.New("setup is complete: a platform admin exists")
	// ErrBuiltinDisabled: the built-in IdP, which setup creates an account
	// of, is disabled.
	ErrBuiltinDisabled = errors.New("the built-in IdP is disabled")
)

// SetupLink returns a one-time link (valid SetupTTL) that creates the first
// platform admin as an account of the built-in IdP, or ErrSetupDone when a
// platform admin exists. Only the link's hash is stored. Each call makes a
// new link; the engine calls it at start and shows the link to the
// operator, who holds the only copy. The link is a credential: show it,
// don't ship it to log collectors.
func (a *Authn) SetupLink(ctx context.Context) (string, error) {
	if a.idp == nil {
		return "", ErrBuiltinDisabled
	}
	n, err := a.cfg.Store.CountPlatformAdmins(ctx)
	if err != nil {
		return "", err
	}
	if n > 0 {
		return "", ErrSetupDone
	}
	tok := newSecret()
	if err := a.cfg.Store.CreateSetupToken(ctx, tok.hash(), a.now().Add(SetupTTL)); err != nil {
		return "", err
	}
	return a.origin + SetupPath + "?token=" + string(tok), nil
}

var setupTemplate = template.Must(template.New("setup").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Set up · Warren</title>
<style>
body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15);width:22rem}
label{display:block;margin:.75rem 0 .25rem}
input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{margin-top:1.25rem;width:100%;padding:.6rem;font-size:1rem}
.error{color:#b00020}
</style>
</head>
<body>
<main>
<h1>Create the first administrator</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if .Done}}<p>Platform administrator <strong>{{.Email}}</strong> created. <a href="/">Sign in</a> with this email and password.</p>{{end}}
{{if .Token}}<p>This account signs in with the engine's built-in identity provider and administers the whole platform.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
<label for="email">Email</label>
<input id="email" type="email" name="email" value="{{.Email}}" autocomplete="username" required autofocus>
<label for="password">Password (at least {{.MinLen}} characters)</label>
<input id="password" type="password" name="password" minlength="{{.MinLen}}" autocomplete="new-password" required>
<label for="password_confirm">Repeat the password</label>
<input id="password_confirm" type="password" name="password_confirm" minlength="{{.MinLen}}" autocomplete="new-password" required>
<button type="submit">Create administrator</button>
</form>{{end}}
</main>
</body>
</html>
`))

type setupPage struct {
	Action string
	Token  string // the setup token; empty renders no form
	Email  string
	Error  string
	Done   bool
	MinLen int
}

var setupFields = map[string]bool{"token": true, "email": true, "password": true, "password_confirm": true}

func (a *Authn) serveSetupForm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if done, err := a.setupDone(ctx); err != nil || done {
		a.setupFailed(w, r, err, http.StatusGone, "Setup is already complete. Sign in instead.")
		return
	}
	tok := r.URL.Query().Get("token")
	if !validRandom(tok) {
		a.renderSetup(w, http.StatusBadRequest, setupPage{Error: "This setup link is not valid. Restart the engine for a new one."})
		return
	}
	a.renderSetup(w, http.StatusOK, setupPage{Token: tok})
}

// serveSetup creates the first platform admin. The setup token is consumed
// atomically before anything is written, so of any number of concurrent
// posts with one link exactly one creates an admin.
func (a *Authn) serveSetup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	page, status := a.parseSetup(w, r)
	if status != http.StatusOK {
		a.renderSetup(w, status, page)
		return
	}
	pw := secret(r.PostForm.Get("password"))
	if done, err := a.setupDone(ctx); err != nil || done {
		a.setupFailed(w, r, err, http.StatusGone, "Setup is already complete. Sign in instead.")
		return
	}
	switch _, err := a.cfg.Store.GetLocalUserByEmail(ctx, page.Email); {
	case err == nil:
		page.Error = "A local account with this email already exists."
		a.renderSetup(w, http.StatusConflict, page)
		return
	case !errors.Is(err, store.ErrNotFound):
		a.setupFailed(w, r, err, 0, "")
		return
	}
	err := a.cfg.Store.ConsumeSetupToken(ctx, secret(page.Token).hash(), a.now())
	if errors.Is(err, store.ErrNotFound) {
		a.renderSetup(w, http.StatusForbidden, setupPage{Error: "This setup link is expired or was already used. Restart the engine for a new one."})
		return
	}
	if err != nil {
		a.setupFailed(w, r, err, 0, "")
		return
	}
	u, err := a.createAdmin(ctx, page.Email, pw)
	if err != nil {
		a.setupFailed(w, r, err, 0, "")
		return
	}
	a.log.InfoContext(ctx, "first platform admin created", slog.String("user_id", u.ID))
	if a.cfg.FirstAdmin != nil {
		if err := a.cfg.FirstAdmin(ctx, u); err != nil {
			a.log.ErrorContext(ctx, "preparing the first admin's organization", slog.String("user_id", u.ID), slog.Any("err", err))
		}
	}
	a.renderSetup(w, http.StatusOK, setupPage{Done: true, Email: page.Email})
}

// parseSetup validates the posted form. A status other than 200 comes with
// the page that explains the problem.
func (a *Authn) parseSetup(w http.ResponseWriter, r *http.Request) (setupPage, int) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return setupPage{Error: "The form is too large."}, http.StatusRequestEntityTooLarge
		}
		return setupPage{Error: "Invalid form."}, http.StatusBadRequest
	}
	for k, v := range r.PostForm {
		if !setupFields[k] || len(v) != 1 {
			return setupPage{Error: "Invalid form."}, http.StatusBadRequest
		}
	}
	f := r.PostForm
	tok := f.Get("token")
	if !validRandom(tok) {
		return setupPage{Error: "This setup link is not valid. Restart the engine for a new one."}, http.StatusBadRequest
	}
	page := setupPage{Token: tok, Email: strings.ToLower(strings.TrimSpace(f.Get("email")))}
	pw := f.Get("password")
	switch _, err := auth.DomainOf(page.Email); {
	case err != nil:
		page.Error = "Enter a valid email address."
	case len([]rune(pw)) < MinPasswordLen || len(pw) > MaxPasswordLen:
		page.Error = fmt.Sprintf("The password must be %d to %d characters long.", MinPasswordLen, MaxPasswordLen)
	case pw != f.Get("password_confirm"):
		page.Error = "The passwords do not match."
	default:
		return page, http.StatusOK
	}
	return page, http.StatusBadRequest
}

func (a *Authn) setupDone(ctx context.Context) (bool, error) {
	n, err := a.cfg.Store.CountPlatformAdmins(ctx)
	return n > 0, err
}

// createAdmin creates the local account and its user, a platform admin,
// whose identity is (built-in issuer, local account id) like any login
// through the built-in IdP.
func (a *Authn) createAdmin(ctx context.Context, email string, pw secret) (store.User, error) {
	hash, err := idp.HashPassword(string(pw))
	if err != nil {
		return store.User{}, fmt.Errorf("hashing password: %w", err)
	}
	lu, err := a.cfg.Store.CreateLocalUser(ctx, store.LocalUser{Email: email, PasswordHash: hash})
	if err != nil {
		return store.User{}, err
	}
	u, _, err := a.cfg.Store.UpsertUserIdentity(ctx, a.idp.Issuer(), lu.ID, lu.Email, "")
	if err != nil {
		return store.User{}, err
	}
	if err := a.cfg.Store.SetPlatformAdmin(ctx, u.ID, true); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// setupFailed renders msg with status, or, for an internal error (err not
// nil), a 500 page naming the trace id under which err is logged.
func (a *Authn) setupFailed(w http.ResponseWriter, r *http.Request, err error, status int, msg string) {
	if err == nil {
		a.renderSetup(w, status, setupPage{Error: msg})
		return
	}
	traceID := newTraceID()
	a.log.ErrorContext(r.Context(), "setup failed", slog.String("trace_id", traceID), slog.Any("err", err))
	a.renderSetup(w, http.StatusInternalServerError, setupPage{Error: "Setup failed; the engine log has the details under trace id " + traceID + "."})
}

func (a *Authn) renderSetup(w http.ResponseWriter, status int, page setupPage) {
	page.Action, page.MinLen = SetupPath, MinPasswordLen
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	if err := setupTemplate.Execute(w, page); err != nil {
		a.log.Warn("rendering setup page", slog.Any("err", err))
	}
}
