package acl_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/store/storetest"
)

// TestMain stops the PostgreSQL cluster storetest may have started, then
// checks that no goroutine outlived its owner (Close of every Embedded,
// Remote and Oracle, OpenFGA's included).
func TestMain(m *testing.M) {
	code := m.Run()
	if err := storetest.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// newEmbedded starts an in-memory OpenFGA, closed when the test ends.
func newEmbedded(t testing.TB) *acl.Embedded {
	t.Helper()
	a, err := acl.NewEmbedded(context.Background(), acl.EmbeddedConfig{})
	if err != nil {
		t.Fatalf("NewEmbedded() = %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func tu(user, relation, object string) acl.Tuple {
	return acl.Tuple{User: user, Relation: relation, Object: object}
}

type writer interface {
	Write(ctx context.Context, writes, deletes []acl.Tuple) error
}

// write writes ts in chunks of 100 (a remote server's default bound).
func write(t testing.TB, w writer, ts ...acl.Tuple) {
	t.Helper()
	for len(ts) > 0 {
		n := min(len(ts), 100)
		if err := w.Write(context.Background(), ts[:n], nil); err != nil {
			t.Fatalf("Write(%d tuples) = %v", n, err)
		}
		ts = ts[n:]
	}
}

func check(t testing.TB, a acl.Authorizer, user, relation, object string) bool {
	t.Helper()
	ok, err := a.Check(context.Background(), tu(user, relation, object))
	if err != nil {
		t.Fatalf("Check(%s %s %s) = %v", user, relation, object, err)
	}
	return ok
}
