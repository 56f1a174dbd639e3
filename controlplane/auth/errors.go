package auth

import (
	"errors"
	"fmt"
)

// Reason is a stable, client-safe code saying why a login was refused.
// Handlers put it in the API error envelope; the wrapped cause is for logs only.
type Reason string

// Reasons returned by Begin and Finish.
const (
	ReasonInvalidEmail        Reason = "invalid_email"
	ReasonNoIdPForDomain      Reason = "no_idp_for_domain"
	ReasonProviderUnavailable Reason = "provider_unavailable"
	ReasonTooManyLogins       Reason = "too_many_pending_logins"
	ReasonUnknownState        Reason = "unknown_state"
	ReasonCodeExchangeFailed  Reason = "code_exchange_failed"
	ReasonMissingIDToken      Reason = "missing_id_token"
	ReasonMalformedToken      Reason = "malformed_token"
	ReasonUnsupportedAlg      Reason = "unsupported_alg"
	ReasonBadSignature        Reason = "bad_signature"
	ReasonWrongIssuer         Reason = "wrong_issuer"
	ReasonWrongAudience       Reason = "wrong_audience"
	ReasonAZPMismatch         Reason = "azp_mismatch"
	ReasonExpired             Reason = "expired"
	ReasonNotYetValid         Reason = "not_yet_valid"
	ReasonNonceMismatch       Reason = "nonce_mismatch"
	ReasonEmailNotVerified    Reason = "email_not_verified"
	ReasonDomainNotAllowed    Reason = "domain_not_allowed"
)

// Error is a refused login. Reason is safe to show to the user; Err is the
// internal cause and must only be logged.
type Error struct {
	Reason Reason
	Err    error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "login refused: " + string(e.Reason)
	}
	return fmt.Sprintf("login refused: %s: %v", e.Reason, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of the *Error in err's chain, or "" when err is
// not a refusal (an internal failure the caller should answer with a 5xx).
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func refuse(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Err: fmt.Errorf(format, args...)}
}

func refuseErr(r Reason, err error) *Error {
	return &Error{Reason: r, Err: err}
}
