package store

import (
	"context"
	"database/sql"
	"strings"
)

// SetEnrollHook makes f run inside every enrollment transaction right
// before the device insert, with exec running SQL (? placeholders) in that
// transaction. It returns a function that removes the hook. Not safe to
// use while other enrollments run.
func SetEnrollHook(f func(ctx context.Context, exec func(query string, args ...any) error, d Device) error) (restore func()) {
	testHookBeforeInsert = func(ctx context.Context, c conn, d Device) error {
		return f(ctx, func(query string, args ...any) error {
			_, err := c.exec(ctx, query, args...)
			return err
		}, d)
	}
	return func() { testHookBeforeInsert = nil }
}

// OpenAtVersion opens the database at url (sqlite://PATH or a postgres://
// URL) with a single connection and migrates it only up to version, so
// that tests can fill an old schema before Migrate brings it up to date.
func OpenAtVersion(ctx context.Context, url string, version int64) (*Store, error) {
	d, driver, dsn := postgresDialect, "pgx", url
	if path, ok := strings.CutPrefix(url, "sqlite://"); ok {
		d, driver, dsn = sqliteDialect, "sqlite", path+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	s := &Store{d: d, db: db, rdb: db}
	if err := s.migrate(ctx, version); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Exec runs raw SQL (? placeholders) outside any transaction.
func (s *Store) Exec(ctx context.Context, query string, args ...any) error {
	_, err := s.writer().exec(ctx, query, args...)
	return err
}
