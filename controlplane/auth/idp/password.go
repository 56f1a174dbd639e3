package idp

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters for new hashes (the OWASP minimum profile: 19 MiB,
// two passes, one lane). They are encoded in every hash, so raising them
// later keeps old hashes verifiable.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Bounds on parameters read back from a stored hash, so a tampered row cannot
// make a login allocate gigabytes or spin for minutes.
const (
	maxArgonMemory  = 256 * 1024
	maxArgonTime    = 16
	maxArgonThreads = 16
	maxPasswordLen  = 1024
)

var b64 = base64.RawStdEncoding

// HashPassword returns an argon2id hash of pw in the PHC string format
// ("$argon2id$v=19$m=19456,t=2,p=1$salt$key").
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("empty password")
	}
	if len(pw) > maxPasswordLen {
		return "", fmt.Errorf("password longer than %d bytes", maxPasswordLen)
	}
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether pw matches hash, comparing in constant time.
// A malformed hash never matches.
func CheckPassword(hash, pw string) bool {
	p, err := parseHash(hash)
	if err != nil || len(pw) > maxPasswordLen {
		return false
	}
	key := argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1
}

type argonHash struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func parseHash(s string) (argonHash, error) {
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return argonHash{}, errors.New("not an argon2id v19 hash")
	}
	var h argonHash
	var threads uint32
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &threads); err != nil {
		return argonHash{}, fmt.Errorf("argon2id parameters: %w", err)
	}
	if h.memory < 8*threads || h.memory > maxArgonMemory || h.time < 1 || h.time > maxArgonTime ||
		threads < 1 || threads > maxArgonThreads {
		return argonHash{}, errors.New("argon2id parameters out of bounds")
	}
	h.threads = uint8(threads)
	var err error
	if h.salt, err = b64.DecodeString(f[4]); err != nil || len(h.salt) < 8 {
		return argonHash{}, errors.New("argon2id salt")
	}
	if h.key, err = b64.DecodeString(f[5]); err != nil || len(h.key) < 16 || len(h.key) > 64 {
		return argonHash{}, errors.New("argon2id key")
	}
	return h, nil
}
