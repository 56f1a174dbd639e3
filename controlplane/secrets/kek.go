package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
)

// KeySize is the size of a KEK and of a data key: AES-256.
const KeySize = 32

// maxKEKFile caps what LoadKEK reads from a key file (44 bytes of base64
// plus whitespace is all a valid one holds).
const maxKEKFile = 1024

// KEKID names a KEK without revealing it: the first 8 bytes of the SHA-256
// of the key. Sealed records carry it so that the KEK that wrapped them can
// be found, and so that a wrong KEK is reported as such.
type KEKID [8]byte

// String returns the ID in hex.
func (id KEKID) String() string { return hex.EncodeToString(id[:]) }

// KEK is a key-encryption key. It is immutable and safe for concurrent use.
// It never shows up in logs or formatted output: String, Format and
// LogValue give only its ID.
type KEK struct {
	id KEKID
	// material is a function, not a pointer or interface, because fmt never
	// walks into a function: a copied KEK printed with any verb, even from
	// an unexported field where its Format is not called, shows an address.
	// A pointer field would be dereferenced by a mismatched verb such as %s.
	material func() *kekMaterial
}

type kekMaterial struct {
	key  [KeySize]byte
	aead cipher.AEAD // AES-256-GCM under key
}

// GenerateKEK returns a new random KEK.
func GenerateKEK() (*KEK, error) {
	var key [KeySize]byte
	defer clear(key[:])
	rand.Read(key[:]) // never returns an error
	return newKEK(key[:])
}

func newKEK(key []byte) (*KEK, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("KEK must be %d bytes, got %d", KeySize, len(key))
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	m := &kekMaterial{aead: aead}
	copy(m.key[:], key)
	k := &KEK{material: func() *kekMaterial { return m }}
	sum := sha256.Sum256(key)
	copy(k.id[:], sum[:])
	return k, nil
}

// aead returns the KEK's cipher.
func (k *KEK) aead() cipher.AEAD { return k.material().aead }

// usable reports whether k came from GenerateKEK, ParseKEK or LoadKEK (a nil
// or zero KEK holds no key).
func (k *KEK) usable() bool { return k != nil && k.material != nil }

// newAEAD returns AES-256-GCM with random 96-bit nonces, which it generates
// itself and prepends to the ciphertext. Unlike cipher.NewGCM it is allowed
// in FIPS 140-only mode.
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}

// ParseKEK decodes a KEK from standard base64 of 32 bytes (surrounding
// whitespace ignored), the format of WARREN_KEK and of key files. Errors
// never include the input.
func ParseKEK(text []byte) (*KEK, error) {
	text = bytes.TrimSpace(text)
	key := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	defer clear(key)
	n, err := base64.StdEncoding.Strict().Decode(key, text)
	if err != nil {
		return nil, errors.New("KEK is not valid standard base64 (want base64 of 32 random bytes, e.g. from `head -c 32 /dev/urandom | base64`)")
	}
	if n != KeySize {
		return nil, fmt.Errorf("KEK must be base64 of %d bytes, got %d bytes", KeySize, n)
	}
	if allZero(key[:n]) {
		return nil, errors.New("KEK is all zeros")
	}
	return newKEK(key[:n])
}

func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}

// LoadKEK returns the KEK given either by env (the value of WARREN_KEK) or by
// the key file at path file. Exactly one must be set; neither gives ErrNoKEK.
// A key file must be a regular file that neither group nor other can access
// (mode 0600 or 0400).
func LoadKEK(env, file string) (*KEK, error) {
	switch {
	case env != "" && file != "":
		return nil, errors.New("both WARREN_KEK and a KEK file are set: give only one")
	case env != "":
		k, err := ParseKEK([]byte(env))
		if err != nil {
			return nil, fmt.Errorf("WARREN_KEK: %w", err)
		}
		return k, nil
	case file != "":
		k, err := loadKEKFile(file)
		if err != nil {
			return nil, fmt.Errorf("KEK file %s: %w", file, err)
		}
		return k, nil
	}
	return nil, ErrNoKEK
}

func loadKEKFile(path string) (*KEK, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Stat the open file, not the path, so the file checked is the file read.
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (mode %s)", fi.Mode())
	}
	// Windows has no such permission bits; its ACLs are the operator's job.
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("mode %04o lets group or other access the key; refusing it (chmod 600 %s)", perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKEKFile+1))
	defer clear(data)
	if err != nil {
		return nil, err
	}
	if len(data) > maxKEKFile {
		return nil, fmt.Errorf("larger than %d bytes: not a KEK file", maxKEKFile)
	}
	return ParseKEK(data)
}

// WriteKEKFile writes k to a new key file at path, mode 0600, in the format
// LoadKEK reads. It refuses to overwrite an existing file, and removes what
// it created if writing fails.
func WriteKEKFile(path string, k *KEK) error {
	if !k.usable() {
		return errors.New("writing KEK file: no KEK")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	text := append(k.Export(), '\n')
	defer clear(text)
	_, err = f.Write(text)
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		os.Remove(path)
		return fmt.Errorf("writing KEK file: %w", err)
	}
	return nil
}

// ID returns the KEK's ID.
func (k *KEK) ID() KEKID { return k.id }

// Export returns the KEK as standard base64, the format LoadKEK reads. It is
// for handing a new KEK to the operator once; the result is a Secret so that
// it still prints as REDACTED.
func (k *KEK) Export() Secret {
	return Secret(base64.StdEncoding.AppendEncode(nil, k.material().key[:]))
}

// String returns "KEK(<id>)".
func (k *KEK) String() string {
	if k == nil {
		return "KEK(<nil>)"
	}
	return "KEK(" + k.id.String() + ")"
}

// Format implements fmt.Formatter so that every verb, %#v included, prints
// String and nothing else.
func (k *KEK) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// LogValue implements slog.LogValuer: a KEK logs as its ID.
func (k *KEK) LogValue() slog.Value {
	if k == nil {
		return slog.StringValue("<nil>")
	}
	return slog.StringValue(k.id.String())
}
