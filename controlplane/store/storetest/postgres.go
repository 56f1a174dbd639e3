package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/warrenhq/warren/controlplane/store"
)

// pgServer is the PostgreSQL server of this test binary: an external one
// (WARREN_TEST_DATABASE_URL) or a throwaway cluster.
type pgServer struct {
	admin   *sql.DB  // connection to the maintenance database
	base    *url.URL // server URL; the path is set per database
	prefix  string   // database names of this test binary start with it
	cluster *cluster // nil for an external server
	// cloneOpts ends CREATE DATABASE ... TEMPLATE: FILE_COPY on our own
	// cluster (its checkpoints are free with fsync off, and it is 4x faster
	// than the default WAL_LOG on small databases), nothing elsewhere.
	cloneOpts string

	n  atomic.Int64
	mu sync.Mutex // serializes CREATE DATABASE ... TEMPLATE
}

var pg struct {
	once sync.Once
	srv  *pgServer
	skip string // why PostgreSQL tests skip, if they do
	err  error

	stop    sync.Once
	stopErr error
}

// templateName is the migrated database every test database is cloned from.
func (s *pgServer) templateName() string { return s.prefix + "template" }

func (s *pgServer) url(db string) string {
	u := *s.base
	u.Path = "/" + db
	return u.String()
}

// postgresServer starts (once) and returns the server, or ends the test.
func postgresServer(t testing.TB) *pgServer {
	t.Helper()
	pg.once.Do(func() { pg.srv, pg.skip, pg.err = startPostgres() })
	if pg.skip != "" {
		if required("postgres") {
			t.Fatalf("PostgreSQL is required (%s=%q) but unavailable: %s", EnvRequire, os.Getenv(EnvRequire), pg.skip)
		}
		t.Skipf("SKIPPING PostgreSQL TEST: %s. Install PostgreSQL (apt-get install postgresql) or set %s; "+
			"%s=all turns this skip into a failure", pg.skip, EnvDatabaseURL, EnvRequire)
	}
	if pg.err != nil {
		t.Fatalf("starting PostgreSQL for tests: %v", pg.err)
	}
	return pg.srv
}

// PostgresURL returns the URL of a fresh, migrated PostgreSQL database (a
// clone of the harness's template), dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	return postgresDatabase(t, true)
}

// EmptyPostgresURL returns the URL of a fresh PostgreSQL database with no
// schema at all, dropped when the test ends.
func EmptyPostgresURL(t testing.TB) string {
	t.Helper()
	return postgresDatabase(t, false)
}

func postgresDatabase(t testing.TB, migrated bool) string {
	t.Helper()
	srv := postgresServer(t)
	name := srv.prefix + "t" + strconv.FormatInt(srv.n.Add(1), 10)
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if migrated {
		stmt += " TEMPLATE " + pgx.Identifier{srv.templateName()}.Sanitize() + srv.cloneOpts
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv.mu.Lock()
	_, err := srv.admin.ExecContext(ctx, stmt)
	srv.mu.Unlock()
	if err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.dropDatabase(name); err != nil {
			t.Logf("dropping test database %s: %v", name, err)
		}
	})
	return srv.url(name)
}

// dropDatabase drops db, disconnecting whoever still uses it.
func (s *pgServer) dropDatabase(db string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q := "DROP DATABASE IF EXISTS " + pgx.Identifier{db}.Sanitize()
	_, err := s.admin.ExecContext(ctx, q+" WITH (FORCE)")
	if err != nil { // FORCE needs PostgreSQL 13
		_, err = s.admin.ExecContext(ctx, q)
	}
	return err
}

// startPostgres connects to the external server or starts a cluster, then
// creates the migrated template. A non-empty skip means PostgreSQL is not
// available here.
func startPostgres() (srv *pgServer, skip string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv = &pgServer{prefix: "warren_" + randomHex(4) + "_"}
	rawURL := os.Getenv(EnvDatabaseURL)
	if rawURL == "" {
		bin, reason := findPostgres()
		if reason != "" {
			return nil, reason, nil
		}
		cred, err := credential()
		if err != nil {
			return nil, err.Error(), nil
		}
		if srv.cluster, err = startCluster(ctx, bin, cred); err != nil {
			return nil, "", err
		}
		rawURL = srv.cluster.url()
	}
	if err := srv.connect(ctx, rawURL); err != nil {
		srv.shutdown()
		return nil, "", err
	}
	if err := srv.createTemplate(ctx); err != nil {
		srv.shutdown()
		return nil, "", err
	}
	return srv, "", nil
}

func (s *pgServer) connect(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fmt.Errorf("%s must be a postgres:// URL", EnvDatabaseURL)
	}
	s.base = u
	s.admin, err = sql.Open("pgx", rawURL)
	if err != nil {
		return err
	}
	s.admin.SetMaxOpenConns(4)
	if err := s.admin.PingContext(ctx); err != nil {
		return fmt.Errorf("connecting to %s: %w", u.Redacted(), err)
	}
	if s.cluster == nil {
		return nil
	}
	var version int
	if err := s.admin.QueryRowContext(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return err
	}
	if version >= 150000 {
		s.cloneOpts = " STRATEGY FILE_COPY"
	}
	return nil
}

func (s *pgServer) createTemplate(ctx context.Context) error {
	tpl := s.templateName()
	if _, err := s.admin.ExecContext(ctx, "CREATE DATABASE "+pgx.Identifier{tpl}.Sanitize()); err != nil {
		return fmt.Errorf("creating template database: %w", err)
	}
	st, err := store.OpenPostgres(ctx, s.url(tpl))
	if err != nil {
		return fmt.Errorf("migrating template database: %w", err)
	}
	return st.Close()
}

// shutdown drops the template and stops the cluster, if any.
func (s *pgServer) shutdown() error {
	var errs []error
	if s.admin != nil {
		if s.cluster == nil && s.base != nil {
			errs = append(errs, s.dropDatabase(s.templateName()))
		}
		errs = append(errs, s.admin.Close())
	}
	if s.cluster != nil {
		errs = append(errs, s.cluster.stop())
	}
	return errors.Join(errs...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
