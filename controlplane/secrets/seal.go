package secrets

import (
	"crypto/rand"
	"errors"
	"fmt"
)

// Associated-data labels keep the two layers apart: a wrapped data key can
// never authenticate as a payload, nor the reverse.
const (
	labelKey     = "warren/secrets v1 data key\x00"
	labelPayload = "warren/secrets v1 payload\x00"
)

// Seal encrypts plaintext for the record described by aad: a fresh random
// data key encrypts it with AES-256-GCM, and kek wraps the data key with
// AES-256-GCM. aad authenticates both layers. Nonces are random; a data key
// is used once, and a KEK can safely wrap up to 2^32 data keys.
func Seal(kek *KEK, aad AAD, plaintext []byte) (Sealed, error) {
	if !kek.usable() {
		return Sealed{}, errors.New("sealing: no KEK")
	}
	if len(plaintext) > MaxPlaintext {
		return Sealed{}, fmt.Errorf("sealing: secret of %d bytes exceeds the %d-byte limit", len(plaintext), MaxPlaintext)
	}
	ad, err := aad.encode()
	if err != nil {
		return Sealed{}, fmt.Errorf("sealing: %w", err)
	}
	var dk [KeySize]byte
	defer clear(dk[:])
	rand.Read(dk[:]) // never returns an error
	s := Sealed{Version: FormatV1}
	if err := sealPayload(&s, dk[:], ad, plaintext); err != nil {
		return Sealed{}, fmt.Errorf("sealing: %w", err)
	}
	wrapKey(&s, kek, ad, dk[:])
	return s, nil
}

// Open returns the plaintext of s, which must have been sealed under kek with
// the same aad. It fails closed: a record wrapped by another KEK gives
// ErrWrongKEK, a record that does not authenticate (tampered, or another
// record's) gives ErrAuth, a structurally invalid one ErrMalformed. On any
// error the plaintext is nil. The caller should clear the plaintext when
// done with it.
func Open(kek *KEK, aad AAD, s Sealed) (Secret, error) {
	if !kek.usable() {
		return nil, errors.New("opening: no KEK")
	}
	ad, dk, err := unwrapKey(kek, aad, s)
	if err != nil {
		return nil, err
	}
	defer clear(dk)
	return openPayload(dk, ad, s)
}

// Rewrap returns s with its data key unwrapped by from and wrapped again by
// to; the payload nonce and ciphertext are unchanged. It checks that the
// payload opens before re-wrapping, so a rotation never carries a broken
// record forward silently. It fails like Open.
func Rewrap(from, to *KEK, aad AAD, s Sealed) (Sealed, error) {
	if !from.usable() || !to.usable() {
		return Sealed{}, errors.New("rewrapping: no KEK")
	}
	ad, dk, err := unwrapKey(from, aad, s)
	if err != nil {
		return Sealed{}, err
	}
	defer clear(dk)
	pt, err := openPayload(dk, ad, s)
	if err != nil {
		return Sealed{}, err
	}
	clear(pt)
	out := s
	out.Ciphertext = append([]byte(nil), s.Ciphertext...)
	wrapKey(&out, to, ad, dk)
	return out, nil
}

// unwrapKey checks s and returns the encoded aad and the data key.
func unwrapKey(kek *KEK, aad AAD, s Sealed) (ad, dk []byte, err error) {
	if err := s.check(); err != nil {
		return nil, nil, err
	}
	if s.KEKID != kek.id {
		return nil, nil, &WrongKEKError{Sealed: s.KEKID, Have: []KEKID{kek.id}}
	}
	if ad, err = aad.encode(); err != nil {
		return nil, nil, err
	}
	wrapped := make([]byte, 0, NonceSize+WrappedKeySize)
	wrapped = append(append(wrapped, s.KeyNonce[:]...), s.WrappedKey[:]...)
	dk, err = kek.aead().Open(nil, nil, wrapped, keyAD(kek.id, ad))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: data key does not unwrap under KEK %s with this record's AAD", ErrAuth, kek.id)
	}
	if len(dk) != KeySize { // cannot happen: the length is authenticated
		clear(dk)
		return nil, nil, fmt.Errorf("%w: data key of %d bytes", ErrMalformed, len(dk))
	}
	return ad, dk, nil
}

// wrapKey seals dk under kek into s.
func wrapKey(s *Sealed, kek *KEK, ad, dk []byte) {
	out := kek.aead().Seal(nil, nil, dk, keyAD(kek.id, ad))
	s.KEKID = kek.id
	copy(s.KeyNonce[:], out[:NonceSize])
	copy(s.WrappedKey[:], out[NonceSize:])
}

func sealPayload(s *Sealed, dk, ad, plaintext []byte) error {
	aead, err := newAEAD(dk)
	if err != nil {
		return err
	}
	out := aead.Seal(nil, nil, plaintext, payloadAD(ad))
	copy(s.Nonce[:], out[:NonceSize])
	s.Ciphertext = out[NonceSize:]
	return nil
}

func openPayload(dk, ad []byte, s Sealed) (Secret, error) {
	aead, err := newAEAD(dk)
	if err != nil {
		return nil, err
	}
	in := make([]byte, 0, NonceSize+len(s.Ciphertext))
	in = append(append(in, s.Nonce[:]...), s.Ciphertext...)
	pt, err := aead.Open(nil, nil, in, payloadAD(ad))
	if err != nil {
		return nil, fmt.Errorf("%w: payload does not authenticate with this record's AAD", ErrAuth)
	}
	if pt == nil {
		pt = []byte{} // an empty secret is not "no secret"
	}
	return Secret(pt), nil
}

func keyAD(id KEKID, ad []byte) []byte {
	b := make([]byte, 0, len(labelKey)+len(id)+len(ad))
	return append(append(append(b, labelKey...), id[:]...), ad...)
}

func payloadAD(ad []byte) []byte {
	return append(append(make([]byte, 0, len(labelPayload)+len(ad)), labelPayload...), ad...)
}
