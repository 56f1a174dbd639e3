package secrets

import "fmt"

// FormatV1 is the only format version: AES-256-GCM for both layers, 96-bit
// random nonces, a 32-byte data key.
const FormatV1 = 1

// MaxPlaintext is the largest secret Seal accepts. Credentials and private
// keys are far smaller; the bound keeps a corrupted row from allocating much.
const MaxPlaintext = 64 << 10

const (
	// NonceSize is the size of both GCM nonces.
	NonceSize = 12
	// tagSize is GCM's authentication tag.
	tagSize = 16
	// WrappedKeySize is a data key sealed under the KEK (key plus tag).
	WrappedKeySize = KeySize + tagSize

	headerSize = 1 + len(KEKID{}) + NonceSize + WrappedKeySize + NonceSize
)

// Sealed is one sealed secret: the wrapped data key and the payload. It
// holds no plaintext and no key, so it may be stored and logged freely.
//
// Its binary encoding (MarshalBinary), meant for one BLOB/BYTEA column, is
//
//	Version (1) | KEKID (8) | KeyNonce (12) | WrappedKey (48) | Nonce (12) | Ciphertext (16..)
//
// where Ciphertext is the GCM ciphertext of the payload followed by its tag.
type Sealed struct {
	Version    uint8 // format version, FormatV1
	KEKID      KEKID // the KEK that wrapped the data key
	KeyNonce   [NonceSize]byte
	WrappedKey [WrappedKeySize]byte
	Nonce      [NonceSize]byte
	Ciphertext []byte
}

// check validates the shape of s; the contents are checked by GCM.
func (s *Sealed) check() error {
	switch {
	case s.Version != FormatV1:
		return fmt.Errorf("%w: unknown format version %d", ErrMalformed, s.Version)
	case len(s.Ciphertext) < tagSize:
		return fmt.Errorf("%w: ciphertext of %d bytes is shorter than its tag", ErrMalformed, len(s.Ciphertext))
	case len(s.Ciphertext) > MaxPlaintext+tagSize:
		return fmt.Errorf("%w: ciphertext of %d bytes exceeds the %d-byte limit", ErrMalformed, len(s.Ciphertext), MaxPlaintext+tagSize)
	}
	return nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (s Sealed) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, headerSize+len(s.Ciphertext)))
}

// AppendBinary implements encoding.BinaryAppender.
func (s Sealed) AppendBinary(b []byte) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	b = append(b, s.Version)
	b = append(b, s.KEKID[:]...)
	b = append(b, s.KeyNonce[:]...)
	b = append(b, s.WrappedKey[:]...)
	b = append(b, s.Nonce[:]...)
	return append(b, s.Ciphertext...), nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. It checks the
// format version and every length, and copies b, so the caller may reuse it.
// Any failure matches ErrMalformed and leaves s unchanged.
func (s *Sealed) UnmarshalBinary(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty", ErrMalformed)
	}
	if b[0] != FormatV1 {
		return fmt.Errorf("%w: unknown format version %d", ErrMalformed, b[0])
	}
	if n := len(b) - headerSize; n < tagSize || n > MaxPlaintext+tagSize {
		return fmt.Errorf("%w: %d bytes is not a valid length", ErrMalformed, len(b))
	}
	var out Sealed
	r := reader(b)
	out.Version = r.next(1)[0]
	copy(out.KEKID[:], r.next(len(out.KEKID)))
	copy(out.KeyNonce[:], r.next(NonceSize))
	copy(out.WrappedKey[:], r.next(WrappedKeySize))
	copy(out.Nonce[:], r.next(NonceSize))
	out.Ciphertext = append([]byte(nil), r...)
	*s = out
	return nil
}

// reader consumes a byte slice whose length has already been checked.
type reader []byte

func (r *reader) next(n int) []byte {
	b := (*r)[:n]
	*r = (*r)[n:]
	return b
}
