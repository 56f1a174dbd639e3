package acl_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	openfgav1 "github.com/openfga/api/proto/openfga/v1"

	"github.com/warrenhq/warren/acl"
)

const token = "s3cret"

// serveHTTP serves e's OpenFGA HTTP API, as an external OpenFGA would, and
// requires the bearer token.
func serveHTTP(t *testing.T, e *acl.Embedded) string {
	t.Helper()
	mux := runtime.NewServeMux()
	if err := openfgav1.RegisterOpenFGAServiceHandlerServer(context.Background(), mux, acl.EmbeddedServer(e)); err != nil {
		t.Fatalf("RegisterOpenFGAServiceHandlerServer() = %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"code":"unauthenticated","message":"bad token"}`, http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func newRemote(t *testing.T, cfg acl.RemoteConfig) *acl.Remote {
	t.Helper()
	r, err := acl.NewRemote(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewRemote() = %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRemote(t *testing.T) {
	ctx := context.Background()
	e := newEmbedded(t)
	url := serveHTTP(t, e)
	r := newRemote(t, acl.RemoteConfig{URL: url, Token: token, StoreName: "remote"})
	if r.StoreID() == e.StoreID() {
		t.Fatal("the remote store is the embedded one's")
	}
	write(t, r, acme()...)
	write(t, r, acme()[:3]...) // existing tuples: skipped, not an error
	if err := r.Write(ctx, nil, []acl.Tuple{tu("user:nobody", "viewer", "device:db-1")}); err != nil {
		t.Fatalf("deleting a missing tuple: %v", err)
	}
	if !check(t, r, "user:dave", "connect", "device:db-1") || check(t, r, "user:erin", "connect", "device:db-1") {
		t.Error("remote Check answers wrongly")
	}
	objs, err := r.ListObjects(ctx, "user:alice", "connect", "device")
	if slices.Sort(objs); err != nil || !slices.Equal(objs, []string{"device:db-1", "device:web-1"}) {
		t.Errorf("ListObjects(alice connect device) = %v, %v", objs, err)
	}
	users, err := r.ListUsers(ctx, "group:ops", "member", "user")
	if err != nil || !slices.Equal(users, []string{"user:dave"}) {
		t.Errorf("ListUsers(group:ops member user) = %v, %v", users, err)
	}
	ts, err := r.Read(ctx, acl.Tuple{Relation: "folder", Object: "device:db-1"})
	if err != nil || len(ts) != 1 || ts[0].User != "folder:db" {
		t.Errorf("Read(device:db-1 folder) = %v, %v", ts, err)
	}

	c := acl.NewCompiler(r, nil)
	tab, err := c.Compile(ctx, []string{"alice", "dave", "erin"}, acmeServices)
	if err != nil {
		t.Fatalf("Compile() = %v", err)
	}
	if !tab.Allowed("dave", "db-1", 22) || tab.Allowed("erin", "db-1", 22) {
		t.Error("table compiled through the remote is wrong")
	}

	// A second client finds the same store and recognises the model.
	again := newRemote(t, acl.RemoteConfig{URL: url, Token: token, StoreName: "remote"})
	if again.StoreID() != r.StoreID() || again.ModelID() != r.ModelID() {
		t.Errorf("second client: store, model = %s, %s, want %s, %s", again.StoreID(), again.ModelID(), r.StoreID(), r.ModelID())
	}
}

func TestRemoteBadToken(t *testing.T) {
	url := serveHTTP(t, newEmbedded(t))
	if _, err := acl.NewRemote(context.Background(), acl.RemoteConfig{URL: url, Token: "wrong"}); err == nil {
		t.Fatal("NewRemote() with a wrong token succeeded")
	}
}

// TestRemoteTruncated: a ListObjects answer as long as the server's cap may
// be cut short; the compiler then checks the devices one by one.
func TestRemoteTruncated(t *testing.T) {
	ctx := context.Background()
	url := serveHTTP(t, newEmbedded(t))
	r := newRemote(t, acl.RemoteConfig{URL: url, Token: token, ListObjectsMaxResults: 2})
	write(t, r,
		tu("user:u", "connector", "device:a"),
		tu("user:u", "connector", "device:b"),
		tu("user:u", "connector", "device:c"),
	)
	if _, err := r.ListObjects(ctx, "user:u", "connect", "device"); !errors.Is(err, acl.ErrTruncated) {
		t.Fatalf("ListObjects() = %v, want ErrTruncated", err)
	}
	services := []acl.Service{{DeviceID: "a", Port: 22}, {DeviceID: "b", Port: 22}, {DeviceID: "c", Port: 22}, {DeviceID: "d", Port: 22}}
	tab, err := acl.NewCompiler(r, nil).Compile(ctx, []string{"u"}, services)
	if err != nil {
		t.Fatalf("Compile() = %v", err)
	}
	for _, d := range []string{"a", "b", "c"} {
		if !tab.Allowed("u", d, 22) {
			t.Errorf("Allowed(u, %s, 22) = false, want true", d)
		}
	}
	if tab.Allowed("u", "d", 22) {
		t.Error("Allowed(u, d, 22) = true, want false")
	}
}
