// Package store persists the engine's state (engines, enrollment tokens,
// devices, services, publishes; organizations, users, memberships, groups,
// folders, credentials, IdPs, sessions, API tokens, grants, audit events)
// in SQLite or PostgreSQL behind one concrete type, Store. Org-scoped
// methods take the org's ID and never return or touch another org's rows. Both databases go through database/sql and share every query;
// a small dialect (placeholders, constraint errors, migrations, locks) is all
// that differs. Migrations are embedded and applied by Open.
//
// Package store imports both drivers directly (modernc.org/sqlite and pgx's
// database/sql adapter), so Open can dispatch on a URL without a registry
// and no backend subpackages are needed. It imports no other Warren package
// and must never be imported by agent/ (it links pgx).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers database/sql driver "pgx"
	_ "modernc.org/sqlite"             // registers database/sql driver "sqlite"
)

// FileName is the SQLite database file Open uses inside the data directory
// when no database URL is given.
const FileName = "warren.db"

// Store is the engine's persistent state. It is safe for concurrent use; the
// caller that opened it closes it.
type Store struct {
	d *dialect
	// db runs transactions and writes. On SQLite it holds a single
	// connection: writers queue in Go instead of spinning on SQLITE_BUSY.
	db *sql.DB
	// rdb runs reads outside transactions. On SQLite it is a separate pool
	// of read-only connections (WAL lets them run beside the writer); on
	// PostgreSQL it is db.
	rdb *sql.DB

	closeOnce sync.Once
	closeErr  error
}

// Open opens the database named by databaseURL and migrates it:
//
//	""                          SQLite file <dataDir>/warren.db
//	sqlite://PATH, sqlite:PATH  SQLite file PATH
//	postgres://..., postgresql://...  PostgreSQL through pgx
func Open(ctx context.Context, databaseURL, dataDir string) (*Store, error) {
	switch {
	case databaseURL == "":
		if dataDir == "" {
			return nil, errors.New("opening store: neither a database URL nor a data directory given")
		}
		return OpenSQLite(ctx, filepath.Join(dataDir, FileName))
	case strings.HasPrefix(databaseURL, "sqlite://"):
		return OpenSQLite(ctx, strings.TrimPrefix(databaseURL, "sqlite://"))
	case strings.HasPrefix(databaseURL, "sqlite:"):
		return OpenSQLite(ctx, strings.TrimPrefix(databaseURL, "sqlite:"))
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		return OpenPostgres(ctx, databaseURL)
	}
	scheme, _, _ := strings.Cut(databaseURL, ":")
	return nil, fmt.Errorf("opening store: unsupported database URL scheme %q (want sqlite or postgres)", scheme)
}

// OpenSQLite opens (creating it with mode 0600 if needed) the SQLite
// database file at path and migrates it. The directory is created with mode
// 0700 if missing.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("opening sqlite store: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("opening sqlite store: %w", err)
	}
	// SQLite creates the file with 0644 and its -wal/-shm files with the
	// mode of the database file: create it first so all three are 0600.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store: %w", err)
	}
	f.Close()

	const common = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", path+"?"+common+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	// The writer connects first so that the file is in WAL mode before any
	// reader opens it.
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	rdb, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening sqlite store: %w", err)
	}
	rdb.SetMaxOpenConns(8)
	rdb.SetMaxIdleConns(8)
	return open(ctx, sqliteDialect, db, rdb)
}

// OpenPostgres connects to the PostgreSQL database at url (a postgres:// URL
// or a keyword/value DSN that pgx accepts) and migrates it. Concurrent Opens
// from several engines are safe.
func OpenPostgres(ctx context.Context, url string) (*Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("opening postgres store: %w", err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening postgres store %s: %w", redact(url), err)
	}
	return open(ctx, postgresDialect, db, db)
}

func open(ctx context.Context, d *dialect, db, rdb *sql.DB) (*Store, error) {
	s := &Store{d: d, db: db, rdb: rdb}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Dialect names the database kind: "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.d.name }

// Close closes the database connections. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		err := s.db.Close()
		if s.rdb != s.db {
			err = errors.Join(err, s.rdb.Close())
		}
		s.closeErr = err
	})
	return s.closeErr
}

// redact hides the password of a URL for error messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs shared SQL (with ? placeholders) on a db or tx of one dialect
// and classifies constraint violations.
type conn struct {
	q querier
	d *dialect
}

func (c conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r, err := c.q.ExecContext(ctx, c.d.rebind(query), args...)
	return r, c.d.classify(err)
}

// execOne runs a statement that must affect exactly one row, and returns
// ErrNotFound if it affected none.
func (c conn) execOne(ctx context.Context, query string, args ...any) error {
	r, err := c.exec(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := r.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

func (c conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.q.QueryContext(ctx, c.d.rebind(query), args...)
}

func (c conn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, c.d.rebind(query), args...)
}

// lock takes the transaction-scoped lock key where the dialect needs one.
func (c conn) lock(ctx context.Context, key int64) error {
	if c.d.lockSQL == "" {
		return nil
	}
	_, err := c.exec(ctx, c.d.lockSQL, key)
	return err
}

// reader is for single reads outside a transaction.
func (s *Store) reader() conn { return conn{q: s.rdb, d: s.d} }

// writer is for single writes outside a transaction.
func (s *Store) writer() conn { return conn{q: s.db, d: s.d} }

// inTx runs fn in a transaction and commits if fn returns nil. fn must use
// only the conn it is given: on SQLite the writer pool has one connection.
func (s *Store) inTx(ctx context.Context, fn func(c conn) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(conn{q: tx, d: s.d}); err != nil {
		tx.Rollback()
		return err
	}
	return s.d.classify(tx.Commit())
}

// collect runs query and scans every row with scan.
func collect[T any](ctx context.Context, c conn, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := c.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// wrap gives err the context of an operation: a missing row (sql.ErrNoRows
// or ErrNotFound) becomes "<what>: not found", anything else "<op>: <err>".
func wrap(err error, what, op string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows), errors.Is(err, ErrNotFound):
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", op, err)
}
