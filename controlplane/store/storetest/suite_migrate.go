package storetest

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

// testMigrations: several engines open the same database at once, then it
// is reopened; migrations apply once and data survives.
func testMigrations(t *testing.T, newURL func(testing.TB) string) {
	url := newURL(t)
	const engines = 4
	stores := make([]*store.Store, engines)
	errs := make([]error, engines)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i := range engines {
		wg.Go(func() { stores[i], errs[i] = store.Open(ctx, url, "") })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent store.Open #%d = %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	d := mustEnroll(t, stores[0], "alpha")
	for i, s := range stores {
		if err := s.Migrate(ctx); err != nil {
			t.Errorf("Migrate() again on #%d = %v", i, err)
		}
		if got, err := s.GetDevice(ctx, d.ID); err != nil || got != d {
			t.Errorf("GetDevice() through #%d = %+v, %v, want %+v", i, got, err, d)
		}
	}
	for _, s := range stores {
		s.Close()
	}
	s := Open(t, url)
	if got, err := s.GetDevice(ctx, d.ID); err != nil || got != d {
		t.Errorf("GetDevice() after reopen = %+v, %v, want %+v", got, err, d)
	}
}

func testFileMode(t *testing.T, newURL func(testing.TB) string) {
	url := newURL(t)
	path, ok := strings.CutPrefix(url, "sqlite://")
	if !ok {
		t.Skip("not a SQLite database")
	}
	s := Open(t, url)
	mustEnroll(t, s, "alpha") // so that the WAL exists
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("stat %s: %v", p, err)
			continue
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("mode of %s = %o, want 600", p, mode)
		}
	}
}

func testClose(t *testing.T, newURL func(testing.TB) string) {
	s, err := store.Open(t.Context(), newURL(t), "")
	if err != nil {
		t.Fatalf("store.Open() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v", err)
	}
	if _, err := s.ListDevices(t.Context()); err == nil {
		t.Errorf("ListDevices() after Close = nil error, want one")
	}
}
