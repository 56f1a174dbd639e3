// Package api serves the engine's HTTP surfaces: the public API (health,
// metrics, enrollment) on --listen and the admin API on the unix socket in the
// data dir, which the `warren` CLI uses. Every handler returns an error that
// one wrapper turns into the error envelope; clients never see internal error
// text, operators find it in the log under the same trace id.
package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/warrenhq/warren/controlplane/enroll"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/wire"
)

// Error is an error with an HTTP status and a stable code for clients.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf-free constructors for the common cases.
func badRequest(code, msg string) *Error { return &Error{http.StatusBadRequest, code, msg} }
func notFound(what string) *Error {
	return &Error{http.StatusNotFound, what + "_not_found", what + " not found"}
}

// handlerFunc is an http handler that returns its error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle turns a handlerFunc into an http.Handler that writes the envelope.
func handle(log *slog.Logger, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(log, w, r, err)
		}
	})
}

// writeError answers err with the envelope and logs its internal cause
// under the envelope's trace id.
func writeError(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	traceID := newTraceID()
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	log.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path,
		"status", e.Status, "code", e.Code, "trace_id", traceID, "err", err)
	writeJSON(w, e.Status, wire.ErrorBody{Error: wire.ErrorDetail{Code: e.Code, Message: e.Message, TraceID: traceID}})
}

// classify maps an error to what the client may see.
func classify(err error) *Error {
	var (
		apiErr  *Error
		enrErr  *enroll.Error
		field   *wire.FieldError
		tooBig  *http.MaxBytesError
		confErr *store.ConflictError
		invErr  *store.InvalidError
	)
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.As(err, &enrErr):
		return &Error{enrollStatus(enrErr), enrErr.Code, enrErr.Message}
	case errors.As(err, &tooBig), errors.Is(err, wire.ErrTooLarge):
		return &Error{http.StatusRequestEntityTooLarge, "body_too_large", "the request body is too large"}
	case errors.As(err, &field):
		return &Error{http.StatusBadRequest, "invalid_field", field.Error()}
	case errors.Is(err, wire.ErrMalformed):
		return badRequest("malformed_json", "the request body is not valid JSON of the expected shape")
	case errors.As(err, &invErr):
		return &Error{http.StatusBadRequest, "invalid_field", invErr.Field + ": " + invErr.Reason}
	case errors.As(err, &confErr):
		return &Error{http.StatusConflict, confErr.Field + "_taken", confErr.Field + " is already in use"}
	case errors.Is(err, store.ErrNotFound):
		return notFound("object")
	}
	return &Error{http.StatusInternalServerError, "internal", "internal error; the engine log has the details under this trace id"}
}

func enrollStatus(e *enroll.Error) int {
	switch e.Code {
	case enroll.ErrTokenInvalid.Code:
		return http.StatusUnauthorized
	case enroll.ErrKeyInUse.Code, enroll.ErrNameTaken.Code:
		return http.StatusConflict
	case enroll.ErrPoolFull.Code:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

func newTraceID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
