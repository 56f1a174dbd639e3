package idp

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

const (
	csrfCookie   = "warren_idp_csrf"
	maxParamLen  = 512 // state, nonce
	maxFormBytes = 16 << 10
	formAAD      = "warren idp authorize v1"
)

// authRequest is a validated authorization request. It travels through the
// login form sealed with AES-GCM under a per-process key, so the browser can
// neither read nor alter it, and it is bound to the browser by CSRF.
type authRequest struct {
	ClientID    string `json:"client_id"`
	RedirectURI string `json:"redirect_uri"`
	State       string `json:"state,omitempty"`
	Nonce       string `json:"nonce,omitempty"`
	Challenge   string `json:"code_challenge"`
	Scope       string `json:"scope"`
	CSRF        string `json:"csrf"`    // the csrf cookie's value
	Expires     int64  `json:"expires"` // unix seconds
}

var loginTemplate = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Warren</title>
<style>
body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15);width:20rem}
label{display:block;margin:.75rem 0 .25rem}
input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{margin-top:1.25rem;width:100%;padding:.6rem;font-size:1rem}
.error{color:#b00020}
</style>
</head>
<body>
<main>
<h1>Sign in</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if .Request}}<form method="post" action="{{.Action}}">
<input type="hidden" name="request" value="{{.Request}}">
<label for="email">Email</label>
<input id="email" type="email" name="email" value="{{.Email}}" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" type="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>{{end}}
</main>
</body>
</html>
`))

type loginPage struct {
	Action  string
	Request string // sealed authRequest; empty renders an error-only page
	Email   string
	Error   string
}

// serveAuthorize validates an authorization request and shows the login form.
func (p *Provider) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method"} {
		if len(q[k]) > 1 {
			p.renderPage(w, http.StatusBadRequest, loginPage{Error: "Invalid sign-in request: repeated parameter " + k + "."})
			return
		}
	}
	c, ok := p.clients[q.Get("client_id")]
	if !ok {
		p.renderPage(w, http.StatusBadRequest, loginPage{Error: "Invalid sign-in request: unknown client."})
		return
	}
	redirectURI := q.Get("redirect_uri")
	if !slices.Contains(c.RedirectURIs, redirectURI) {
		// Never redirect to an unregistered URI, not even with an error.
		p.renderPage(w, http.StatusBadRequest, loginPage{Error: "Invalid sign-in request: unregistered redirect URI."})
		return
	}
	ar, code, desc := parseAuthRequest(q)
	if code != "" {
		http.Redirect(w, r, p.redirectURL(redirectURI, url.Values{
			"error": {code}, "error_description": {desc}, "state": {q.Get("state")},
		}), http.StatusSeeOther)
		return
	}
	ar.ClientID, ar.RedirectURI = c.ID, redirectURI
	ar.CSRF = p.csrfToken(w, r)
	ar.Expires = p.cfg.Now().Add(FormTTL).Unix()
	hint := q.Get("login_hint")
	if len(hint) > 254 {
		hint = ""
	}
	p.renderPage(w, http.StatusOK, loginPage{Request: p.seal(ar), Email: hint})
}

// parseAuthRequest checks the parameters that are reported back to the
// client (the client and redirect URI are already trusted). It returns an
// OAuth error code and description when the request is refused.
func parseAuthRequest(q url.Values) (authRequest, string, string) {
	if q.Get("response_type") != "code" {
		return authRequest{}, "unsupported_response_type", "only response_type=code is supported"
	}
	scopes := strings.Fields(q.Get("scope"))
	if !slices.Contains(scopes, "openid") {
		return authRequest{}, "invalid_scope", "scope must include openid"
	}
	if q.Has("request") || q.Has("request_uri") {
		return authRequest{}, "request_not_supported", "request objects are not supported"
	}
	if slices.Contains(strings.Fields(q.Get("prompt")), "none") {
		return authRequest{}, "login_required", "no session for prompt=none"
	}
	if q.Get("code_challenge_method") != "S256" || !validPKCE(q.Get("code_challenge")) {
		return authRequest{}, "invalid_request", "PKCE with code_challenge_method=S256 is required"
	}
	if len(q.Get("state")) > maxParamLen || len(q.Get("nonce")) > maxParamLen {
		return authRequest{}, "invalid_request", "state or nonce too long"
	}
	return authRequest{
		State:     q.Get("state"),
		Nonce:     q.Get("nonce"),
		Challenge: q.Get("code_challenge"),
		Scope:     strings.Join(scopes, " "),
	}, "", ""
}

// serveLogin checks the posted credentials and, on success, redirects to the
// client with a fresh authorization code.
func (p *Provider) serveLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.renderPage(w, http.StatusBadRequest, loginPage{Error: "Invalid form."})
		return
	}
	sealed := r.PostForm.Get("request")
	ar, err := p.open(sealed)
	if err != nil {
		p.renderPage(w, http.StatusBadRequest, loginPage{Error: "This sign-in form has expired. Go back to the application and start again."})
		return
	}
	if !p.csrfMatches(r, ar.CSRF) {
		p.renderPage(w, http.StatusForbidden, loginPage{Error: "This sign-in form was not opened in this browser. Go back to the application and start again."})
		return
	}
	email := strings.ToLower(strings.TrimSpace(r.PostForm.Get("email")))
	user, err := p.authenticate(r, email, r.PostForm.Get("password"))
	if errors.Is(err, errBadCredentials) {
		p.cfg.Logger.InfoContext(r.Context(), "idp login failed", slog.String("client_id", ar.ClientID))
		p.renderPage(w, http.StatusUnauthorized, loginPage{Request: sealed, Email: email, Error: "Invalid email or password."})
		return
	}
	if err != nil {
		p.cfg.Logger.ErrorContext(r.Context(), "idp login", slog.Any("error", err))
		p.renderPage(w, http.StatusInternalServerError, loginPage{Error: "Sign-in is unavailable. Try again later."})
		return
	}
	p.issueCode(w, r, ar, user)
}

func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, ar authRequest, user LocalUser) {
	now := p.cfg.Now()
	code := randomToken()
	ok := p.codes.put(code, authCode{
		clientID:    ar.ClientID,
		redirectURI: ar.RedirectURI,
		challenge:   ar.Challenge,
		nonce:       ar.Nonce,
		scope:       ar.Scope,
		user:        user,
		authTime:    now,
		expires:     now.Add(CodeTTL),
	}, now)
	if !ok {
		p.renderPage(w, http.StatusServiceUnavailable, loginPage{Error: "Too many sign-ins in progress. Try again in a minute."})
		return
	}
	p.cfg.Logger.InfoContext(r.Context(), "idp login", slog.String("user_id", user.ID), slog.String("client_id", ar.ClientID))
	http.Redirect(w, r, p.redirectURL(ar.RedirectURI, url.Values{"code": {code}, "state": {ar.State}}), http.StatusSeeOther)
}

var errBadCredentials = errors.New("invalid email or password")

// authenticate returns the user whose email and password match. Unknown
// emails, wrong passwords and disabled users all cost one store lookup and
// one argon2id run, and all return errBadCredentials.
func (p *Provider) authenticate(r *http.Request, email, password string) (LocalUser, error) {
	ctx := r.Context()
	select {
	case p.hashSem <- struct{}{}:
		defer func() { <-p.hashSem }()
	case <-ctx.Done():
		return LocalUser{}, ctx.Err()
	}
	u, err := p.cfg.Users.LocalUserByEmail(ctx, email)
	if errors.Is(err, ErrNoUser) {
		CheckPassword(p.dummyHash, password)
		return LocalUser{}, errBadCredentials
	}
	if err != nil {
		return LocalUser{}, fmt.Errorf("looking up local user: %w", err)
	}
	if !CheckPassword(u.PasswordHash, password) || u.Disabled {
		return LocalUser{}, errBadCredentials
	}
	return u, nil
}

// redirectURL adds params (and iss, RFC 9207) to a registered redirect URI.
func (p *Provider) redirectURL(redirectURI string, params url.Values) string {
	u, _ := url.Parse(redirectURI) // validated in New
	q := u.Query()
	for k, v := range params {
		if len(v) == 1 && v[0] == "" {
			continue
		}
		q[k] = v
	}
	q.Set("iss", p.issuer)
	u.RawQuery = q.Encode()
	return u.String()
}

// csrfToken returns the browser's CSRF cookie value, minting one when there
// is none, and (re)sets the cookie so it outlives the form being shown.
// Reusing an existing value keeps several open login tabs working.
func (p *Provider) csrfToken(w http.ResponseWriter, r *http.Request) string {
	v := randomToken()
	if c, err := r.Cookie(csrfCookie); err == nil && validToken(c.Value) {
		v = c.Value
	}
	http.SetCookie(w, &http.Cookie{
		Name:     csrfCookie,
		Value:    v,
		Path:     p.prefix + "/authorize",
		MaxAge:   int(FormTTL / time.Second),
		HttpOnly: true,
		Secure:   p.secure,
		SameSite: http.SameSiteLaxMode,
	})
	return v
}

func (p *Provider) csrfMatches(r *http.Request, want string) bool {
	c, err := r.Cookie(csrfCookie)
	return err == nil && want != "" && subtle.ConstantTimeCompare([]byte(c.Value), []byte(want)) == 1
}

func validToken(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 32
}

func (p *Provider) seal(ar authRequest) string {
	plain, _ := json.Marshal(ar) // plain strings and ints: cannot fail
	nonce := make([]byte, p.forms.NonceSize())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(p.forms.Seal(nonce, nonce, plain, []byte(formAAD)))
}

func (p *Provider) open(sealed string) (authRequest, error) {
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < p.forms.NonceSize() {
		return authRequest{}, errors.New("malformed form request")
	}
	n := p.forms.NonceSize()
	plain, err := p.forms.Open(nil, b[:n], b[n:], []byte(formAAD))
	if err != nil {
		return authRequest{}, errors.New("form request not sealed by this process")
	}
	var ar authRequest
	if err := json.Unmarshal(plain, &ar); err != nil {
		return authRequest{}, fmt.Errorf("form request: %w", err)
	}
	if p.cfg.Now().Unix() >= ar.Expires {
		return authRequest{}, errors.New("form request expired")
	}
	return ar, nil
}

func (p *Provider) renderPage(w http.ResponseWriter, status int, page loginPage) {
	page.Action = p.prefix + "/authorize"
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	if err := loginTemplate.Execute(w, page); err != nil {
		p.cfg.Logger.Warn("idp rendering login page", slog.Any("error", err))
	}
}
