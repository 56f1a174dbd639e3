package secrets_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/warrenhq/warren/controlplane/secrets"
)

// keyMaterial returns the forms in which k's key must never appear.
func keyMaterial(t *testing.T, k *secrets.KEK) [][]byte {
	t.Helper()
	exported := bytes.Clone(k.Export())
	raw, err := base64.StdEncoding.DecodeString(string(exported))
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{exported, raw, []byte(hex.EncodeToString(raw)), []byte(fmt.Sprint(raw))}
}

func TestNoPlaintextAtRestOrInLogs(t *testing.T) {
	k := newKEK(t)
	ring, err := secrets.NewKeyring(k, newKEK(t))
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	plaintexts := make([]secrets.Secret, n)
	var blobs bytes.Buffer
	for i := range n {
		plaintexts[i] = secrets.Secret(fmt.Sprintf("pw-%04d-%s", i, rand.Text()))
		aad := aadFor(fmt.Sprintf("rec-%d", i))
		s, err := secrets.Seal(k, aad, plaintexts[i])
		if err != nil {
			t.Fatal(err)
		}
		blobs.Write(marshal(t, s))
		if pt, err := secrets.Open(k, aad, s); err != nil || !bytes.Equal(pt, plaintexts[i]) {
			t.Fatalf("Open(record %d) = %v, want its secret back", i, err)
		}
	}

	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		log := slog.New(h)
		for i, p := range plaintexts {
			log.Info("secret", "secret", p, "kek", k)
			log.Info("struct", "cred", struct {
				User     string
				Password secrets.Secret
			}{"alice", p})
			log.Info("group", slog.Group("g", slog.Any("p", p), slog.Any("ptr", &plaintexts[i])))
		}
		log.Info("keys", "kek", k, "kek_value", *k, "keyring", ring, "exported", k.Export())
		_, err := ring.Open(aadFor("x"), secrets.Sealed{Version: secrets.FormatV1, Ciphertext: make([]byte, 16)})
		log.Error("open failed", "err", err)
	}

	for i, p := range plaintexts {
		if bytes.Contains(blobs.Bytes(), p) {
			t.Fatalf("the sealed blobs contain plaintext %d", i)
		}
		if bytes.Contains(logs.Bytes(), p) {
			t.Fatalf("the logs contain plaintext %d", i)
		}
	}
	for _, m := range keyMaterial(t, k) {
		if bytes.Contains(blobs.Bytes(), m) || bytes.Contains(logs.Bytes(), m) {
			t.Fatalf("the blobs or logs contain the KEK")
		}
	}
	for _, want := range []string{"REDACTED", k.ID().String()} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the logs do not mention %q", want)
		}
	}
}

func TestSecretFormatting(t *testing.T) {
	s := secrets.Secret("hunter2")
	type cred struct {
		User     string
		Password secrets.Secret
	}
	values := []any{s, &s, cred{"alice", s}, &cred{"alice", s}, []secrets.Secret{s}, map[string]secrets.Secret{"p": s}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		for _, v := range values {
			if got := fmt.Sprintf(verb, v); strings.Contains(got, "hunter2") || strings.Contains(got, hex.EncodeToString(s)) || strings.Contains(got, "104 117") {
				t.Errorf("Sprintf(%q, %T) = %q, shows the secret", verb, v, got)
			}
		}
	}
	if got := s.String(); got != "REDACTED" {
		t.Errorf("String() = %q, want REDACTED", got)
	}
	if got := s.LogValue().String(); got != "REDACTED" {
		t.Errorf("LogValue() = %q, want REDACTED", got)
	}
	out, err := json.Marshal(cred{"alice", s})
	if err != nil || strings.Contains(string(out), "hunter2") {
		t.Errorf("json.Marshal(cred) = %s, %v; want the secret redacted", out, err)
	}
	var in cred
	if err := json.Unmarshal([]byte(`{"User":"bob","Password":"s3cret"}`), &in); err != nil || string(in.Password) != "s3cret" {
		t.Errorf("json.Unmarshal into a Secret = %q, %v; want s3cret", []byte(in.Password), err)
	}
	in.Password.Clear()
	if !bytes.Equal(in.Password, make([]byte, 6)) {
		t.Errorf("Clear() left %q, want zeros", []byte(in.Password))
	}
}

func TestKEKFormatting(t *testing.T) {
	k := newKEK(t)
	ring, err := secrets.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	type holder struct {
		K   *secrets.KEK
		V   secrets.KEK
		kek secrets.KEK // unexported: fmt calls no methods on it
	}
	values := []any{k, *k, holder{k, *k, *k}, &holder{k, *k, *k}, []*secrets.KEK{k}, ring, *ring}
	material := keyMaterial(t, k)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		for _, v := range values {
			got := fmt.Sprintf(verb, v)
			for _, m := range material {
				if strings.Contains(got, string(m)) {
					t.Errorf("Sprintf(%q, %T) = %q, shows the KEK", verb, v, got)
				}
			}
		}
	}
	if got, want := k.String(), "KEK("+k.ID().String()+")"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := fmt.Sprintf("%#v", k), k.String(); got != want {
		t.Errorf("Sprintf(%%#v) = %q, want %q", got, want)
	}
	if got, want := k.LogValue().String(), k.ID().String(); got != want {
		t.Errorf("LogValue() = %q, want %q", got, want)
	}
	var wk *secrets.WrongKEKError
	_, err = secrets.Open(newKEK(t), aadFor("r"), seal(t, k, aadFor("r"), "p"))
	if !errors.As(err, &wk) {
		t.Fatalf("Open(other KEK) error = %v, want *WrongKEKError", err)
	}
	for _, m := range material {
		if strings.Contains(err.Error(), string(m)) {
			t.Errorf("WrongKEKError %q shows the KEK", err)
		}
	}
}
