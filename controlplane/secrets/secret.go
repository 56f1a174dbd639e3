package secrets

import (
	"fmt"
	"io"
	"log/slog"
)

const redacted = "REDACTED"

// Secret is plaintext held in memory: a password, a private key, a client
// secret. However it is printed (fmt with any verb, slog, encoding/json)
// it shows REDACTED; code that needs the bytes converts it explicitly with
// []byte(s) or string(s). UnmarshalText accepts the plaintext, so a JSON
// request body can decode straight into a Secret. A Secret kept in an
// unexported struct field is out of fmt's reach: fmt does not call methods
// on unexported fields, so such structs need their own LogValue.
type Secret []byte

// String implements fmt.Stringer.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (Secret) GoString() string { return redacted }

// Format implements fmt.Formatter: every verb prints REDACTED.
func (Secret) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText implements encoding.TextMarshaler; it gives REDACTED, so a
// Secret never leaves in a JSON response either.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it copies text.
func (s *Secret) UnmarshalText(text []byte) error {
	*s = append(Secret{}, text...)
	return nil
}

// Clear overwrites the secret with zeros. Go may have left other copies
// (strings, grown slices), so this reduces exposure, it does not remove it.
func (s Secret) Clear() { clear(s) }
