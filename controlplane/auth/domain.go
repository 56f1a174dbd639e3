package auth

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits from RFC 5321 §4.5.3.1 and RFC 1035 §2.3.4.
const (
	maxEmailLen  = 254
	maxLocalLen  = 64
	maxDomainLen = 253
	maxLabelLen  = 63
)

// idnaProfile converts internationalised domains to their A-label form with
// the strictest checks x/net/idna offers (UTS #46 non-transitional, STD3
// rules, bidi and joiner rules, DNS lengths).
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.BidiRule(),
	idna.ValidateLabels(true),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(true),
	idna.CheckHyphens(true),
	idna.CheckJoiners(true),
)

var errBadEmail = errors.New("not an email address")

// DomainOf returns the lowercase ASCII (punycode) domain of email, the key an
// organization's IdP is found by. It accepts exactly one '@', a non-empty
// local part and a domain of at least two valid labels. It rejects trailing
// or doubled dots, whitespace and control characters, and internationalised
// domains that are not already in canonical form (UTS #46 mappings such as
// fullwidth letters folding to ASCII are refused rather than silently
// applied), so two spellings can never reach the same IdP unless they are the
// same domain.
func DomainOf(email string) (string, error) {
	_, domain, err := splitEmail(email)
	return domain, err
}

// normalizeEmail returns email with its local part lowercased and its domain
// in the form DomainOf returns.
func normalizeEmail(email string) (string, error) {
	local, domain, err := splitEmail(email)
	if err != nil {
		return "", err
	}
	return local + "@" + domain, nil
}

func splitEmail(email string) (local, domain string, err error) {
	if len(email) > maxEmailLen || !utf8.ValidString(email) {
		return "", "", errBadEmail
	}
	email = strings.ToLower(email)
	local, domain, ok := strings.Cut(email, "@")
	if !ok || strings.Contains(domain, "@") {
		return "", "", errBadEmail
	}
	if local == "" || len(local) > maxLocalLen || strings.IndexFunc(local, badEmailRune) >= 0 {
		return "", "", errBadEmail
	}
	domain, err = canonicalDomain(domain)
	if err != nil {
		return "", "", err
	}
	return local, domain, nil
}

func badEmailRune(r rune) bool {
	return r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) ||
		unicode.Is(unicode.Cf, r) // format characters: zero-width joiners, bidi overrides
}

// canonicalDomain validates a lowercased domain and returns its A-label form.
func canonicalDomain(d string) (string, error) {
	ascii, err := idnaProfile.ToASCII(d)
	if err != nil {
		return "", errBadEmail
	}
	back, err := idnaProfile.ToUnicode(ascii)
	if err != nil {
		return "", errBadEmail
	}
	// The input must be exactly the A-label form or exactly the U-label
	// form; anything the UTS #46 mapping had to rewrite is refused.
	if d != ascii && d != back {
		return "", errBadEmail
	}
	if !validASCIIDomain(ascii) {
		return "", errBadEmail
	}
	return ascii, nil
}

// validASCIIDomain reports whether d is a lowercase LDH host name with at
// least two labels and no empty label (so no leading, trailing or double dot).
func validASCIIDomain(d string) bool {
	if len(d) == 0 || len(d) > maxDomainLen {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !validLabel(l) {
			return false
		}
	}
	return true
}

func validLabel(l string) bool {
	if len(l) == 0 || len(l) > maxLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
