package webui_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/controlplanetest"
	"github.com/warrenhq/warren/webui"
)

// chromium is Debian's Chromium, the browser the tests drive.
const chromium = "/usr/bin/chromium"

// TestConsoleInBrowser runs e2e/console.mjs (playwright-core driving
// Chromium) against a real engine with the console embedded, a real agent
// enrolled with the token the browser created, and a real sshd: first admin
// through the setup link, sign-in through the built-in IdP, first
// organization, enrollment token with install commands, the device online
// in the tree, a service added, port validation errors that name the field,
// explain access, a credential, the audit log; then, when the engine serves
// sessions, a terminal to sshd (echo hello), the tab closed and the session
// resumed from the sessions list in a new browser context with its output;
// and the phone viewport. Any console error fails it.
//
// Screenshots go to docs/screenshots when WARREN_SCREENSHOTS=1 (make
// screenshots), else to a temp dir.
func TestConsoleInBrowser(t *testing.T) {
	node := requireBrowser(t)
	sshd := controlplanetest.StartSSHD(t)
	e := controlplanetest.NewEngine(t, controlplanetest.Options{})
	link, err := e.SetupLink(t.Context())
	if err != nil || link == "" {
		t.Fatalf("SetupLink() = %q, %v; want a link on a fresh engine", link, err)
	}
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, sshd.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	shots := t.TempDir()
	if os.Getenv("WARREN_SCREENSHOTS") == "1" {
		shots = filepath.Join("..", "docs", "screenshots")
	}
	terminal := "0"
	if servesSessions() {
		terminal = "1"
	} else {
		t.Log("NOTE: this engine has no sessions API yet; the terminal part of the scenario is not run")
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "e2e/console.mjs")
	cmd.Env = append(os.Environ(),
		"HOME="+t.TempDir(), // Chromium writes ~/.config even with its own profile
		"WARREN_URL="+e.URL,
		"SETUP_LINK="+link,
		"SSHD_ADDR="+sshd.Addr,
		"SSH_USER="+sshd.User,
		"SSH_KEY_FILE="+keyFile,
		"TERMINAL="+terminal,
		"SCREENSHOTS="+shots,
		"CHROMIUM="+chromium,
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node: %v", err)
	}
	done := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		t.Log(line)
		name, arg, _ := strings.Cut(strings.TrimPrefix(line, "EVENT "), " ")
		switch {
		case !strings.HasPrefix(line, "EVENT "):
		case name == "token":
			// The browser made an org enrollment token: enroll the local
			// device with it, as an operator pasting the command would.
			e.EnrollAgent("local", arg)
		case name == "done":
			done = true
		}
	}
	if err := cmd.Wait(); err != nil || !done {
		t.Fatalf("browser scenario failed (%v):\n%s", err, stderr.String())
	}
}

// requireBrowser returns node's path, or skips (fails under
// WARREN_TEST_REQUIRE=all or "browser") when a part is missing.
func requireBrowser(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		controlplanetest.SkipUnlessRequired(t, "browser", "no node on PATH (apt-get install nodejs npm)")
	}
	if _, err := os.Stat(chromium); err != nil {
		controlplanetest.SkipUnlessRequired(t, "browser", "no "+chromium+" (apt-get install chromium)")
	}
	if _, err := os.Stat("node_modules/playwright-core"); err != nil {
		controlplanetest.SkipUnlessRequired(t, "browser", "no playwright-core (run npm ci in webui/)")
	}
	if !webui.Built() {
		controlplanetest.SkipUnlessRequired(t, "browser", "the console is not built (run npm run build in webui/, or make build)")
	}
	return node
}

// servesSessions reports whether the REST API has the sessions routes.
func servesSessions() bool {
	for _, r := range (&api.V1{}).Routes() {
		if strings.HasSuffix(r.Path, "/sessions/{session}/tickets") || strings.HasSuffix(r.Path, "/sessions") {
			return true
		}
	}
	return false
}
