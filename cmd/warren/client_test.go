package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/store"
)

// client runs the warren CLI with its config dir in home and no inherited
// WARREN_* variables.
type client struct {
	t    *testing.T
	home string
}

// run returns stdout, stderr and the exit code.
func (c client) run(stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "warren"), args...)
	cmd.Env = append(os.Environ(), "HOME="+c.home, "XDG_CONFIG_HOME="+filepath.Join(c.home, "config"),
		"WARREN_SERVER=", "WARREN_TOKEN=", "WARREN_DATA_DIR=")
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		c.t.Fatalf("warren %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// json runs a command that must succeed and decodes its --json output.
func (c client) json(v any, stdin string, args ...string) {
	c.t.Helper()
	out, errOut, code := c.run(stdin, append(args, "--json")...)
	if code != 0 {
		c.t.Fatalf("warren %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("warren %s: decoding %q: %v", strings.Join(args, " "), out, err)
	}
}

// seedOrg writes an organization, a user and their admin membership into
// the running engine's database, the way a first sign-in would.
func seedOrg(t *testing.T, dataDir string) (userID string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "", dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	org, err := st.CreateOrg(ctx, store.Org{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := st.UpsertUserIdentity(ctx, "https://idp.acme.test", "alice", "alice@acme.test", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddMember(ctx, store.Membership{OrgID: org.ID, UserID: u.ID, Role: store.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestClientCommands drives the REST client commands against a real
// engine process: a token minted over the admin socket, login, folders,
// grants, an explanation for an enrolled device, a write-only credential,
// and a wrong token.
func TestClientCommands(t *testing.T) {
	dataDir := t.TempDir()
	httpAddr, wgAddr := freeAddr(t, "tcp"), freeAddr(t, "udp")
	url := "http://" + httpAddr
	start(t, "warren", "serve", "--data-dir", dataDir, "--listen", httpAddr, "--wg-listen", wgAddr)
	waitWithin(t, 20*time.Second, "engine healthy", func() bool { return healthy(url) })

	aliceID := seedOrg(t, dataDir)
	cli(t, "openfga", "sync", "--data-dir", dataDir)
	c := client{t: t, home: t.TempDir()}

	out, errOut, code := c.run("", "user", "token", "create", "--org", "acme", "--user", "alice@acme.test", "--data-dir", dataDir, "--json")
	var tok api.UserTokenResponse
	if code != 0 || json.Unmarshal([]byte(out), &tok) != nil {
		t.Fatalf("user token create: exit %d, %q\n%s", code, out, errOut)
	}
	if !strings.HasPrefix(tok.Token, "wrn_pat_") || tok.UserID != aliceID || tok.ExpiresAt == nil {
		t.Fatalf("user token create = %+v, want a wrn_pat_ token of %s that expires", tok, aliceID)
	}
	if _, errOut, code := c.run("", "folder", "list"); code != 1 || !strings.Contains(errOut, "warren login") {
		t.Errorf("folder list before login: exit %d, %q; want 1 and a hint to log in", code, errOut)
	}
	if out, errOut, code := c.run("", "login", "--server", url, "--token", tok.Token); code != 0 || !strings.Contains(out, "acme") {
		t.Fatalf("login: exit %d\n%s%s", code, out, errOut)
	}
	fi, err := os.Stat(filepath.Join(c.home, "config", "warren", "credentials.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, %v; want mode 0600", fi, err)
	}

	var folder api.Folder
	c.json(&folder, "", "folder", "create", "--name", "prod")
	var grant api.Grant
	c.json(&grant, "", "grant", "add", "--subject", "user:"+aliceID, "--relation", "connect", "--object", "folder:"+folder.ID)
	var grants []api.Grant
	c.json(&grants, "", "grant", "list")
	if !containsGrant(grants, grant.ID) || grant.ObjectID != folder.ID || grant.Relation != "connect" {
		t.Errorf("grant list = %+v, want grant %+v", grants, grant)
	}

	// A device in the folder, enrolled with a token from the REST API.
	v1 := api.NewV1Client(url, tok.Token)
	et, err := v1.CreateEnrollmentToken(t.Context(), "acme", api.CreateEnrollmentTokenRequest{FolderID: folder.ID})
	if err != nil {
		t.Fatal(err)
	}
	enroll := exec.Command(filepath.Join(binDir, "warren-agent"), "enroll", "--server", url, "--token", et.Token,
		"--state-dir", t.TempDir(), "--name", "web1")
	if out, err := enroll.CombinedOutput(); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	// Moved to another folder and back, through the REST API.
	var staging api.Folder
	c.json(&staging, "", "folder", "create", "--name", "staging")
	for _, f := range []api.Folder{staging, folder} {
		var d api.OrgDevice
		c.json(&d, "", "device", "move", "web1", "--folder", f.ID)
		if d.FolderID != f.ID {
			t.Errorf("device move to %s = %+v", f.Name, d)
		}
	}
	cli(t, "service", "add", "web1", "--name", "ssh", "--protocol", "ssh", "--port", "22", "--data-dir", dataDir)
	// The admin socket's service add recompiles the port ACLs at once.
	var x api.Explanation
	c.json(&x, "", "acl", "explain", aliceID, "web1", "22")
	if !x.Allowed || x.UserID != aliceID || x.Service != "ssh" || !slices.Contains(x.Chain, "folder:"+folder.ID) {
		t.Errorf("acl explain = %+v, want ssh on web1:22 allowed, in folder %s", x, folder.ID)
	}
	if out, _, code := c.run("", "acl", "explain", aliceID, "web1", "22"); code != 0 || !strings.Contains(out, "reason:") {
		t.Errorf("acl explain (table): exit %d, %q", code, out)
	}

	const password = "correct-horse-battery-staple"
	var cred api.Credential
	c.json(&cred, password+"\n", "credential", "create", "--scope", "folder:"+folder.ID, "--name", "db", "--username", "root", "--password-stdin")
	if cred.Kind != "password" || cred.ScopeID != folder.ID {
		t.Errorf("credential create = %+v", cred)
	}
	out, _, code = c.run("", "credential", "list", "--json")
	if code != 0 || strings.Contains(out, password) || strings.Contains(out, `"secret"`) || !strings.Contains(out, cred.ID) {
		t.Errorf("credential list: exit %d, %s; want the credential and no secret", code, out)
	}

	_, errOut, code = c.run("", "grant", "list", "--token", "wrn_pat_"+strings.Repeat("A", 43))
	if code != 1 || !strings.Contains(errOut, "present a valid API token") {
		t.Errorf("grant list with a wrong token: exit %d, %q; want 1 and the API's message", code, errOut)
	}
	// The operator disables alice: her API token stops at once; enabling
	// her brings it back.
	var users []api.User
	if err := json.Unmarshal(cli(t, "user", "list", "--data-dir", dataDir, "--json"), &users); err != nil || len(users) == 0 {
		t.Fatalf("user list: %v %+v", err, users)
	}
	cli(t, "user", "disable", "alice@acme.test", "--data-dir", dataDir)
	if _, errOut, code := c.run("", "grant", "list"); code != 1 {
		t.Errorf("grant list as a disabled user: exit %d, %q; want 1", code, errOut)
	}
	cli(t, "user", "enable", "alice@acme.test", "--data-dir", dataDir)
	if _, errOut, code := c.run("", "grant", "list"); code != 0 {
		t.Errorf("grant list after enabling: exit %d, %q", code, errOut)
	}
	if _, _, code := c.run("", "logout"); code != 0 {
		t.Errorf("logout: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(c.home, "config", "warren", "credentials.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("credentials after logout: %v, want gone", err)
	}
}

func containsGrant(gs []api.Grant, id string) bool {
	for _, g := range gs {
		if g.ID == id {
			return true
		}
	}
	return false
}
