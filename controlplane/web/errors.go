package web

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/warrenhq/warren/controlplane/auth"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/wire"
)

// MaxBodyBytes bounds every request body this package reads.
const MaxBodyBytes = 1 << 20

// httpError is an error with the status and the client-safe code and message
// of its envelope. Err is the internal cause, for the log only.
type httpError struct {
	Status  int
	Code    string
	Message string
	Err     error
}

func (e *httpError) Error() string {
	if e.Err == nil {
		return e.Code + ": " + e.Message
	}
	return e.Code + ": " + e.Message + ": " + e.Err.Error()
}

func (e *httpError) Unwrap() error { return e.Err }

var (
	errUnauthenticated = &httpError{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "sign in or present a valid API token"}
	errCSRFToken       = &httpError{Status: http.StatusForbidden, Code: "csrf_token_invalid", Message: "missing or wrong " + CSRFHeader + " header"}
	errOrigin          = &httpError{Status: http.StatusForbidden, Code: "origin_mismatch", Message: "the request's Origin or Referer is not this server"}
	errLoginBinding    = &httpError{Status: http.StatusForbidden, Code: "login_not_bound", Message: "this sign-in was not started in this browser; start again"}
	errNotSession      = &httpError{Status: http.StatusBadRequest, Code: "session_required", Message: "only a browser session can do this"}
	errMalformedJSON   = errors.New("malformed JSON body")
)

// handlerFunc is an http handler that returns its error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle turns h into an http.Handler that answers errors with the API
// error envelope and logs their internal cause under the same trace id.
func (a *Authn) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

func (a *Authn) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	traceID := newTraceID()
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	a.log.Log(r.Context(), level, "request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", e.Status), slog.String("code", e.Code), slog.String("trace_id", traceID), slog.Any("err", err))
	writeJSON(w, e.Status, wire.ErrorBody{Error: wire.ErrorDetail{Code: e.Code, Message: e.Message, TraceID: traceID}})
}

// classify maps err to what the client may see.
func classify(err error) *httpError {
	var (
		he     *httpError
		tooBig *http.MaxBytesError
		inv    *store.InvalidError
	)
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &tooBig):
		return &httpError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Message: "the request body is too large"}
	case errors.Is(err, errMalformedJSON):
		return &httpError{Status: http.StatusBadRequest, Code: "malformed_json", Message: "the request body is not valid JSON of the expected shape"}
	case auth.ReasonOf(err) != "":
		return refusal(auth.ReasonOf(err))
	case errors.As(err, &inv):
		return &httpError{Status: http.StatusBadRequest, Code: "invalid_field", Message: inv.Field + ": " + inv.Reason}
	case errors.Is(err, store.ErrNotFound): // deleted while the request ran
		return &httpError{Status: http.StatusNotFound, Code: "not_found", Message: "object not found"}
	}
	return &httpError{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error; the engine log has the details under this trace id"}
}

// refusal is the envelope of a refused login: the reason is the code.
func refusal(r auth.Reason) *httpError {
	e := &httpError{Status: http.StatusUnauthorized, Code: string(r), Message: "sign-in refused (" + string(r) + "); start again"}
	switch r {
	case auth.ReasonInvalidEmail:
		e.Status, e.Message = http.StatusBadRequest, "not a valid email address"
	case auth.ReasonNoIdPForDomain:
		e.Status, e.Message = http.StatusBadRequest, "no identity provider is configured for this email domain"
	case auth.ReasonUnknownState:
		e.Status, e.Message = http.StatusBadRequest, "this sign-in expired or was already used; start again"
	case auth.ReasonProviderUnavailable:
		e.Status, e.Message = http.StatusBadGateway, "the identity provider cannot be reached"
	case auth.ReasonTooManyLogins:
		e.Status, e.Message = http.StatusServiceUnavailable, "too many sign-ins in progress; try again in a minute"
	case auth.ReasonEmailNotVerified:
		e.Message = "the identity provider has not verified this email address"
	case auth.ReasonDomainNotAllowed:
		e.Message = "the identity provider vouched for an email outside its domains"
	}
	return e
}

func newTraceID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decodeJSON decodes exactly one JSON value of at most MaxBodyBytes from the
// request body into v, rejecting unknown fields and trailing data.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errMalformedJSON, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data", errMalformedJSON)
	}
	return nil
}
