package idp_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/warrenhq/warren/controlplane/auth/idp"
)

func TestPassword(t *testing.T) {
	h1, err := idp.HashPassword("hunter2")
	if err != nil {
		t.Fatalf("HashPassword() = %v", err)
	}
	h2, _ := idp.HashPassword("hunter2")
	if !strings.HasPrefix(h1, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("HashPassword() = %q, want an argon2id PHC string", h1)
	}
	if h1 == h2 {
		t.Errorf("two hashes of one password are equal: salts are not random")
	}
	for _, c := range []struct {
		hash, pw string
		want     bool
	}{
		{h1, "hunter2", true},
		{h2, "hunter2", true},
		{h1, "hunter3", false},
		{h1, "", false},
		{h1, "Hunter2", false},
		{"", "hunter2", false},
		{strings.Replace(h1, "argon2id", "argon2i", 1), "hunter2", false},
		{strings.Replace(h1, "v=19", "v=16", 1), "hunter2", false},
		{h1[:len(h1)-4], "hunter2", false},
		{strings.Replace(h1, "m=19456", "m=1048576", 1), "hunter2", false}, // 1 GiB: refused, not computed
		{strings.Replace(h1, "t=2", "t=1000", 1), "hunter2", false},
		{strings.Replace(h1, "p=1", "p=0", 1), "hunter2", false},
		{"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "hunter2", false}, // bcrypt
	} {
		if got := idp.CheckPassword(c.hash, c.pw); got != c.want {
			t.Errorf("CheckPassword(%.40q..., %q) = %v, want %v", c.hash, c.pw, got, c.want)
		}
	}
	if _, err := idp.HashPassword(""); err == nil {
		t.Errorf("HashPassword(\"\") = nil error, want refusal")
	}
}

// TestPasswordParamsFromHash: a hash made with other parameters (an older or
// stronger profile) still verifies, because they are read from the hash.
func TestPasswordParamsFromHash(t *testing.T) {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte("pw"), salt, 3, 8*1024, 2, 32)
	enc := base64.RawStdEncoding
	h := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", 8*1024, 3, 2, enc.EncodeToString(salt), enc.EncodeToString(key))
	if !idp.CheckPassword(h, "pw") {
		t.Errorf("CheckPassword(%q, pw) = false, want true", h)
	}
	if idp.CheckPassword(strings.Replace(h, "t=3", "t=2", 1), "pw") {
		t.Errorf("CheckPassword with altered t = true, want false")
	}
}

// FuzzCheckPassword: any stored string is either a valid hash or refused;
// never a panic.
func FuzzCheckPassword(f *testing.F) {
	h, _ := idp.HashPassword("pw")
	for _, s := range []string{h, "", "$", "$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=1,t=1,p=255$x$y", "$argon2id$v=19$m=9999999999999,t=1,p=1$AAAA$AAAA", h + "$"} {
		f.Add(s, "pw")
	}
	f.Fuzz(func(t *testing.T, hash, pw string) {
		if idp.CheckPassword(hash, pw) && !strings.HasPrefix(hash, "$argon2id$v=19$") {
			t.Fatalf("CheckPassword(%q, %q) = true for a non-argon2id hash", hash, pw)
		}
	})
}
