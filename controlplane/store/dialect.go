package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is everything that differs between SQLite and PostgreSQL outside
// the migration files. All other SQL is shared and written with ? placeholders.
type dialect struct {
	name string
	// dollar rewrites ? placeholders to $1, $2, ...
	dollar bool
	// migrations is the directory of migrations in the embedded FS.
	migrations string
	// lockSQL, when set, takes a transaction-scoped lock keyed by its single
	// argument. SQLite needs none: its write transactions begin IMMEDIATE and
	// are therefore already serialized.
	lockSQL string
	// constraint maps a driver error to *ConflictError or errForeignKey, and
	// returns nil for any other error.
	constraint func(err error) error
}

var sqliteDialect = &dialect{
	name:       "sqlite",
	migrations: "migrations/sqlite",
	constraint: sqliteConstraint,
}

var postgresDialect = &dialect{
	name:       "postgres",
	dollar:     true,
	migrations: "migrations/postgres",
	lockSQL:    "SELECT pg_advisory_xact_lock(?)",
	constraint: postgresConstraint,
}

// Keys of the transaction-scoped advisory locks (PostgreSQL).
const (
	lockMigrate int64 = 0x77617272656e_01 // "warren" + 1
	lockEnroll  int64 = 0x77617272656e_02
	// lockGroups serializes group nesting, so that two concurrent
	// additions cannot close a cycle that neither saw.
	lockGroups int64 = 0x77617272656e_03
	// lockFolders does the same for folder moves.
	lockFolders int64 = 0x77617272656e_04
	// lockAdmins serializes changes that could remove the last platform admin.
	lockAdmins int64 = 0x77617272656e_05
	// lockSessions serializes remote session opens, so that concurrent
	// opens cannot exceed the session limits.
	lockSessions int64 = 0x77617272656e_06
)

// rebind rewrites ? placeholders for the dialect, leaving quoted text alone.
func (d *dialect) rebind(query string) string {
	if !d.dollar || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// classify turns constraint violations into the store's errors and leaves
// every other error as it is.
func (d *dialect) classify(err error) error {
	if err == nil {
		return nil
	}
	if c := d.constraint(err); c != nil {
		return c
	}
	return err
}

func sqliteConstraint(err error) error {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return nil
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqliteConflict(e.Error())
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w: %v", errForeignKey, err)
	}
	return nil
}

// sqliteConflict parses "UNIQUE constraint failed: services.device_id,
// services.name" into {services name}: in a composite key the parent column
// (the scope) is dropped so that both dialects report the same field.
func sqliteConflict(msg string) error {
	const marker = "constraint failed: "
	i := strings.LastIndex(msg, marker)
	if i < 0 {
		return &ConflictError{Field: "unknown"}
	}
	rest := msg[i+len(marker):]
	if j := strings.Index(rest, " ("); j >= 0 { // trailing " (2067)"
		rest = rest[:j]
	}
	var table string
	var fields []string
	for col := range strings.SplitSeq(rest, ",") {
		t, f, _ := strings.Cut(strings.TrimSpace(col), ".")
		table = t
		fields = append(fields, f)
	}
	if len(fields) > 1 && strings.HasSuffix(fields[0], "_id") {
		fields = fields[1:]
	}
	return &ConflictError{Table: table, Field: strings.Join(fields, ",")}
}

func postgresConstraint(err error) error {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return nil
	}
	switch e.Code {
	case "23505": // unique_violation
		return &ConflictError{Table: e.TableName, Field: postgresField(e.TableName, e.ConstraintName)}
	case "23503": // foreign_key_violation
		return fmt.Errorf("%w: %v", errForeignKey, err)
	}
	return nil
}

// postgresField derives the field from the naming convention the PostgreSQL
// migrations follow: <table>_pkey and <table>_<field>_key.
func postgresField(table, constraint string) string {
	if constraint == table+"_pkey" {
		return "id"
	}
	f := strings.TrimPrefix(constraint, table+"_")
	return strings.TrimSuffix(f, "_key")
}
