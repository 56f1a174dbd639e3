package netstack

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

func TestGenerateKeyClamped(t *testing.T) {
	for range 16 {
		k := mustKey(t)
		if k[0]&7 != 0 || k[31]&128 != 0 || k[31]&64 == 0 {
			t.Fatalf("GenerateKey() = %x, not clamped", k)
		}
	}
	if mustKey(t) == mustKey(t) {
		t.Fatal("GenerateKey() returned the same key twice")
	}
}

func TestKeyPublicRFC7748(t *testing.T) {
	// RFC 7748 section 6.1, Alice.
	var priv Key
	hex.Decode(priv[:], []byte("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
	want := "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
	if got := priv.Public().hex(); got != want {
		t.Errorf("Public() = %s, want %s", got, want)
	}
}

func TestParseKey(t *testing.T) {
	k := mustKey(t)
	got, err := ParseKey(k.String())
	if err != nil || got != k {
		t.Fatalf("ParseKey(String()) = %v, %v; want the key back", got, err)
	}
	bad := []string{
		"",
		k.String()[:43],
		k.String() + "=",
		strings.Repeat("!", 44),
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", // 34 bytes
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=",     // non-zero trailing bits
	}
	for _, s := range bad {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) = nil error, want an error", s)
		}
	}
}

func TestKeyJSON(t *testing.T) {
	type doc struct{ Key Key }
	in := doc{Key: mustKey(t).Public()}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), in.Key.String()) {
		t.Errorf("json.Marshal() = %s, want the base64 key", b)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Errorf("json round trip = %v, %v; want %v", out, err, in)
	}
	if err := json.Unmarshal([]byte(`{"Key":"short"}`), &out); err == nil {
		t.Errorf("json.Unmarshal(short key) = nil error, want an error")
	}
}

func TestKeyIsZero(t *testing.T) {
	if !(Key{}).IsZero() || mustKey(t).IsZero() {
		t.Error("IsZero() wrong")
	}
}
