package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestSQLite(t *testing.T) { storetest.Run(t, storetest.SQLiteURL) }

func TestPostgres(t *testing.T) { storetest.Run(t, storetest.PostgresURL) }

// TestPostgresFirstOpenRace: engines starting at once on an empty database
// migrate it exactly once (the advisory lock).
func TestPostgresFirstOpenRace(t *testing.T) {
	url := storetest.EmptyPostgresURL(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			s, err := store.Open(t.Context(), url, "")
			if err != nil {
				t.Errorf("store.Open #%d = %v", i, err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
}

func TestOpenDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, err := store.Open(t.Context(), "", dir)
	if err != nil {
		t.Fatalf("store.Open(\"\", dir) = %v", err)
	}
	defer s.Close()
	if s.Dialect() != "sqlite" {
		t.Errorf("Dialect() = %q, want sqlite", s.Dialect())
	}
	fi, err := os.Stat(filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode of %s = %o, want 600", store.FileName, mode)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if mode := di.Mode().Perm(); mode != 0o700 {
		t.Errorf("mode of data dir = %o, want 700", mode)
	}
}

func TestOpenBadURL(t *testing.T) {
	for _, u := range []string{"mysql://x", "nonsense"} {
		if s, err := store.Open(t.Context(), u, t.TempDir()); err == nil {
			s.Close()
			t.Errorf("store.Open(%q) = nil error, want one", u)
		}
	}
	if _, err := store.Open(t.Context(), "", ""); err == nil {
		t.Errorf("store.Open(\"\", \"\") = nil error, want one")
	}
}

// TestEnrollRetry makes enrollments lose the race for their address (a
// device appears at it inside the transaction, as a concurrent enrollment
// would have put it there) and checks that Enroll retries and then gives up.
func TestEnrollRetry(t *testing.T) {
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			s := storetest.Open(t, b.URL(t))
			ctx := t.Context()
			prefix := netip.MustParsePrefix("10.1.0.0/24")
			stolen := 0 // how many attempts lose the race
			attempts := 0
			defer store.SetEnrollHook(func(ctx context.Context, exec func(string, ...any) error, d store.Device) error {
				attempts++
				if attempts > stolen {
					return nil
				}
				return exec(`INSERT INTO devices (id, name, public_key, overlay_ip, created_at) VALUES (?, ?, ?, ?, 0)`,
					fmt.Sprintf("dev_thief%d", attempts), fmt.Sprintf("thief%d", attempts),
					fmt.Sprintf("thiefkey%d", attempts), d.OverlayIP.String())
			})()
			enroll := func(key string) (store.Device, error) {
				hash := sha256.Sum256([]byte(key))
				_, err := s.CreateEnrollToken(ctx, store.EnrollToken{Hash: hash[:], ExpiresAt: time.Now().Add(time.Hour)})
				if err != nil {
					t.Fatalf("CreateEnrollToken() = %v", err)
				}
				return s.Enroll(ctx, store.EnrollRequest{TokenHash: hash[:], Prefix: prefix,
					Device: store.Device{PublicKey: key, Hostname: key}})
			}

			stolen, attempts = 2, 0
			d, err := enroll("a")
			if err != nil {
				t.Fatalf("Enroll() after 2 lost races = %v", err)
			}
			if attempts != 3 || d.OverlayIP != netip.MustParseAddr("10.1.0.0") {
				t.Errorf("Enroll() took %d attempts and got %v, want 3 attempts and 10.1.0.0", attempts, d.OverlayIP)
			}

			stolen, attempts = 1000, 0
			_, err = enroll("b")
			var c *store.ConflictError
			if !errors.As(err, &c) || c.Field != "overlay_ip" || attempts < 2 || attempts > 10 {
				t.Errorf("Enroll() always losing = %v after %d attempts, want an overlay_ip conflict after a few", err, attempts)
			}
			if ds, _ := s.ListDevices(ctx); len(ds) != 1 {
				t.Errorf("ListDevices() has %d devices, want 1 (the thieves rolled back)", len(ds))
			}
		})
	}
}

