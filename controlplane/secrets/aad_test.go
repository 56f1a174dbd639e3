package secrets

import (
	"bytes"
	"testing"
)

// FuzzAADEncoding checks that the AAD encoding is injective: two AADs that
// encode alike are the same AAD.
func FuzzAADEncoding(f *testing.F) {
	f.Add("org-a", "rec-1", "credential", 1, "org-ar", "ec-1", "credential", 1)
	f.Add("o", "r", "k", 0, "o", "r", "k", 256)
	f.Add("a\x00\x00\x00\x01b", "c", "d", 0, "a", "b", "\x00\x00\x00\x01cd", 0)
	f.Fuzz(func(t *testing.T, o1, r1, k1 string, v1 int, o2, r2, k2 string, v2 int) {
		a, b := AAD{o1, r1, k1, v1}, AAD{o2, r2, k2, v2}
		ea, errA := a.encode()
		eb, errB := b.encode()
		if errA != nil || errB != nil {
			return
		}
		if bytes.Equal(ea, eb) != (a == b) {
			t.Fatalf("encode(%+v) == encode(%+v) is %t, want %t", a, b, bytes.Equal(ea, eb), a == b)
		}
	})
}
