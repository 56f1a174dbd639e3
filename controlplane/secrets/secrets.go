// Package secrets seals secrets at rest (target credentials, IdP client
// secrets) with envelope encryption: each record gets a fresh 256-bit data
// key that encrypts its payload with AES-256-GCM, and the data key is itself
// wrapped with AES-256-GCM under a key-encryption key (KEK) that never
// touches the database. Both layers authenticate an AAD that binds the
// record's organization, id, kind and version, so a ciphertext copied into
// another row does not open. Rotating the KEK re-wraps data keys only.
//
// This package must never log (it takes no logger), never put plaintext or
// key material into an error or formatted output, and never return partial
// plaintext: every failure returns a nil plaintext. Open fails closed with
// ErrWrongKEK, ErrAuth or ErrMalformed. It imports only the standard library,
// so any package of the engine may depend on it.
package secrets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors callers branch on.
var (
	// ErrWrongKEK: the record was sealed under a KEK other than the one(s)
	// given; errors.As to *WrongKEKError says which KEK it needs.
	ErrWrongKEK = errors.New("wrong KEK")
	// ErrAuth: the record does not authenticate under the given KEK and
	// AAD: it was tampered with, or it belongs to another record (org, id,
	// kind or version differ).
	ErrAuth = errors.New("sealed secret does not authenticate")
	// ErrMalformed: the encoding or the Sealed value is structurally invalid.
	ErrMalformed = errors.New("malformed sealed secret")
	// ErrNoKEK: LoadKEK was given neither WARREN_KEK nor a KEK file.
	ErrNoKEK = errors.New("no KEK configured: set WARREN_KEK or --kek-file")
)

// WrongKEKError reports which KEK a record needs. It matches ErrWrongKEK with
// errors.Is.
type WrongKEKError struct {
	Sealed KEKID   // the KEK that wrapped the record
	Have   []KEKID // the KEK(s) that were tried
}

func (e *WrongKEKError) Error() string {
	have := make([]string, len(e.Have))
	for i, id := range e.Have {
		have[i] = id.String()
	}
	configured := "the configured KEK is "
	if len(have) != 1 {
		configured = "the configured KEKs are "
	}
	return fmt.Sprintf("wrong KEK: record was sealed under KEK %s but %s%s; "+
		"configure KEK %s (during a rotation, keep it as a previous KEK)",
		e.Sealed, configured, strings.Join(have, ", "), e.Sealed)
}

// Is reports whether target is ErrWrongKEK.
func (e *WrongKEKError) Is(target error) bool { return target == ErrWrongKEK }

// maxAADField bounds each string of an AAD; ids and kinds are short.
const maxAADField = 4096

// AAD is the context a secret is bound to. Open must be given exactly the AAD
// Seal was given. OrgID, RecordID and Kind must not be empty (records that
// belong to no organization use a fixed OrgID such as "platform"); Version is
// the record's version, bumped when the secret is replaced so an older
// ciphertext cannot be restored into the row.
type AAD struct {
	OrgID    string
	RecordID string
	Kind     string // e.g. "credential", "idp_client_secret"
	Version  int
}

// encode serialises a unambiguously: each string is prefixed by its length
// (uint32, big endian), then the version as a uint64.
func (a AAD) encode() ([]byte, error) {
	fields := [...]struct{ name, v string }{{"org id", a.OrgID}, {"record id", a.RecordID}, {"kind", a.Kind}}
	n := 8
	for _, f := range fields {
		switch {
		case f.v == "":
			return nil, fmt.Errorf("invalid AAD: empty %s", f.name)
		case len(f.v) > maxAADField:
			return nil, fmt.Errorf("invalid AAD: %s longer than %d bytes", f.name, maxAADField)
		}
		n += 4 + len(f.v)
	}
	if a.Version < 0 {
		return nil, fmt.Errorf("invalid AAD: negative version %d", a.Version)
	}
	b := make([]byte, 0, n)
	for _, f := range fields {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f.v)))
		b = append(b, f.v...)
	}
	return binary.BigEndian.AppendUint64(b, uint64(a.Version)), nil
}
