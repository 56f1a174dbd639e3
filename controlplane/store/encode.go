package store

import (
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// ID prefixes tell at a glance what an ID names.
const (
	prefixDevice     = "dev_"
	prefixService    = "svc_"
	prefixToken      = "tok_"
	prefixPublish    = "pub_"
	prefixOrg        = "org_"
	prefixUser       = "usr_"
	prefixGroup      = "grp_"
	prefixFolder     = "fld_"
	prefixCredential = "cred_"
	prefixIdP        = "idp_"
	prefixLocalUser  = "lcl_"
	prefixSession    = "ses_"
	prefixAPIToken   = "pat_"
	prefixGrant      = "grt_"
	prefixRemote     = "rs_"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns prefix followed by 128 random bits in lowercase base32.
func newID(prefix string) string {
	var b [16]byte
	rand.Read(b[:]) // never fails
	return prefix + idEncoding.EncodeToString(b[:])
}

// orNewID returns id, or a fresh ID with prefix if id is empty.
func orNewID(id, prefix string) string {
	if id != "" {
		return id
	}
	return newID(prefix)
}

// Timestamps are stored as unix milliseconds; 0 (or NULL) is the zero time.

func toMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func fromNullMillis(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return fromMillis(ms.Int64)
}

func nullMillis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

// now is the store's clock for created_at/updated_at columns. Operations
// where expiry matters (Enroll) take the time from the caller instead.
func now() time.Time { return time.Now().UTC() }

// addrText is how overlay addresses are stored: the canonical text form,
// with IPv4-mapped IPv6 addresses unmapped.
func addrText(a netip.Addr) string { return a.Unmap().String() }

// scanAddr is a sql.Scanner for an overlay address column.
type scanAddr struct{ a *netip.Addr }

func (s scanAddr) Scan(src any) error {
	var text string
	switch v := src.(type) {
	case string:
		text = v
	case []byte:
		text = string(v)
	default:
		return fmt.Errorf("scanning address: unexpected %T", src)
	}
	a, err := netip.ParseAddr(strings.TrimSpace(text))
	if err != nil {
		return fmt.Errorf("scanning address: %w", err)
	}
	*s.a = a
	return nil
}

// scanMillis is a sql.Scanner for a unix-milliseconds column.
type scanMillis struct{ t *time.Time }

func (s scanMillis) Scan(src any) error {
	var n sql.NullInt64
	if err := n.Scan(src); err != nil {
		return err
	}
	*s.t = fromNullMillis(n)
	return nil
}

// nullText is how optional references are stored: "" is NULL.
func nullText(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// scanText is a sql.Scanner for an optional text column: NULL is "".
type scanText struct{ s *string }

func (s scanText) Scan(src any) error {
	var n sql.NullString
	if err := n.Scan(src); err != nil {
		return err
	}
	*s.s = n.String
	return nil
}

// notNilBytes keeps a NOT NULL BLOB column from receiving NULL for a nil slice.
func notNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
