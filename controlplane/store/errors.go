package store

import (
	"errors"
	"fmt"
)

// Sentinel errors callers branch on. Every error the store returns for these
// conditions satisfies errors.Is with exactly one of them.
var (
	// ErrNotFound: the record (or a record it refers to) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique constraint was violated; errors.As to
	// *ConflictError tells which one.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: a field failed validation; errors.As to *InvalidError
	// tells which one.
	ErrInvalid = errors.New("invalid")
	// ErrTokenInvalid: the enrollment token is unknown, expired or already
	// used. Enroll returns this exact value in all three cases so that no
	// caller can tell them apart.
	ErrTokenInvalid = errors.New("enrollment token invalid")
	// ErrPoolExhausted: the overlay prefix has no free address left.
	ErrPoolExhausted = errors.New("overlay address pool exhausted")
)

// ConflictError reports which unique constraint a write violated. It matches
// ErrConflict with errors.Is.
type ConflictError struct {
	Table string // e.g. "devices"
	Field string // e.g. "public_key", "name", "overlay_ip", "port", "listen", "id"
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("conflict: %s.%s already exists", e.Table, e.Field)
}

// Is reports whether target is ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// InvalidError reports which field failed validation. It matches ErrInvalid
// with errors.Is.
type InvalidError struct {
	Field  string // e.g. "port"
	Reason string // human-readable, safe to show to API clients
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason)
}

// Is reports whether target is ErrInvalid.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, reason string) error {
	return &InvalidError{Field: field, Reason: reason}
}

// errForeignKey is what the dialects turn a foreign-key violation into; the
// operations translate it into ErrNotFound for the referenced record.
var errForeignKey = errors.New("foreign key violation")
