package secrets_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/warrenhq/warren/controlplane/secrets"
)

func newKEK(t testing.TB) *secrets.KEK {
	t.Helper()
	k, err := secrets.GenerateKEK()
	if err != nil {
		t.Fatalf("GenerateKEK() = %v", err)
	}
	return k
}

func aadFor(recordID string) secrets.AAD {
	return secrets.AAD{OrgID: "org-1", RecordID: recordID, Kind: "credential", Version: 1}
}

func seal(t testing.TB, k *secrets.KEK, aad secrets.AAD, plaintext string) secrets.Sealed {
	t.Helper()
	s, err := secrets.Seal(k, aad, []byte(plaintext))
	if err != nil {
		t.Fatalf("Seal(%+v) = %v", aad, err)
	}
	return s
}

func marshal(t testing.TB, s secrets.Sealed) []byte {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary() = %v", err)
	}
	return b
}

// wantOpenErr checks that Open failed with target and returned no plaintext.
func wantOpenErr(t *testing.T, pt secrets.Secret, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("Open() error = %v, want %v", err, target)
	}
	if pt != nil {
		t.Errorf("Open() returned %d bytes of plaintext with an error, want nil", len(pt))
	}
}

func TestRoundTrip(t *testing.T) {
	k := newKEK(t)
	tests := []struct {
		name      string
		plaintext []byte
	}{
		{"empty", []byte{}},
		{"one byte", []byte("x")},
		{"password", []byte("correct horse battery staple")},
		{"binary", []byte{0, 1, 2, 0xff, 0, 0}},
		{"max", bytes.Repeat([]byte{'k'}, secrets.MaxPlaintext)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			aad := aadFor("rec-" + tt.name)
			s, err := secrets.Seal(k, aad, tt.plaintext)
			if err != nil {
				t.Fatalf("Seal() = %v", err)
			}
			if s.KEKID != k.ID() || s.Version != secrets.FormatV1 {
				t.Errorf("Sealed KEKID, Version = %v, %d, want %v, %d", s.KEKID, s.Version, k.ID(), secrets.FormatV1)
			}
			var back secrets.Sealed
			if err := back.UnmarshalBinary(marshal(t, s)); err != nil {
				t.Fatalf("UnmarshalBinary() = %v", err)
			}
			pt, err := secrets.Open(k, aad, back)
			if err != nil {
				t.Fatalf("Open() = %v", err)
			}
			if pt == nil || !bytes.Equal(pt, tt.plaintext) {
				t.Errorf("Open() = %d bytes (nil %t), want the %d bytes sealed", len(pt), pt == nil, len(tt.plaintext))
			}
		})
	}
}

func TestSealUsesFreshKeysAndNonces(t *testing.T) {
	k := newKEK(t)
	a := seal(t, k, aadFor("r"), "same")
	b := seal(t, k, aadFor("r"), "same")
	if a.WrappedKey == b.WrappedKey || a.KeyNonce == b.KeyNonce || a.Nonce == b.Nonce || bytes.Equal(a.Ciphertext, b.Ciphertext) {
		t.Errorf("sealing the same secret twice gave a repeated wrapped key, nonce or ciphertext")
	}
}

func TestSealRejects(t *testing.T) {
	k := newKEK(t)
	long := strings.Repeat("x", 4097)
	tests := []struct {
		name      string
		kek       *secrets.KEK
		aad       secrets.AAD
		plaintext []byte
	}{
		{"nil KEK", nil, aadFor("r"), []byte("p")},
		{"zero KEK", &secrets.KEK{}, aadFor("r"), []byte("p")},
		{"too large", k, aadFor("r"), make([]byte, secrets.MaxPlaintext+1)},
		{"empty org", k, secrets.AAD{RecordID: "r", Kind: "c"}, []byte("p")},
		{"empty record", k, secrets.AAD{OrgID: "o", Kind: "c"}, []byte("p")},
		{"empty kind", k, secrets.AAD{OrgID: "o", RecordID: "r"}, []byte("p")},
		{"negative version", k, secrets.AAD{OrgID: "o", RecordID: "r", Kind: "c", Version: -1}, []byte("p")},
		{"long field", k, secrets.AAD{OrgID: "o", RecordID: long, Kind: "c"}, []byte("p")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := secrets.Seal(tt.kek, tt.aad, tt.plaintext); err == nil {
				t.Errorf("Seal() = nil error, want an error")
			}
		})
	}
}

func TestOpenWrongKEK(t *testing.T) {
	sealer, other := newKEK(t), newKEK(t)
	s := seal(t, sealer, aadFor("r"), "hunter2")
	pt, err := secrets.Open(other, aadFor("r"), s)
	wantOpenErr(t, pt, err, secrets.ErrWrongKEK)
	var wk *secrets.WrongKEKError
	if !errors.As(err, &wk) || wk.Sealed != sealer.ID() {
		t.Fatalf("Open() error = %#v, want a *WrongKEKError naming %v", err, sealer.ID())
	}
	for _, id := range []string{sealer.ID().String(), other.ID().String()} {
		if !strings.Contains(err.Error(), id) {
			t.Errorf("Open() error %q does not name KEK %s", err, id)
		}
	}
}

