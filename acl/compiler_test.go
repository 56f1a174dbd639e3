package acl_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/warrenhq/warren/acl"
)

func TestCompileAcme(t *testing.T) {
	c := acmeCompiler(t)
	tab := c.Table()
	tests := []struct {
		user, device string
		port         uint16
		want         bool
	}{
		{"alice", "db-1", 22, true},
		{"alice", "db-1", 5432, false},
		{"alice", "web-1", 443, true},
		{"bob", "db-1", 5432, true},
		{"bob", "web-1", 443, false},
		{"carol", "db-1", 22, false},
		{"dave", "db-1", 22, true},
		{"root", "web-1", 443, true},
		{"erin", "db-1", 22, false},
		{"nobody", "db-1", 22, false},
		{"alice", "db-1", 23, false},
	}
	for _, tt := range tests {
		if got := tab.Allowed(tt.user, tt.device, tt.port); got != tt.want {
			t.Errorf("Allowed(%s, %s, %d) = %v, want %v", tt.user, tt.device, tt.port, got, tt.want)
		}
	}
	if got, want := tab.DevicePorts("db-1"), []acl.PortRange{{22, 22}, {5432, 5432}}; !slices.Equal(got, want) {
		t.Errorf("DevicePorts(db-1) = %v, want %v", got, want)
	}
}

func TestRecompileRevokes(t *testing.T) {
	a := newEmbedded(t)
	write(t, a, acme()...)
	c := acl.NewCompiler(a, nil)
	ctx := context.Background()
	if _, err := c.Compile(ctx, []string{"alice", "dave"}, acmeServices); err != nil {
		t.Fatalf("Compile() = %v", err)
	}
	before := c.Table()
	revoke := tu("user:dave", "member", "group:sub")
	if err := a.Write(ctx, nil, []acl.Tuple{revoke}); err != nil {
		t.Fatalf("Write() = %v", err)
	}
	tab, err := c.TuplesChanged(ctx, []acl.Tuple{revoke})
	if err != nil {
		t.Fatalf("TuplesChanged() = %v", err)
	}
	if tab.Allowed("dave", "db-1", 22) || c.Table().Allowed("dave", "db-1", 22) {
		t.Error("dave may still reach db-1:22 after leaving the group")
	}
	if !before.Allowed("dave", "db-1", 22) {
		t.Error("the previous snapshot changed")
	}
	if !tab.Allowed("alice", "db-1", 22) {
		t.Error("alice lost db-1:22")
	}
	// The union still holds port 22 (alice), so no netstack filter changes.
	if got := tab.Changed(); len(got) != 0 {
		t.Errorf("Changed() = %v, want none", got)
	}
	revoke = tu("user:alice", "connector", "folder:root")
	if err := a.Write(ctx, nil, []acl.Tuple{revoke}); err != nil {
		t.Fatalf("Write() = %v", err)
	}
	if tab, err = c.TuplesChanged(ctx, []acl.Tuple{revoke}); err != nil {
		t.Fatalf("TuplesChanged() = %v", err)
	}
	if got, want := tab.Changed(), []string{"db-1", "web-1"}; !slices.Equal(got, want) {
		t.Errorf("Changed() = %v, want %v", got, want)
	}
	if got := tab.DevicePorts("db-1"); len(got) != 0 {
		t.Errorf("DevicePorts(db-1) = %v, want none", got)
	}
}

func TestAffected(t *testing.T) {
	a := newEmbedded(t)
	write(t, a, acme()...)
	c := acl.NewCompiler(a, nil)
	tests := []struct {
		tuple acl.Tuple
		users []string
		all   bool
	}{
		{tu("user:alice", "connector", "device:db-1"), []string{"alice"}, false},
		{tu("group:admins#member", "admin", "organization:acme"), []string{"deep"}, false},
		{tu("group:ops#member", "viewer", "folder:prod"), []string{"dave"}, false},
		{tu("user:zed", "member", "group:ops"), []string{"zed"}, false},
		{tu("group:sub#member", "member", "group:team"), []string{"dave"}, false},
		{tu("folder:prod", "folder", "device:db-1"), nil, true},
		{tu("folder:root", "parent", "folder:prod"), nil, true},
		{tu("organization:acme", "org", "folder:root"), nil, true},
		{tu("user:alice", "owner", "session:s9"), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.tuple.String(), func(t *testing.T) {
			users, all, err := c.Affected(context.Background(), tt.tuple)
			if err != nil {
				t.Fatalf("Affected() = %v", err)
			}
			if !slices.Equal(users, tt.users) || all != tt.all {
				t.Errorf("Affected() = %v, %v, want %v, %v", users, all, tt.users, tt.all)
			}
		})
	}
}

func TestDevicePortsMergesRanges(t *testing.T) {
	a := newEmbedded(t)
	write(t, a, tu("user:u", "connector", "device:d"))
	var services []acl.Service
	for _, p := range []uint16{8002, 22, 8000, 8001, 65535, 23} {
		services = append(services, acl.Service{DeviceID: "d", Port: p})
	}
	c := acl.NewCompiler(a, nil)
	tab, err := c.Compile(context.Background(), []string{"u"}, services)
	if err != nil {
		t.Fatalf("Compile() = %v", err)
	}
	want := []acl.PortRange{{22, 23}, {8000, 8002}, {65535, 65535}}
	if got := tab.DevicePorts("d"); !slices.Equal(got, want) {
		t.Errorf("DevicePorts(d) = %v, want %v", got, want)
	}
	if got := tab.Changed(); !slices.Equal(got, []string{"d"}) {
		t.Errorf("Changed() = %v, want [d]", got)
	}
}

// TestTableReadsDuringRecompile reads the snapshot from many goroutines
// while tuples change and the compiler publishes new tables (run with
// -race).
func TestTableReadsDuringRecompile(t *testing.T) {
	a := newEmbedded(t)
	write(t, a, acme()...)
	c := acl.NewCompiler(a, nil)
	ctx := context.Background()
	if _, err := c.Compile(ctx, []string{"alice", "dave"}, acmeServices); err != nil {
		t.Fatalf("Compile() = %v", err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				tab := c.Table()
				tab.Allowed("dave", "db-1", 22)
				tab.DevicePorts("db-1")
			}
		})
	}
	grant := tu("user:dave", "connector", "device:web-1")
	for i := range 10 {
		w, d := []acl.Tuple{grant}, []acl.Tuple(nil)
		if i%2 == 1 {
			w, d = d, w
		}
		if err := a.Write(ctx, w, d); err != nil {
			t.Fatalf("Write() = %v", err)
		}
		tab, err := c.TuplesChanged(ctx, []acl.Tuple{grant})
		if err != nil {
			t.Fatalf("TuplesChanged() = %v", err)
		}
		if got, want := tab.Allowed("dave", "web-1", 443), i%2 == 0; got != want {
			t.Errorf("after change %d: Allowed(dave, web-1, 443) = %v, want %v", i, got, want)
		}
	}
	close(done)
	wg.Wait()
}
