package auth

import (
	"sync"
	"time"
)

// pendingLogin is what Begin remembers for Finish. It never leaves the engine.
type pendingLogin struct {
	nonce       string
	verifier    string // PKCE code verifier
	redirectURL string
	emailHint   string
	idp         IdPConfig
	expires     time.Time
}

// loginStates holds pending logins keyed by the OAuth state parameter. Entries
// are single use: take removes the entry whatever happens next, so a state can
// be redeemed at most once even by concurrent callbacks. The store is bounded;
// expired entries are swept lazily, so it owns no goroutine.
type loginStates struct {
	max int

	mu sync.Mutex
	// guarded by mu
	m map[string]pendingLogin
}

func newLoginStates(max int) *loginStates {
	return &loginStates{max: max, m: make(map[string]pendingLogin)}
}

// put stores p under state. It reports false when the store is full of
// unexpired entries.
func (s *loginStates) put(state string, p pendingLogin, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		s.sweepLocked(now)
	}
	if len(s.m) >= s.max {
		return false
	}
	s.m[state] = p
	return true
}

// take removes and returns the entry for state if it exists and has not
// expired at now.
func (s *loginStates) take(state string, now time.Time) (pendingLogin, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.m[state]
	if !ok {
		return pendingLogin{}, false
	}
	delete(s.m, state)
	if !now.Before(p.expires) {
		return pendingLogin{}, false
	}
	return p, true
}

func (s *loginStates) sweepLocked(now time.Time) {
	for k, p := range s.m {
		if !now.Before(p.expires) {
			delete(s.m, k)
		}
	}
}
