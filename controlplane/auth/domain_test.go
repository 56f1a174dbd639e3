package auth_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/warrenhq/warren/controlplane/auth"
)

func TestDomainOf(t *testing.T) {
	cases := []struct {
		email, want string // want "" = error
	}{
		{"alice@example.com", "example.com"},
		{"Alice@EXAMPLE.Com", "example.com"},
		{"a.b+tag@mail.example.co.uk", "mail.example.co.uk"},
		{"x@a-b.example", "a-b.example"},
		{"x@xn--bcher-kva.ch", "xn--bcher-kva.ch"},
		{"x@bücher.ch", "xn--bcher-kva.ch"},
		{"x@BÜCHER.ch", "xn--bcher-kva.ch"},
		{"x@exаmple.com", "xn--exmple-4nf.com"}, // Cyrillic а is another domain, never example.com
		{"", ""},
		{"alice", ""},
		{"alice@", ""},
		{"@example.com", ""},
		{"a@b@example.com", ""},
		{"alice@example.com.", ""},
		{"alice@EXAMPLE.com.", ""},
		{"alice@.example.com", ""},
		{"alice@example..com", ""},
		{"alice@localhost", ""},
		{"alice@-example.com", ""},
		{"alice@example-.com", ""},
		{"alice@exa_mple.com", ""},
		{"alice@exa mple.com", ""},
		{" alice@example.com", ""},
		{"alice@example.com ", ""},
		{"al\tice@example.com", ""},
		{"alice@example.com\x00", ""},
		{"alice@ｅｘａｍｐｌｅ.com", ""},       // fullwidth: UTS #46 would fold it to example.com
		{"alice@example。com", ""},       // ideographic full stop
		{"alice@exam\u00adple.com", ""}, // soft hyphen is mapped away by UTS #46
		{"alice@exam\u200dple.com", ""}, // zero-width joiner
		{"ali\u202ece@example.com", ""}, // bidi override in the local part
		{"alice@xn--zz.com", ""},        // invalid punycode
		{"alice@xn--example-.com", ""},  // invalid punycode
		{"alice@" + strings.Repeat("a", 64) + ".com", ""},
		{strings.Repeat("a", 65) + "@example.com", ""},
		{"alice@\xff.com", ""},
	}
	for _, c := range cases {
		got, err := auth.DomainOf(c.email)
		if c.want == "" {
			if err == nil {
				t.Errorf("DomainOf(%q) = %q, want error", c.email, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("DomainOf(%q) = %q, %v; want %q", c.email, got, err, c.want)
		}
	}
}

// FuzzDomainOf checks the properties discovery relies on: no panic, a
// result is a lowercase ASCII host name without empty labels, the input's
// last '@' is followed by a spelling of that domain, and the result is a
// fixed point (looking it up again finds the same domain).
func FuzzDomainOf(f *testing.F) {
	for _, s := range []string{
		"alice@example.com", "ALICE@EXAMPLE.COM", "a@b@c.com", "a@example.com.", "a@evil-example.com",
		"a@example.com.attacker.net", "a@bücher.ch", "a@xn--bcher-kva.ch", "a@ｅｘａｍｐｌｅ.com", "@", "",
		"a@exam\u200dple.com", "a@\xff", "a@" + strings.Repeat("a.", 130) + "com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, email string) {
		d, err := auth.DomainOf(email)
		if err != nil {
			return
		}
		if d == "" || strings.HasSuffix(d, ".") || strings.HasPrefix(d, ".") || strings.Contains(d, "..") || len(d) > 253 {
			t.Fatalf("DomainOf(%q) = %q: not a host name", email, d)
		}
		for i := 0; i < len(d); i++ {
			c := d[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
				t.Fatalf("DomainOf(%q) = %q: byte %q outside [a-z0-9.-]", email, d, c)
			}
		}
		if strings.Count(email, "@") != 1 || !utf8.ValidString(email) {
			t.Fatalf("DomainOf(%q) accepted a malformed address", email)
		}
		again, err := auth.DomainOf("x@" + d)
		if err != nil || again != d {
			t.Fatalf("DomainOf(x@%q) = %q, %v; want the same domain back", d, again, err)
		}
		_, typed, _ := strings.Cut(email, "@")
		if isASCII(typed) && strings.ToLower(typed) != d {
			t.Fatalf("DomainOf(%q) = %q: ASCII domain changed beyond case", email, d)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
