package idp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"
)

// maxCodes bounds outstanding authorization codes (each lives CodeTTL).
const maxCodes = 10000

// authCode is what a code stands for, and everything it is bound to.
type authCode struct {
	clientID    string
	redirectURI string
	challenge   string // PKCE S256 challenge
	nonce       string
	scope       string
	user        LocalUser
	authTime    time.Time
	expires     time.Time
}

// codeStore holds outstanding authorization codes, keyed by the code's
// SHA-256 so that the secret itself is never a map key. take removes the
// entry, so a code is redeemed at most once even under concurrent requests.
type codeStore struct {
	mu sync.Mutex
	// guarded by mu
	m map[[sha256.Size]byte]authCode
}

func newCodeStore() *codeStore {
	return &codeStore{m: make(map[[sha256.Size]byte]authCode)}
}

func (s *codeStore) put(code string, c authCode, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxCodes {
		for k, e := range s.m {
			if !now.Before(e.expires) {
				delete(s.m, k)
			}
		}
	}
	if len(s.m) >= maxCodes {
		return false
	}
	s.m[sha256.Sum256([]byte(code))] = c
	return true
}

func (s *codeStore) take(code string, now time.Time) (authCode, bool) {
	k := sha256.Sum256([]byte(code))
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[k]
	if !ok {
		return authCode{}, false
	}
	delete(s.m, k)
	if !now.Before(c.expires) {
		return authCode{}, false
	}
	return c, true
}

// randomToken returns 256 random bits, base64url encoded.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand documents it)
	return base64.RawURLEncoding.EncodeToString(b)
}