// TestMigrateTenancy applies migration 0002 to a database that 0001 created
// and an engine filled: the devices, services, publishes and tokens stay as
// they were, belong to no organization, and can be placed in one.
func TestMigrateTenancy(t *testing.T) {
	for _, b := range []storetest.Backend{
		{Name: "sqlite", URL: storetest.SQLiteURL},
		{Name: "postgres", URL: storetest.EmptyPostgresURL},
	} {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			url := b.URL(t)
			old, err := store.OpenAtVersion(ctx, url, 1)
			if err != nil {
				t.Fatalf("OpenAtVersion(1) = %v", err)
			}
			hash := sha256.Sum256([]byte("old-token"))
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`INSERT INTO devices (id, name, public_key, overlay_ip, hostname, created_at, last_handshake, disabled)
					VALUES ('dev_1', 'web-1', 'key-1', '100.96.0.2', 'web-1', 1000, 2000, ?)`, []any{false}},
				{`INSERT INTO devices (id, name, public_key, overlay_ip, created_at, disabled)
					VALUES ('dev_2', 'db-1', 'key-2', '100.96.0.3', 1000, ?)`, []any{true}},
				{`INSERT INTO services (id, device_id, name, protocol, port, target, created_at)
					VALUES ('svc_1', 'dev_1', 'ssh', 'ssh', 22, '127.0.0.1:22', 1000)`, nil},
				{`INSERT INTO publishes (id, service_id, listen, created_at) VALUES ('pub_1', 'svc_1', ':2201', 1000)`, nil},
				{`INSERT INTO enroll_tokens (id, token_hash, created_at, expires_at) VALUES ('tok_1', ?, 1000, ?)`,
					[]any{hash[:], time.Now().Add(time.Hour).UnixMilli()}},
			} {
				if err := old.Exec(ctx, q.sql, q.args...); err != nil {
					t.Fatalf("filling the 0001 schema: %v", err)
				}
			}
			old.Close()

			s := storetest.Open(t, url) // migrates to the latest version
			devs, err := s.ListDevices(ctx)
			if err != nil || len(devs) != 2 {
				t.Fatalf("ListDevices() after migrating = %+v, %v, want 2", devs, err)
			}
			want := store.Device{ID: "dev_1", Name: "web-1", PublicKey: "key-1", OverlayIP: netip.MustParseAddr("100.96.0.2"),
				Hostname: "web-1", CreatedAt: time.UnixMilli(1000).UTC(), LastHandshake: time.UnixMilli(2000).UTC()}
			if devs[1] != want || !devs[0].Disabled || devs[0].OrgID != "" {
				t.Errorf("ListDevices() after migrating = %+v, want %+v and a disabled db-1, no orgs", devs, want)
			}
			if ps, err := s.ListPublishes(ctx); err != nil || len(ps) != 1 || ps[0].DeviceName != "web-1" {
				t.Errorf("ListPublishes() after migrating = %+v, %v, want web-1's", ps, err)
			}
			// The old token still enrolls, into no organization.
			d, err := s.Enroll(ctx, store.EnrollRequest{TokenHash: hash[:], Prefix: netip.MustParsePrefix("100.96.0.0/24"),
				Reserved: []netip.Addr{netip.MustParseAddr("100.96.0.0")}, Device: store.Device{PublicKey: "key-3", Hostname: "app"}})
			if err != nil || d.OrgID != "" || d.OverlayIP != netip.MustParseAddr("100.96.0.1") {
				t.Errorf("Enroll(0001 token) = %+v, %v, want 100.96.0.1 in no org", d, err)
			}

			org, err := s.CreateOrg(ctx, store.Org{Name: "Acme", Slug: "acme"})
			if err != nil {
				t.Fatalf("CreateOrg() = %v", err)
			}
			f, err := s.CreateFolder(ctx, store.Folder{OrgID: org.ID, Name: "prod"})
			if err != nil {
				t.Fatalf("CreateFolder() = %v", err)
			}
			if err := s.AssignDeviceOrg(ctx, "dev_1", org.ID, f.ID); err != nil {
				t.Fatalf("AssignDeviceOrg(0001 device) = %v", err)
			}
			if ds, err := s.ListOrgDevices(ctx, org.ID); err != nil || len(ds) != 1 || ds[0].ID != "dev_1" || ds[0].FolderID != f.ID {
				t.Errorf("ListOrgDevices() = %+v, %v, want dev_1 in %s", ds, err, f.ID)
			}
			u, _, err := s.UpsertUserIdentity(ctx, "https://idp.example", "alice", "alice@example.com", "Alice")
			if err != nil {
				t.Fatalf("UpsertUserIdentity() = %v", err)
			}
			if _, err := s.AddMember(ctx, store.Membership{OrgID: org.ID, UserID: u.ID, Role: store.RoleMember}); err != nil {
				t.Fatalf("AddMember() = %v", err)
			}
			g, err := s.CreateGrant(ctx, store.Grant{OrgID: org.ID, SubjectType: store.SubjectUser, SubjectID: u.ID,
				Relation: "connect", ObjectType: store.ObjectDevice, ObjectID: "dev_1"})
			if err != nil {
				t.Fatalf("CreateGrant(on a 0001 device) = %v", err)
			}
			if err := s.DeleteDevice(ctx, "dev_1"); err != nil {
				t.Fatalf("DeleteDevice() = %v", err)
			}
			if _, err := s.GetGrant(ctx, org.ID, g.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetGrant(on deleted device) = %v, want ErrNotFound", err)
			}
		})
	}
}
