// Package storetest is the test harness of package store: fresh SQLite and
// PostgreSQL databases per test, and the conformance suite (Run) that both
// backends must pass. Tests of other packages use it to get a real store:
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
//
//	func TestX(t *testing.T) {
//		s := storetest.SQLite(t) // or storetest.Postgres(t)
//		...
//	}
//
// PostgreSQL comes from WARREN_TEST_DATABASE_URL when set, else from a
// throwaway cluster this package starts once per test binary from the
// system's initdb and postgres binaries. Where neither is possible the test
// is skipped loudly, or fails if WARREN_TEST_REQUIRE is "all" or names
// "postgres".
//
// A TestMain that needs its own wrapping of m.Run (goleak) calls Stop
// after m.Run instead of Main.
//
// Only tests import storetest; it imports store and the pgx driver, never
// another Warren package.
package storetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

// Environment variables the harness reads.
const (
	// EnvDatabaseURL names a PostgreSQL server to use instead of a
	// throwaway cluster; the harness creates and drops its own databases
	// there, so the URL's role needs CREATEDB.
	EnvDatabaseURL = "WARREN_TEST_DATABASE_URL"
	// EnvRequire turns skips for missing parts into failures: "all", or a
	// list that contains "postgres".
	EnvRequire = "WARREN_TEST_REQUIRE"
)

// Backend is a way to get a fresh database URL for a test.
type Backend struct {
	Name string // "sqlite" or "postgres"
	URL  func(t testing.TB) string
}

// Backends lists every backend, for tests that run against each:
//
//	for _, b := range storetest.Backends {
//		t.Run(b.Name, func(t *testing.T) { url := b.URL(t); ... })
//	}
var Backends = []Backend{
	{Name: "sqlite", URL: SQLiteURL},
	{Name: "postgres", URL: PostgresURL},
}

// Main runs the tests, calls Stop and exits. Call it from TestMain. It
// starts nothing itself.
func Main(m *testing.M) {
	code := m.Run()
	if err := Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
	}
	os.Exit(code)
}

// Stop stops whatever the harness started (the throwaway PostgreSQL
// cluster, the template database). Call it after m.Run in a TestMain that
// cannot use Main, e.g. before a goleak check: until Stop, the goroutine
// (*cluster).run waits for the postgres process.
func Stop() error {
	pg.stop.Do(func() {
		if pg.srv != nil {
			pg.stopErr = pg.srv.shutdown()
		}
	})
	return pg.stopErr
}

// SQLiteURL returns the URL of a SQLite database file, not yet created, in
// a directory removed when the test ends.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), store.FileName)
}

// SQLite returns a store on a fresh SQLite database, closed when the test
// ends.
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	return Open(t, SQLiteURL(t))
}

// Postgres returns a store on a fresh PostgreSQL database, closed and
// dropped when the test ends.
func Postgres(t testing.TB) *store.Store {
	t.Helper()
	return Open(t, PostgresURL(t))
}

// Open opens url with store.Open, failing the test on error, and closes the
// store when the test ends.
func Open(t testing.TB, url string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, url, "")
	if err != nil {
		t.Fatalf("store.Open(%s) = %v", url, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	return s
}

// required reports whether WARREN_TEST_REQUIRE makes part mandatory.
func required(part string) bool {
	v := os.Getenv(EnvRequire)
	return v == "all" || strings.Contains(v, part)
}
