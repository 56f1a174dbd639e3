package acl_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/warrenhq/warren/acl"
)

var acmeServices = []acl.Service{
	{DeviceID: "db-1", Port: 22, Name: "ssh"},
	{DeviceID: "db-1", Port: 5432, Relation: acl.RelationManage, Name: "postgres"},
	{DeviceID: "web-1", Port: 443},
}

func acmeCompiler(t *testing.T) *acl.Compiler {
	t.Helper()
	a := newEmbedded(t)
	write(t, a, acme()...)
	c := acl.NewCompiler(a, nil)
	users := []string{"alice", "bob", "carol", "dave", "deep", "root", "erin"}
	if _, err := c.Compile(context.Background(), users, acmeServices); err != nil {
		t.Fatalf("Compile() = %v", err)
	}
	return c
}

func TestExplainAllowed(t *testing.T) {
	c := acmeCompiler(t)
	tests := []struct {
		user      string
		port      uint16
		grantedOn string
		reason    string
	}{
		{"alice", 22, "folder:root", "user:alice has connect on device:db-1 (required by service ssh on port 22), granted on folder:root"},
		{"bob", 5432, "folder:prod", "user:bob has manage on device:db-1 (required by service postgres on port 5432), granted on folder:prod"},
		{"dave", 22, "device:db-1", "granted on device:db-1"},
		{"deep", 5432, "organization:acme", "as admin of organization:acme"},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			x, err := c.Explain(context.Background(), tt.user, "db-1", tt.port)
			if err != nil {
				t.Fatalf("Explain() = %v", err)
			}
			if !x.Allowed || !x.Compiled {
				t.Errorf("Explain() Allowed, Compiled = %v, %v, want true, true", x.Allowed, x.Compiled)
			}
			if x.GrantedOn != tt.grantedOn {
				t.Errorf("Explain() GrantedOn = %q, want %q", x.GrantedOn, tt.grantedOn)
			}
			if !strings.Contains(x.Reason, tt.reason) {
				t.Errorf("Explain() Reason = %q, want it to contain %q", x.Reason, tt.reason)
			}
		})
	}
}

func TestExplainDenied(t *testing.T) {
	c := acmeCompiler(t)
	tests := []struct {
		user   string
		port   uint16
		reason string
		holds  []string
	}{
		{"erin", 22, "user:erin lacks connect on device:db-1 (required by service ssh on port 22): " +
			"no grant on the device, its folder chain folder:db -> folder:prod -> folder:root, or organization:acme", nil},
		{"carol", 22, "user:carol lacks connect on device:db-1 (required by service ssh on port 22): " +
			"no grant on the device, its folder chain folder:db -> folder:prod -> folder:root, or organization:acme; holds view, view_secrets",
			[]string{"view", "view_secrets"}},
		{"alice", 5432, "user:alice lacks manage on device:db-1", []string{"view", "connect"}},
		{"alice", 3389, "device:db-1 has no service on port 3389", []string{"view", "connect"}},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			x, err := c.Explain(context.Background(), tt.user, "db-1", tt.port)
			if err != nil {
				t.Fatalf("Explain() = %v", err)
			}
			if x.Allowed || x.Compiled {
				t.Errorf("Explain() Allowed, Compiled = %v, %v, want false, false", x.Allowed, x.Compiled)
			}
			if !strings.Contains(x.Reason, tt.reason) {
				t.Errorf("Explain() Reason = %q, want it to contain %q", x.Reason, tt.reason)
			}
			if !slices.Equal(x.Holds, tt.holds) {
				t.Errorf("Explain() Holds = %v, want %v", x.Holds, tt.holds)
			}
		})
	}
}

func TestExplainChain(t *testing.T) {
	c := acmeCompiler(t)
	x, err := c.Explain(context.Background(), "erin", "db-1", 22)
	if err != nil {
		t.Fatalf("Explain() = %v", err)
	}
	want := []string{"device:db-1", "folder:db", "folder:prod", "folder:root", "organization:acme"}
	if !slices.Equal(x.Chain, want) {
		t.Errorf("Explain() Chain = %v, want %v", x.Chain, want)
	}
	if x.Service == nil || x.Service.Name != "ssh" || x.Relation != acl.RelationConnect {
		t.Errorf("Explain() Service, Relation = %+v, %q, want ssh, connect", x.Service, x.Relation)
	}
}
