package controlplane_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/warrenhq/warren/controlplane"
	"github.com/warrenhq/warren/controlplane/secrets"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/store/storetest"
	"github.com/warrenhq/warren/controlplane/vault"
)

// TestDataDirKEKRotation: the embedded default's KEK is created on first
// start, rotated (also when the rotation stops half-way) and every secret
// stays readable.
func TestDataDirKEKRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st := storetest.Open(t, storetest.SQLiteURL(t))
	org, _ := st.CreateOrg(ctx, store.Org{Name: "Acme", Slug: "acme"})
	folder, _ := st.CreateFolder(ctx, store.Folder{OrgID: org.ID, Name: "prod"})

	keys, err := controlplane.LoadKeyring(dir, controlplane.KEKConfig{}, log)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, controlplane.KEKFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("KEK file: %v, %v", fi, err)
	}
	c, err := vault.New(st, keys).CreateCredential(ctx, store.Credential{OrgID: org.ID, ScopeType: store.ScopeFolder,
		ScopeID: folder.ID, Name: "root", Username: "root", Kind: store.KindPassword}, secrets.Secret("hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	readable := func(what string) {
		t.Helper()
		keys, err := controlplane.LoadKeyring(dir, controlplane.KEKConfig{}, log)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if _, pt, err := vault.New(st, keys).OpenCredential(ctx, org.ID, c.ID); err != nil || string(pt) != "hunter2" {
			t.Fatalf("%s: credential = %q, %v", what, pt, err)
		}
	}

	// A rotation interrupted after re-sealing but before installing the key.
	next, err := controlplane.StageKEK(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vault.New(st, keys).Rotate(ctx, next, log); err != nil {
		t.Fatal(err)
	}
	readable("after an interrupted rotation")

	// Running it again picks the staged key up and finishes.
	keys, _ = controlplane.LoadKeyring(dir, controlplane.KEKConfig{}, log)
	again, err := controlplane.StageKEK(dir)
	if err != nil || again.ID() != next.ID() {
		t.Fatalf("StageKEK again = %v, %v; want the staged key", again, err)
	}
	if _, err := vault.New(st, keys).Rotate(ctx, again, log); err != nil {
		t.Fatal(err)
	}
	if err := controlplane.InstallRotatedKEK(dir); err != nil {
		t.Fatal(err)
	}
	readable("after the rotation")
	cur, err := secrets.LoadKEK("", filepath.Join(dir, controlplane.KEKFile))
	if err != nil || cur.ID() != next.ID() {
		t.Fatalf("installed KEK = %v, %v; want %v", cur, err, next)
	}
}