func TestOpenAADMismatch(t *testing.T) {
	k := newKEK(t)
	aad := secrets.AAD{OrgID: "org-a", RecordID: "rec-1", Kind: "credential", Version: 3}
	s := seal(t, k, aad, "hunter2")
	tests := []struct {
		name string
		aad  secrets.AAD
	}{
		{"org", secrets.AAD{OrgID: "org-b", RecordID: "rec-1", Kind: "credential", Version: 3}},
		{"record", secrets.AAD{OrgID: "org-a", RecordID: "rec-2", Kind: "credential", Version: 3}},
		{"kind", secrets.AAD{OrgID: "org-a", RecordID: "rec-1", Kind: "idp_client_secret", Version: 3}},
		{"older version", secrets.AAD{OrgID: "org-a", RecordID: "rec-1", Kind: "credential", Version: 2}},
		{"newer version", secrets.AAD{OrgID: "org-a", RecordID: "rec-1", Kind: "credential", Version: 4}},
		// Plain concatenation would make these equal to the original.
		{"shifted boundary", secrets.AAD{OrgID: "org-ar", RecordID: "ec-1", Kind: "credential", Version: 3}},
		{"shifted boundary 2", secrets.AAD{OrgID: "org-a", RecordID: "rec-1c", Kind: "redential", Version: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := secrets.Open(k, tt.aad, s)
			wantOpenErr(t, pt, err, secrets.ErrAuth)
		})
	}
}

func TestSwapBetweenRecords(t *testing.T) {
	k := newKEK(t)
	aadA, aadB := aadFor("rec-a"), aadFor("rec-b")
	a := seal(t, k, aadA, "password of A")
	b := seal(t, k, aadB, "password of B")

	t.Run("whole blob", func(t *testing.T) {
		// Row A now holds B's blob: opening it as row A must fail.
		var swapped secrets.Sealed
		if err := swapped.UnmarshalBinary(marshal(t, b)); err != nil {
			t.Fatal(err)
		}
		pt, err := secrets.Open(k, aadA, swapped)
		wantOpenErr(t, pt, err, secrets.ErrAuth)
	})
	t.Run("payload only", func(t *testing.T) {
		swapped := a
		swapped.Nonce, swapped.Ciphertext = b.Nonce, b.Ciphertext
		pt, err := secrets.Open(k, aadA, swapped)
		wantOpenErr(t, pt, err, secrets.ErrAuth)
	})
	t.Run("wrapped key only", func(t *testing.T) {
		swapped := a
		swapped.KeyNonce, swapped.WrappedKey = b.KeyNonce, b.WrappedKey
		pt, err := secrets.Open(k, aadA, swapped)
		wantOpenErr(t, pt, err, secrets.ErrAuth)
	})
}

func TestTamperEveryByte(t *testing.T) {
	k := newKEK(t)
	aad := aadFor("r")
	blob := marshal(t, seal(t, k, aad, "hunter2 and more"))
	check := func(t *testing.T, b []byte) {
		t.Helper()
		var s secrets.Sealed
		if err := s.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, secrets.ErrMalformed) {
				t.Errorf("UnmarshalBinary() error = %v, want ErrMalformed", err)
			}
			return
		}
		pt, err := secrets.Open(k, aad, s)
		if err == nil || pt != nil {
			t.Fatalf("Open(tampered) = %d bytes, %v; want nil, an error", len(pt), err)
		}
		if !errors.Is(err, secrets.ErrAuth) && !errors.Is(err, secrets.ErrWrongKEK) && !errors.Is(err, secrets.ErrMalformed) {
			t.Errorf("Open(tampered) error = %v, want ErrAuth, ErrWrongKEK or ErrMalformed", err)
		}
	}
	for i := range blob {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(blob)
			b[i] ^= mask
			check(t, b)
		}
	}
	for n := range len(blob) {
		check(t, blob[:n])
	}
	check(t, append(bytes.Clone(blob), 0))
}

