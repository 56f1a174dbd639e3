package auth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// signingAlgs are the only ID-token algorithms accepted, whatever a provider
// advertises. "none" and every HMAC algorithm are absent on purpose.
var signingAlgs = []string{oidc.RS256, oidc.ES256, oidc.EdDSA}

// idClaims are the claims checked beyond what go-oidc verifies.
type idClaims struct {
	Email         string          `json:"email"`
	EmailVerified json.RawMessage `json:"email_verified"`
	Name          string          `json:"name"`
	AZP           string          `json:"azp"`
	NotBefore     *float64        `json:"nbf"`
	IssuedAt      *float64        `json:"iat"`
}

// verify checks the raw ID token for the pending login pl. go-oidc checks the
// signature and algorithm, iss, aud and exp; the rest (nonce, azp, nbf and
// iat with our own leeway, email_verified, the email's domain) is checked
// here because go-oidc leaves it to the caller.
func (rp *RelyingParty) verify(ctx context.Context, p *oidc.Provider, pl pendingLogin, raw string) (Identity, error) {
	v := p.Verifier(&oidc.Config{ClientID: pl.idp.ClientID, SupportedSigningAlgs: signingAlgs, Now: rp.cfg.Now})
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return Identity{}, rp.classify(ctx, p, pl.idp, raw, err)
	}
	var c idClaims
	if err := tok.Claims(&c); err != nil {
		return Identity{}, refuseErr(ReasonMalformedToken, err)
	}
	if err := rp.checkClaims(tok, c, pl); err != nil {
		return Identity{}, err
	}
	email, err := normalizeEmail(c.Email)
	if err != nil {
		return Identity{}, refuse(ReasonInvalidEmail, "email claim %q: %v", c.Email, err)
	}
	domain, _ := DomainOf(email)
	if !pl.idp.allows(domain) {
		return Identity{}, refuse(ReasonDomainNotAllowed, "domain %q is not among the IdP's domains", domain)
	}
	groups, err := groupsOf(tok, pl.idp.GroupClaim)
	if err != nil {
		return Identity{}, refuseErr(ReasonMalformedToken, err)
	}
	return Identity{
		Issuer:  tok.Issuer,
		Subject: tok.Subject,
		Email:   email,
		Name:    c.Name,
		Groups:  groups,
		OrgID:   pl.idp.OrgID,
	}, nil
}

func (rp *RelyingParty) checkClaims(tok *oidc.IDToken, c idClaims, pl pendingLogin) error {
	if tok.Subject == "" {
		return refuse(ReasonMalformedToken, "no sub claim")
	}
	if subtle.ConstantTimeCompare([]byte(tok.Nonce), []byte(pl.nonce)) != 1 {
		return refuse(ReasonNonceMismatch, "nonce does not match the login's")
	}
	if len(tok.Audience) > 1 && c.AZP == "" {
		return refuse(ReasonAZPMismatch, "several audiences %q and no azp", tok.Audience)
	}
	if c.AZP != "" && c.AZP != pl.idp.ClientID {
		return refuse(ReasonAZPMismatch, "azp %q is not our client id", c.AZP)
	}
	latest := rp.cfg.Now().Add(Leeway)
	if c.NotBefore != nil && unixTime(*c.NotBefore).After(latest) {
		return refuse(ReasonNotYetValid, "nbf %v is beyond the leeway", unixTime(*c.NotBefore))
	}
	if c.IssuedAt != nil && unixTime(*c.IssuedAt).After(latest) {
		return refuse(ReasonNotYetValid, "iat %v is in the future", unixTime(*c.IssuedAt))
	}
	if !emailVerified(c.EmailVerified) {
		return refuse(ReasonEmailNotVerified, "email_verified is %s", orMissing(c.EmailVerified))
	}
	return nil
}

// classify explains why go-oidc refused raw. The token is already refused;
// this only picks the reason.
func (rp *RelyingParty) classify(ctx context.Context, p *oidc.Provider, idp IdPConfig, raw string, verr error) *Error {
	alg, err := headerAlg(raw)
	if err != nil {
		return refuseErr(ReasonMalformedToken, errors.Join(verr, err))
	}
	if !slices.Contains(signingAlgs, alg) {
		return refuse(ReasonUnsupportedAlg, "alg %q: %v", alg, verr)
	}
	// A verifier that checks the signature only. Its answer is used to name
	// the failed claim check and never to accept a token.
	sigOnly := p.Verifier(&oidc.Config{
		SkipClientIDCheck:    true,
		SkipExpiryCheck:      true,
		SkipIssuerCheck:      true,
		SupportedSigningAlgs: signingAlgs,
	})
	tok, err := sigOnly.Verify(ctx, raw)
	if err != nil {
		return refuseErr(ReasonBadSignature, verr)
	}
	var c idClaims
	_ = tok.Claims(&c)
	var expired *oidc.TokenExpiredError
	switch {
	case tok.Issuer != idp.Issuer:
		return refuseErr(ReasonWrongIssuer, verr)
	case !slices.Contains(tok.Audience, idp.ClientID):
		return refuseErr(ReasonWrongAudience, verr)
	case errors.As(verr, &expired):
		return refuseErr(ReasonExpired, verr)
	case c.NotBefore != nil:
		return refuseErr(ReasonNotYetValid, verr)
	}
	return refuseErr(ReasonMalformedToken, verr)
}

// headerAlg returns the alg of a compact JWS without trusting anything else.
func headerAlg(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("compact JWS has %d parts, want 3", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return "", fmt.Errorf("decoding JOSE header: %w", err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return "", fmt.Errorf("parsing JOSE header: %w", err)
	}
	return h.Alg, nil
}

// emailVerified accepts the boolean true and, because several large IdPs send
// it that way, the string "true". Anything else, including absence, is false.
func emailVerified(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return bytes.Equal(raw, []byte("true")) || bytes.Equal(raw, []byte(`"true"`))
}

func orMissing(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "missing"
	}
	return string(raw)
}

func unixTime(f float64) time.Time {
	const bound = 1e15 // seconds; far beyond any real date, well inside int64
	switch {
	case math.IsNaN(f), f > bound:
		return time.Unix(bound, 0)
	case f < -bound:
		return time.Unix(-bound, 0)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// groupsOf reads the group claim: an array of strings or a single string.
func groupsOf(tok *oidc.IDToken, claim string) ([]string, error) {
	if claim == "" {
		return nil, nil
	}
	var all map[string]json.RawMessage
	if err := tok.Claims(&all); err != nil {
		return nil, err
	}
	raw, ok := all[claim]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, fmt.Errorf("group claim %q is neither a string nor a list of strings", claim)
	}
	return []string{one}, nil
}
