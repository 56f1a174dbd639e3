// The import rules of docs/architecture.md, enforced with `go list`.
package warren_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/warrenhq/warren"

type pkg struct {
	ImportPath string
	Imports    []string
}

func listPackages(t *testing.T, patterns ...string) []pkg {
	t.Helper()
	args := append([]string{"list", "-json"}, patterns...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func ours(path string) bool  { return path == module || strings.HasPrefix(path, module+"/") }
func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }
func under(path, dir string) bool {
	r := rel(path)
	return r == dir || strings.HasPrefix(r, dir+"/")
}
func stdlib(path string) bool { return !strings.Contains(strings.SplitN(path, "/", 2)[0], ".") }

// wireguardOrGVisor reports the modules only netstack may import.
func wireguardOrGVisor(path string) bool {
	return strings.HasPrefix(path, "golang.zx2c4.com/wireguard") || strings.HasPrefix(path, "gvisor.dev/")
}

// TestImportRules checks every package's direct imports.
func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t, "./...") {
		for _, imp := range p.Imports {
			if msg := violation(p.ImportPath, imp); msg != "" {
				t.Errorf("%s imports %s: %s", rel(p.ImportPath), imp, msg)
			}
		}
	}
}

func violation(from, imp string) string {
	switch {
	case wireguardOrGVisor(imp) && !under(from, "netstack") && !under(from, "cmd/warren-bench"):
		// cmd/warren-bench measures a stock wireguard-go pair as its baseline.
		return "only netstack may import wireguard-go and gVisor"
	case under(from, "netstack") && ours(imp):
		return "netstack imports no package of ours"
	case under(from, "protocols") && !stdlib(imp) && !strings.HasPrefix(imp, "golang.org/x/") &&
		imp != "github.com/coder/websocket" && imp != "github.com/hinshun/vt10x" && !under(imp, "protocols"):
		return "protocols import only the standard library, x/ packages, coder/websocket, vt10x and protocols"
	case under(from, "agent") && ours(imp) && !under(imp, "agent") && !under(imp, "netstack") &&
		!under(imp, "protocols") && !under(imp, "controlplane/wire") && !under(imp, "internal/atomicfile"):
		return "agent imports only netstack, protocols, controlplane/wire and internal/atomicfile of ours"
	case under(from, "internal/atomicfile") && !stdlib(imp):
		return "atomicfile is shared with the agent and imports only the standard library"
	case under(from, "acl") && under(imp, "controlplane"):
		return "acl imports no controlplane package"
	case under(from, "controlplane") && !under(from, "controlplane/controlplanetest") && under(imp, "agent"):
		return "the engine never imports agent code (only the test harness runs agents)"
	case under(from, "controlplane/wire") && !stdlib(imp):
		return "wire is shared with the agent and imports only the standard library"
	}
	return ""
}

// TestAgentLinksNoServerDeps: the agent binary never links the database,
// authorization or OIDC libraries.
func TestAgentLinksNoServerDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./cmd/warren-agent").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/jackc/pgx", "github.com/openfga/", "github.com/coreos/go-oidc", "modernc.org/sqlite", module + "/controlplane/store"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("warren-agent links %s", dep)
			}
		}
	}
}

// TestEngineLinksNoAgent: the engine binary does not contain the agent.
func TestEngineLinksNoAgent(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./cmd/warren").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == module+"/agent" {
			t.Error("warren links the agent package")
		}
	}
}
