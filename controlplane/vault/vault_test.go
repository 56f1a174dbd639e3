package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warrenhq/warren/controlplane/secrets"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func newKEK(t *testing.T) *secrets.KEK {
	t.Helper()
	k, err := secrets.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyring(t *testing.T, current *secrets.KEK, previous ...*secrets.KEK) *secrets.Keyring {
	t.Helper()
	r, err := secrets.NewKeyring(current, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type fixture struct {
	st     *store.Store
	url    string
	org    store.Org
	folder store.Folder
}

func setup(t *testing.T, url string) fixture {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, url)
	org, err := st.CreateOrg(ctx, store.Org{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	folder, err := st.CreateFolder(ctx, store.Folder{OrgID: org.ID, Name: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{st: st, url: url, org: org, folder: folder}
}

func (f fixture) credential(i int) store.Credential {
	return store.Credential{OrgID: f.org.ID, ScopeType: store.ScopeFolder, ScopeID: f.folder.ID,
		Name: fmt.Sprintf("cred-%d", i), Username: "root", Kind: store.KindPassword}
}

func plaintext(i int) string { return fmt.Sprintf("s3cret-plaintext-%06d-xyzzy", i) }

func forEachBackend(t *testing.T, fn func(t *testing.T, url string)) {
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.URL(t)) })
	}
}

// TestNoPlaintextAtRest stores 1,000 secrets and searches a dump of the
// database and the logs for every plaintext; then rotates the KEK and checks
// every secret still opens, with the new KEK only.
func TestNoPlaintextAtRest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		ctx := context.Background()
		f := setup(t, url)
		var logs bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		kek1 := newKEK(t)
		v := New(f.st, keyring(t, kek1))
		const n = 1000
		ids := make([]string, n)
		for i := range n {
			c, err := v.CreateCredential(ctx, f.credential(i), secrets.Secret(plaintext(i)))
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = c.ID
			log.Info("credential stored", "credential", c, "secret", secrets.Secret(plaintext(i)))
		}
		kek2 := newKEK(t)
		rep, err := v.Rotate(ctx, kek2, log)
		if err != nil || rep.Credentials != n {
			t.Fatalf("Rotate() = %+v, %v; want %d credentials", rep, err, n)
		}
		dump := databaseDump(t, f)
		for i := range n {
			p := []byte(plaintext(i))
			if bytes.Contains(dump, p) || bytes.Contains(logs.Bytes(), p) {
				t.Fatalf("plaintext %d found at rest or in logs", i)
			}
		}
		for _, k := range []*secrets.KEK{kek1, kek2} {
			if bytes.Contains(logs.Bytes(), []byte(k.Export())) {
				t.Fatal("a KEK was logged")
			}
		}
		fresh := New(f.st, keyring(t, kek2))
		for i, id := range ids {
			_, pt, err := fresh.OpenCredential(ctx, f.org.ID, id)
			if err != nil || string(pt) != plaintext(i) {
				t.Fatalf("after rotation, credential %d: %v", i, err)
			}
		}
		stale := New(f.st, keyring(t, kek1))
		if _, _, err := stale.OpenCredential(ctx, f.org.ID, ids[0]); !errors.Is(err, secrets.ErrWrongKEK) {
			t.Errorf("old KEK after rotation: %v, want ErrWrongKEK", err)
		}
		// Running it again changes nothing.
		if rep, err := v.Rotate(ctx, kek2, nil); err != nil || rep.Unchanged != n {
			t.Errorf("second Rotate() = %+v, %v; want all unchanged", rep, err)
		}
	})
}

// databaseDump returns everything the database holds on disk (SQLite) or
// what pg_dump prints (PostgreSQL).
func databaseDump(t *testing.T, f fixture) []byte {
	t.Helper()
	if strings.HasPrefix(f.url, "postgres") {
		bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
		if len(bins) == 0 {
			t.Fatal("pg_dump not found")
		}
		out, err := exec.Command(bins[len(bins)-1], "--dbname", f.url).Output()
		if err != nil {
			t.Fatalf("pg_dump: %v", err)
		}
		return out
	}
	path := strings.TrimPrefix(strings.TrimPrefix(f.url, "sqlite://"), "sqlite:")
	var all []byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(path + suffix)
		if err == nil {
			all = append(all, b...)
		}
	}
	if len(all) == 0 {
		t.Fatalf("nothing read from %s", path)
	}
	return all
}

// TestSwappedCiphertextFails: a sealed secret copied onto another record
// does not open.
func TestSwappedCiphertextFails(t *testing.T) {
	ctx := context.Background()
	f := setup(t, storetest.SQLiteURL(t))
	v := New(f.st, keyring(t, newKEK(t)))
	a, err := v.CreateCredential(ctx, f.credential(1), secrets.Secret("alpha"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.CreateCredential(ctx, f.credential(2), secrets.Secret("beta"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.open(credentialAAD(a), b.Sealed); !errors.Is(err, secrets.ErrAuth) {
		t.Errorf("b's ciphertext on a = %v, want ErrAuth", err)
	}
	if pt, err := v.open(credentialAAD(a), a.Sealed); err != nil || string(pt) != "alpha" {
		t.Errorf("own ciphertext = %q, %v", pt, err)
	}
}

// TestRotateIdPSecrets: IdP client secrets rotate with the credentials.
func TestRotateIdPSecrets(t *testing.T) {
	ctx := context.Background()
	f := setup(t, storetest.SQLiteURL(t))
	kek1 := newKEK(t)
	v := New(f.st, keyring(t, kek1))
	p := store.IdP{ID: "idp_test1", OrgID: f.org.ID, Name: "corp", Issuer: "https://idp.example.com",
		ClientID: "warren", Domains: []string{"example.com"}, Version: 1}
	var err error
	p.ClientSecretSealed, p.KEKID, err = v.SealIdPSecret(p, secrets.Secret("client-secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateIdP(ctx, p); err != nil {
		t.Fatal(err)
	}
	kek2 := newKEK(t)
	if rep, err := v.Rotate(ctx, kek2, nil); err != nil || rep.IdPSecrets != 1 {
		t.Fatalf("Rotate() = %+v, %v", rep, err)
	}
	got, err := f.st.GetIdP(ctx, f.org.ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := New(f.st, keyring(t, kek2)).OpenIdPSecret(got)
	if err != nil || string(pt) != "client-secret" {
		t.Fatalf("IdP secret after rotation = %q, %v", pt, err)
	}
}
