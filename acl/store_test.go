package acl_test

import (
	"context"
	"errors"
	"testing"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/store/storetest"
)

// TestSQLitePersists runs OpenFGA on the engine's own SQLite file (Warren's
// schema already in it), closes it, and reopens it: same store, same model,
// same tuples.
func TestSQLitePersists(t *testing.T) {
	url := storetest.SQLiteURL(t)
	storetest.Open(t, url) // Warren's tables first: OpenFGA's must coexist
	testPersists(t, acl.EmbeddedConfig{Datastore: acl.DatastoreSQLite, URI: url})
}

// TestPostgresPersists does the same on a migrated PostgreSQL database.
func TestPostgresPersists(t *testing.T) {
	url := storetest.PostgresURL(t)
	testPersists(t, acl.EmbeddedConfig{Datastore: acl.DatastorePostgres, URI: url})
}

func testPersists(t *testing.T, cfg acl.EmbeddedConfig) {
	ctx := context.Background()
	a, err := acl.NewEmbedded(ctx, cfg)
	if err != nil {
		t.Fatalf("NewEmbedded(%s) = %v", cfg.Datastore, err)
	}
	write(t, a, acme()...)
	if !check(t, a, "user:dave", "connect", "device:db-1") {
		t.Fatal("dave cannot connect to db-1")
	}
	storeID, modelID := a.StoreID(), a.ModelID()
	if err := a.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close() = %v", err)
	}
	if _, err := a.Check(ctx, tu("user:dave", "connect", "device:db-1")); !errors.Is(err, acl.ErrClosed) {
		t.Fatalf("Check() after Close = %v, want ErrClosed", err)
	}

	b, err := acl.NewEmbedded(ctx, cfg)
	if err != nil {
		t.Fatalf("reopening: NewEmbedded(%s) = %v", cfg.Datastore, err)
	}
	defer b.Close()
	if b.StoreID() != storeID || b.ModelID() != modelID {
		t.Errorf("reopened store, model = %s, %s, want %s, %s", b.StoreID(), b.ModelID(), storeID, modelID)
	}
	if !check(t, b, "user:dave", "connect", "device:db-1") || check(t, b, "user:erin", "connect", "device:db-1") {
		t.Error("reopened authorizer answers differently")
	}
	c := acl.NewCompiler(b, nil)
	tab, err := c.Compile(ctx, []string{"alice", "erin"}, acmeServices)
	if err != nil {
		t.Fatalf("Compile() = %v", err)
	}
	if !tab.Allowed("alice", "db-1", 22) || tab.Allowed("erin", "db-1", 22) {
		t.Error("compiled table is wrong")
	}
}
