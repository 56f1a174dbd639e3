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
