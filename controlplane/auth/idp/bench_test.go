package idp_test

import (
	"net/http"
	"net/url"
	"testing"
)

// BenchmarkLoginFailure compares a wrong password with an unknown email. Both
// cost one store lookup and one argon2id run, so their ns/op should be close.
func BenchmarkLoginFailure(b *testing.B) {
	e := start(b, nil)
	for _, email := range []string{"alice@example.com", "nobody@example.com"} {
		b.Run(email, func(b *testing.B) {
			c := newClient()
			form := url.Values{"request": {e.openForm(b, c, authParams(newPKCE()))}, "email": {email}, "password": {"wrong"}}
			for b.Loop() {
				resp, err := c.PostForm(e.p.Issuer()+"/authorize", form)
				if err != nil {
					b.Fatalf("POST login: %v", err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					b.Fatalf("login = %d, want 401", resp.StatusCode)
				}
			}
		})
	}
}
