package secrets_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/warrenhq/warren/controlplane/secrets"
)

func FuzzUnmarshalSealed(f *testing.F) {
	k := newKEK(f)
	aad := aadFor("fuzz")
	for _, p := range []string{"", "x", "a longer secret with some bytes in it"} {
		f.Add(marshal(f, seal(f, k, aad, p)))
	}
	valid := marshal(f, seal(f, k, aad, "p"))
	f.Add([]byte{})
	f.Add([]byte{secrets.FormatV1})
	f.Add(valid[:len(valid)-1])
	f.Add(valid[:81])
	f.Add(append([]byte{2}, valid[1:]...))
	f.Add(append([]byte{0}, valid[1:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s secrets.Sealed
		if err := s.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, secrets.ErrMalformed) {
				t.Fatalf("UnmarshalBinary() error = %v, want ErrMalformed", err)
			}
			return
		}
		out, err := s.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary(decoded) = %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("MarshalBinary(UnmarshalBinary(b)) = %x, want %x", out, b)
		}
		pt, err := secrets.Open(k, aad, s)
		if err != nil && pt != nil {
			t.Fatalf("Open() returned plaintext along with error %v", err)
		}
	})
}

func FuzzParseKEK(f *testing.F) {
	f.Add([]byte(b64(32, 'k')))
	f.Add([]byte(b64(32, 'k') + "\n"))
	f.Add([]byte(b64(31, 'k')))
	f.Add([]byte("not base64"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, text []byte) {
		k, err := secrets.ParseKEK(text)
		if err != nil {
			return
		}
		if got := k.Export(); !bytes.Equal(got, bytes.TrimSpace(text)) {
			t.Fatalf("Export(ParseKEK(%q)) = %q, want the input back", text, []byte(got))
		}
	})
}