func TestOpenMalformed(t *testing.T) {
	k := newKEK(t)
	good := seal(t, k, aadFor("r"), "p")
	badVersion := good
	badVersion.Version = 2
	short := good
	short.Ciphertext = good.Ciphertext[:15]
	for _, tt := range []struct {
		name string
		s    secrets.Sealed
	}{{"zero", secrets.Sealed{}}, {"version", badVersion}, {"short ciphertext", short}} {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := secrets.Open(k, aadFor("r"), tt.s)
			wantOpenErr(t, pt, err, secrets.ErrMalformed)
			if _, err := tt.s.MarshalBinary(); !errors.Is(err, secrets.ErrMalformed) {
				t.Errorf("MarshalBinary() error = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestRewrap(t *testing.T) {
	oldK, newK := newKEK(t), newKEK(t)
	const n = 50
	sealed := make([]secrets.Sealed, n)
	for i := range n {
		sealed[i] = seal(t, oldK, aadFor(fmt.Sprintf("rec-%d", i)), fmt.Sprintf("secret number %d", i))
	}
	for i, s := range sealed {
		aad, want := aadFor(fmt.Sprintf("rec-%d", i)), fmt.Sprintf("secret number %d", i)
		r, err := secrets.Rewrap(oldK, newK, aad, s)
		if err != nil {
			t.Fatalf("Rewrap(%d) = %v", i, err)
		}
		if r.KEKID != newK.ID() || r.Nonce != s.Nonce || !bytes.Equal(r.Ciphertext, s.Ciphertext) {
			t.Errorf("Rewrap(%d) changed the payload or kept the old KEK ID", i)
		}
		if pt, err := secrets.Open(newK, aad, r); err != nil || string(pt) != want {
			t.Errorf("Open(new KEK, rewrapped %d) = %v, want the original secret", i, err)
		}
		pt, err := secrets.Open(oldK, aad, r)
		wantOpenErr(t, pt, err, secrets.ErrWrongKEK)
	}
}

func TestRewrapFailsClosed(t *testing.T) {
	oldK, newK, other := newKEK(t), newKEK(t), newKEK(t)
	s := seal(t, oldK, aadFor("r"), "p")
	if _, err := secrets.Rewrap(other, newK, aadFor("r"), s); !errors.Is(err, secrets.ErrWrongKEK) {
		t.Errorf("Rewrap(wrong from) error = %v, want ErrWrongKEK", err)
	}
	if _, err := secrets.Rewrap(oldK, newK, aadFor("other"), s); !errors.Is(err, secrets.ErrAuth) {
		t.Errorf("Rewrap(wrong AAD) error = %v, want ErrAuth", err)
	}
	broken := s
	broken.Ciphertext = bytes.Clone(s.Ciphertext)
	broken.Ciphertext[0] ^= 1
	if _, err := secrets.Rewrap(oldK, newK, aadFor("r"), broken); !errors.Is(err, secrets.ErrAuth) {
		t.Errorf("Rewrap(tampered payload) error = %v, want ErrAuth", err)
	}
	if pt, err := secrets.Open(&secrets.KEK{}, aadFor("r"), s); err == nil || pt != nil {
		t.Errorf("Open(zero KEK) = %v, want an error and no plaintext", err)
	}
	if _, err := secrets.Rewrap(oldK, nil, aadFor("r"), s); err == nil {
		t.Errorf("Rewrap(nil to) = nil error, want an error")
	}
}

func TestKeyringRotation(t *testing.T) {
	oldK, newK := newKEK(t), newKEK(t)
	before, err := secrets.NewKeyring(oldK)
	if err != nil {
		t.Fatal(err)
	}
	s, err := before.Seal(aadFor("r"), []byte("hunter2"))
	if err != nil {
		t.Fatal(err)
	}

	during, err := secrets.NewKeyring(newK, oldK, oldK, newK)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := during.Open(aadFor("r"), s); err != nil || string(pt) != "hunter2" {
		t.Fatalf("during.Open(old record) = %v, want the secret", err)
	}
	r, err := during.Rewrap(aadFor("r"), s)
	if err != nil || r.KEKID != newK.ID() {
		t.Fatalf("during.Rewrap() = KEK %v, %v; want KEK %v", r.KEKID, err, newK.ID())
	}
	again, err := during.Rewrap(aadFor("r"), r)
	if err != nil || again.KeyNonce != r.KeyNonce {
		t.Errorf("during.Rewrap(current record) = %v, changed %t; want it unchanged", err, again.KeyNonce != r.KeyNonce)
	}

	after, err := secrets.NewKeyring(newK)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := after.Open(aadFor("r"), r); err != nil || string(pt) != "hunter2" {
		t.Errorf("after.Open(rewrapped) = %v, want the secret", err)
	}
	pt, err := after.Open(aadFor("r"), s)
	wantOpenErr(t, pt, err, secrets.ErrWrongKEK)
	if k, ok := during.Lookup(oldK.ID()); !ok || k != oldK {
		t.Errorf("Lookup(old ID) = %v, %t; want the old KEK", k, ok)
	}
	if _, ok := after.Lookup(oldK.ID()); ok {
		t.Errorf("after.Lookup(old ID) found a KEK, want none")
	}
	if _, err := secrets.NewKeyring(nil); err == nil {
		t.Errorf("NewKeyring(nil) = nil error, want an error")
	}
}

func TestConcurrentUse(t *testing.T) {
	k := newKEK(t)
	ring, err := secrets.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				aad := secrets.AAD{OrgID: "o", RecordID: string(rune('a' + g)), Kind: "c", Version: i}
				s, err := ring.Seal(aad, []byte("p"))
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := ring.Open(aad, s); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
