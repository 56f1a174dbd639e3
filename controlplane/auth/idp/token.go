package idp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

const maxTokenRequestBytes = 64 << 10

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	IDToken     string `json:"id_token"`
	Scope       string `json:"scope,omitempty"`
}

type idTokenClaims struct {
	jwt.Claims
	AZP           string `json:"azp"`
	Nonce         string `json:"nonce,omitempty"`
	AuthTime      int64  `json:"auth_time"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name,omitempty"`
}

// serveToken redeems an authorization code for an ID token. The code is
// consumed by the first request that presents it with valid client
// credentials, whether or not the rest of the request checks out.
func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequestBytes)
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
		return
	}
	form := r.PostForm
	client, status, code := p.authenticateClient(r)
	if code != "" {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="warren-idp"`)
		}
		tokenError(w, status, code, "client authentication failed")
		return
	}
	if form.Get("grant_type") != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code is supported")
		return
	}
	now := p.cfg.Now()
	ac, ok := p.codes.take(form.Get("code"), now)
	switch {
	case !ok:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code is unknown, expired or already used")
		return
	case ac.clientID != client.ID:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code was issued to another client")
		return
	case form.Get("redirect_uri") != ac.redirectURI:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorization request")
		return
	case !pkceMatches(form.Get("code_verifier"), ac.challenge):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
		return
	}
	idToken, err := p.signIDToken(ac, now)
	if err != nil {
		p.cfg.Logger.ErrorContext(r.Context(), "idp signing ID token", slog.Any("error", err))
		tokenError(w, http.StatusInternalServerError, "server_error", "cannot sign the ID token")
		return
	}
	body, _ := json.Marshal(tokenResponse{
		// Nothing accepts this token; OAuth 2.0 clients require one.
		AccessToken: randomToken(),
		TokenType:   "Bearer",
		ExpiresIn:   int(IDTokenTTL / time.Second),
		IDToken:     idToken,
		Scope:       ac.scope,
	})
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, body, "no-store")
}

// authenticateClient accepts client_secret_basic or client_secret_post (not
// both). On failure it returns the HTTP status and OAuth error code.
func (p *Provider) authenticateClient(r *http.Request) (Client, int, string) {
	form := r.PostForm
	id, secret, basic := r.BasicAuth()
	if basic {
		if form.Has("client_secret") {
			return Client{}, http.StatusBadRequest, "invalid_request"
		}
		// RFC 6749 §2.3.1: both parts are form-urlencoded inside Basic.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || (form.Has("client_id") && form.Get("client_id") != id) {
			return Client{}, http.StatusUnauthorized, "invalid_client"
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	c, known := p.clients[id]
	want := c.Secret
	if !known {
		want = p.dummyHash // compare against something so unknown ids cost the same
	}
	if !secretsEqual(secret, want) || !known {
		return Client{}, http.StatusUnauthorized, "invalid_client"
	}
	return c, 0, ""
}

// secretsEqual compares in constant time, including for different lengths.
func secretsEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// validPKCE reports whether s is 43 to 128 characters of the RFC 7636
// unreserved set (a verifier, or an S256 challenge, which is 43).
func validPKCE(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

func pkceMatches(verifier, challenge string) bool {
	if !validPKCE(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

func (p *Provider) signIDToken(ac authCode, now time.Time) (string, error) {
	c := idTokenClaims{
		Claims: jwt.Claims{
			Issuer:   p.issuer,
			Subject:  ac.user.ID,
			Audience: jwt.Audience{ac.clientID},
			Expiry:   jwt.NewNumericDate(now.Add(IDTokenTTL)),
			IssuedAt: jwt.NewNumericDate(now),
		},
		AZP:           ac.clientID,
		Nonce:         ac.nonce,
		AuthTime:      ac.authTime.Unix(),
		Email:         ac.user.Email,
		EmailVerified: true,
		Name:          ac.user.Name,
	}
	return jwt.Signed(p.signer).Claims(c).Serialize()
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	body, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, status, body, "no-store")
}
