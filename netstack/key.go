package netstack

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// Key is a Curve25519 key, private or public, as WireGuard uses it.
//
// The same type holds both kinds, so nothing stops a private key from being
// printed: never log a private Key, and never put one in an error. Config
// implements slog.LogValuer and leaves its private key out.
type Key [32]byte

// keyLen is the length of a Key in standard base64.
const keyLen = 44

// GenerateKey returns a new random private key, clamped as RFC 7748 asks.
func GenerateKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("generating key: %w", err)
	}
	k.clamp()
	return k, nil
}

func (k *Key) clamp() {
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
}

// ParseKey parses a key in standard base64 (44 characters), the form the wg
// tool and String use.
func ParseKey(s string) (Key, error) {
	if len(s) != keyLen {
		return Key{}, fmt.Errorf("parsing key: got %d characters, want %d", len(s), keyLen)
	}
	var k Key
	n, err := base64.StdEncoding.Strict().Decode(k[:], []byte(s))
	if err != nil {
		return Key{}, fmt.Errorf("parsing key: %w", err)
	}
	if n != len(k) {
		return Key{}, fmt.Errorf("parsing key: got %d bytes, want %d", n, len(k))
	}
	return k, nil
}

// String returns the key in standard base64.
func (k Key) String() string {
	return base64.StdEncoding.EncodeToString(k[:])
}

// Public returns the public key of the private key k.
func (k Key) Public() Key {
	priv, err := ecdh.X25519().NewPrivateKey(k[:])
	if err != nil {
		// Only a wrong length fails, and a Key always has 32 bytes.
		panic("netstack: X25519 rejected a 32-byte key: " + err.Error())
	}
	var pub Key
	copy(pub[:], priv.PublicKey().Bytes())
	return pub
}

// IsZero reports whether k is all zeroes, the value of an unset key.
func (k Key) IsZero() bool {
	return k == Key{}
}

// MarshalText encodes k in standard base64.
func (k Key) MarshalText() ([]byte, error) {
	return []byte(k.String()), nil
}

// UnmarshalText decodes a key in standard base64, as ParseKey does.
func (k *Key) UnmarshalText(text []byte) error {
	parsed, err := ParseKey(string(text))
	if err != nil {
		return err
	}
	*k = parsed
	return nil
}

// hex is the form the WireGuard configuration protocol (uapi) uses.
func (k Key) hex() string {
	return hex.EncodeToString(k[:])
}

func parseHexKey(s string) (Key, error) {
	var k Key
	if len(s) != 2*len(k) {
		return Key{}, fmt.Errorf("parsing hex key: got %d characters, want %d", len(s), 2*len(k))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return Key{}, fmt.Errorf("parsing hex key: %w", err)
	}
	return k, nil
}
