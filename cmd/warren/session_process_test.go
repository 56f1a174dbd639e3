package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/controlplanetest"
)

// lockedBuffer collects a process's output while the test polls it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// attachedCLI is a running `warren session attach|open --attach` whose
// keyboard and screen are pipes.
type attachedCLI struct {
	t        *testing.T
	cmd      *exec.Cmd
	keys     io.WriteCloser
	out, err *lockedBuffer
	done     chan struct{}
	exit     int
}

// attach starts the CLI with args; it is killed when the test ends.
func (c client) attach(args ...string) *attachedCLI {
	c.t.Helper()
	a := &attachedCLI{t: c.t, out: &lockedBuffer{}, err: &lockedBuffer{}, done: make(chan struct{})}
	a.cmd = exec.Command(filepath.Join(binDir, "warren"), args...)
	a.cmd.Env = append(os.Environ(), "HOME="+c.home, "XDG_CONFIG_HOME="+filepath.Join(c.home, "config"),
		"WARREN_SERVER=", "WARREN_TOKEN=", "WARREN_DATA_DIR=")
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.err
	keys, err := a.cmd.StdinPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	a.keys = keys
	if err := a.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		defer close(a.done)
		err := a.cmd.Wait()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			a.exit = -1
			return
		}
		a.exit = a.cmd.ProcessState.ExitCode()
	}()
	c.t.Cleanup(func() {
		a.cmd.Process.Kill()
		<-a.done
		if c.t.Failed() {
			c.t.Logf("warren %s\nstdout: %q\nstderr: %s", strings.Join(args, " "), a.out.String(), a.err.String())
		}
	})
	return a
}

func (a *attachedCLI) typeKeys(s string) {
	a.t.Helper()
	if _, err := io.WriteString(a.keys, s); err != nil {
		a.t.Fatalf("typing %q: %v", s, err)
	}
}

// waitFor polls the CLI's output (stdout or stderr) for cond.
func (a *attachedCLI) waitFor(what string, stderr bool, cond func(string) bool) {
	a.t.Helper()
	buf := a.out
	if stderr {
		buf = a.err
	}
	waitWithin(a.t, 60*time.Second, what, func() bool { return cond(buf.String()) })
}

// exitedWithin returns nil while the CLI runs after d, else a non-nil error
// (it exited).
func (a *attachedCLI) exitedWithin(d time.Duration) error {
	select {
	case <-a.done:
		return fmt.Errorf("exit %d", a.exit)
	case <-time.After(d):
		return nil
	}
}

// exited waits for the CLI to end and returns its exit code.
func (a *attachedCLI) exited() int {
	a.t.Helper()
	select {
	case <-a.done:
		return a.exit
	case <-time.After(60 * time.Second):
		a.t.Fatalf("the CLI did not exit within 60s\nstderr: %s", a.err.String())
		return -1
	}
}

var pidRE = regexp.MustCompile(`pid=(\d+)`)

// pids lists the shell pids that `echo pid=$$` printed.
func pids(out string) []string {
	var ps []string
	for _, m := range pidRE.FindAllStringSubmatch(out, -1) {
		ps = append(ps, m[1])
	}
	return ps
}

// cliWorld is the real processes the session process tests drive: an
// OpenSSH server, an engine, an agent enrolled as web1 in org acme's folder
// prod with the service ssh (port 22) on that server and a folder
// credential for it, and alice's CLI logged in.
type cliWorld struct {
	sshd    *controlplanetest.SSHD
	dataDir string
	url     string
	engine  *proc
	c       client
}

func newCLIWorld(t *testing.T) *cliWorld {
	sshd := controlplanetest.StartSSHD(t)
	dataDir := t.TempDir()
	httpAddr, wgAddr := freeAddr(t, "tcp"), freeAddr(t, "udp")
	url := "http://" + httpAddr
	engine := start(t, "warren", "serve", "--data-dir", dataDir, "--listen", httpAddr, "--wg-listen", wgAddr, "--log-level", "debug")
	waitWithin(t, 20*time.Second, "engine healthy", func() bool { return healthy(url) })
	seedOrg(t, dataDir)
	cli(t, "openfga", "sync", "--data-dir", dataDir)

	c := client{t: t, home: t.TempDir()}
	var tok api.UserTokenResponse
	c.json(&tok, "", "user", "token", "create", "--org", "acme", "--user", "alice@acme.test", "--data-dir", dataDir)
	if out, errOut, code := c.run("", "login", "--server", url, "--token", tok.Token); code != 0 {
		t.Fatalf("login: exit %d\n%s%s", code, out, errOut)
	}
	var folder api.Folder
	c.json(&folder, "", "folder", "create", "--name", "prod")
	et, err := api.NewV1Client(url, tok.Token).CreateEnrollmentToken(t.Context(), "acme", api.CreateEnrollmentTokenRequest{FolderID: folder.ID})
	if err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	enroll := exec.Command(filepath.Join(binDir, "warren-agent"), "enroll", "--server", url, "--token", et.Token,
		"--state-dir", stateDir, "--name", "web1")
	if out, err := enroll.CombinedOutput(); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	start(t, "warren-agent", "run", "--state-dir", stateDir, "--log-level", "debug")
	waitWithin(t, 30*time.Second, "agent online", func() bool {
		var ds []api.Device
		out, err := exec.Command(filepath.Join(binDir, "warren"), "device", "list", "--data-dir", dataDir, "--json").Output()
		return err == nil && json.Unmarshal(out, &ds) == nil && len(ds) == 1 && ds[0].Online
	})
	cli(t, "service", "add", "web1", "--name", "ssh", "--protocol", "ssh", "--port", "22", "--target", sshd.Addr, "--data-dir", dataDir)
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, sshd.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	var cred api.Credential
	c.json(&cred, "", "credential", "create", "--scope", "folder:"+folder.ID, "--name", "root", "--username", sshd.User,
		"--private-key-file", keyFile)

	return &cliWorld{sshd: sshd, dataDir: dataDir, url: url, engine: engine, c: c}
}

// TestSessionCLI drives `warren session` against real processes: an engine,
// an agent and an OpenSSH server. It opens a session, attaches with pipes
// for a keyboard and a screen, detaches with Enter ~ ., attaches again (the
// same shell, and the earlier output replayed), observes read-only (input
// refused), lists, terminates, and finds the session ended.
func TestSessionCLI(t *testing.T) {
	w := newCLIWorld(t)
	sshd, dataDir, url, engine, c := w.sshd, w.dataDir, w.url, w.engine, w.c
	// Open (the agent may still be applying the netmap that names the
	// service: retry until it knows it).
	var sess api.Session
	waitWithin(t, 30*time.Second, "session opened", func() bool {
		out, _, code := c.run("", "session", "open", "web1/ssh", "--json")
		return code == 0 && json.Unmarshal([]byte(out), &sess) == nil && sess.ID != ""
	})
	if sess.State != "running" || sess.DeviceName != "web1" || sess.Service != "ssh" {
		t.Fatalf("session open = %+v", sess)
	}

	// Attach, learn the shell's pid, detach.
	a := c.attach("session", "attach", sess.ID)
	a.waitFor("attached as driver", true, func(s string) bool { return strings.Contains(s, "[warren] attached as driver") })
	a.typeKeys("echo pid=$$\n")
	a.waitFor("the shell's pid", false, func(s string) bool { return len(pids(s)) == 1 })
	pid := pids(a.out.String())[0]
	a.typeKeys("~.")
	if code := a.exited(); code != 0 {
		t.Fatalf("attach after ~.: exit %d, want 0\n%s", code, a.err.String())
	}
	if !strings.Contains(a.err.String(), "[warren] detached; the session keeps running") {
		t.Errorf("stderr after ~.: %q, want the detach line", a.err.String())
	}

	// The session lives on: listed, running, nobody attached.
	var live []api.Session
	c.json(&live, "", "session", "list")
	if len(live) != 1 || live[0].ID != sess.ID || live[0].State != "running" {
		t.Fatalf("session list after detach = %+v, want %s running", live, sess.ID)
	}

	// Attach again: the earlier output is replayed and it is the same shell.
	a = c.attach("session", "attach", sess.ID)
	a.waitFor("the earlier output", false, func(s string) bool { return len(pids(s)) >= 1 })
	if got := pids(a.out.String())[0]; got != pid {
		t.Errorf("replayed pid %s, want %s", got, pid)
	}
	a.typeKeys("echo pid=$$\n")
	a.waitFor("the pid again", false, func(s string) bool { return len(pids(s)) >= 2 })
	if ps := pids(a.out.String()); ps[len(ps)-1] != pid {
		t.Errorf("shell pid after re-attach %s, want %s (the same shell)", ps[len(ps)-1], pid)
	}
	// An observer sees the session and cannot type into it.
	obs := c.attach("session", "attach", sess.ID, "--observe")
	obs.waitFor("attached as observer", true, func(s string) bool { return strings.Contains(s, "[warren] attached as observer") })
	obs.typeKeys("echo from-the-observer\n")
	obs.waitFor("input refused", true, func(s string) bool { return strings.Contains(s, "[warren] input refused") })
	a.typeKeys("echo driver-$((6*7))\n")
	obs.waitFor("the driver's output", false, func(s string) bool { return strings.Contains(s, "driver-42") })
	if strings.Contains(obs.out.String(), "from-the-observer") {
		t.Errorf("the observer's keys reached the shell:\n%q", obs.out.String())
	}
	obs.typeKeys("~.")
	if code := obs.exited(); code != 0 {
		t.Errorf("observer after ~.: exit %d", code)
	}

	// kill -9 the engine under the attached driver and start it again: the
	// CLI says it is reconnecting, keys typed meanwhile arrive once, and
	// every output byte arrives once.
	engine.kill()
	a.waitFor("reconnecting", true, func(s string) bool { return strings.Contains(s, "[warren] reconnecting…") })
	a.typeKeys("echo after-restart-$((1+1))\n")
	engine.start()
	waitWithin(t, 20*time.Second, "engine healthy again", func() bool { return healthy(url) })
	a.waitFor("output after the restart", false, func(s string) bool { return strings.Contains(s, "after-restart-2") })
	a.waitFor("reconnected", true, func(s string) bool { return strings.Contains(s, "[warren] reconnected") })
	a.typeKeys("echo done-$((2+3))\n")
	a.waitFor("later output", false, func(s string) bool { return strings.Contains(s, "done-5") })
	if out := a.out.String(); strings.Count(out, "after-restart-2") != 1 || strings.Count(out, "driver-42") != 1 {
		t.Errorf("output after the engine restart has lost or repeated bytes:\n%q", out)
	}

	// Terminate: the attached driver is told why and exits 0.
	if out, errOut, code := c.run("", "session", "terminate", sess.ID); code != 0 || !strings.Contains(out, "terminated") {
		t.Fatalf("session terminate: exit %d\n%s%s", code, out, errOut)
	}
	if code := a.exited(); code != 0 || !strings.Contains(a.err.String(), "[warren] session ended: terminated") {
		t.Errorf("attached driver after terminate: exit %d, stderr %q", code, a.err.String())
	}
	var all []api.Session
	waitWithin(t, 30*time.Second, "session listed as ended", func() bool {
		out, _, code := c.run("", "session", "list", "--state", "all", "--json")
		return code == 0 && json.Unmarshal([]byte(out), &all) == nil && len(all) == 1 && all[0].State == "ended"
	})
	// Attaching to an ended session says so and is not an error.
	a = c.attach("session", "attach", sess.ID)
	if code := a.exited(); code != 0 || !strings.Contains(a.err.String(), "[warren] session ended") {
		t.Errorf("attach to an ended session: exit %d, stderr %q", code, a.err.String())
	}
	// A recorded service: open --attach, type, detach; the recording is
	// listed and downloads as asciicast v2 with what was typed.
	cli(t, "service", "add", "web1", "--name", "rec", "--protocol", "ssh", "--port", "2022", "--target", sshd.Addr,
		"--record", "--data-dir", dataDir)
	var recID string
	waitWithin(t, 30*time.Second, "recorded session opened", func() bool {
		a = c.attach("session", "open", "web1/rec", "--attach")
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) &&
			a.exitedWithin(100*time.Millisecond) == nil; { // still running: opened, attaching
			if m := regexp.MustCompile(`session (rs_\w+) opened`).FindStringSubmatch(a.err.String()); m != nil {
				recID = m[1]
				return true
			}
		}
		return false
	})
	a.waitFor("attached", true, func(s string) bool { return strings.Contains(s, "[warren] attached as driver") })
	a.typeKeys("echo recorded-$((20+3))\n")
	a.waitFor("the recorded output", false, func(s string) bool { return strings.Contains(s, "recorded-23") })
	a.typeKeys("~.")
	if code := a.exited(); code != 0 {
		t.Fatalf("open --attach after ~.: exit %d", code)
	}
	var recs []api.Session
	c.json(&recs, "", "session", "recordings")
	if len(recs) != 1 || recs[0].ID != recID || !recs[0].Recorded {
		t.Errorf("session recordings = %+v, want %s", recs, recID)
	}
	castFile := filepath.Join(t.TempDir(), "rec.cast")
	waitWithin(t, 30*time.Second, "recording with the output", func() bool {
		if _, _, code := c.run("", "session", "recording", recID, "-o", castFile); code != 0 {
			return false
		}
		data, err := os.ReadFile(castFile)
		return err == nil && strings.HasPrefix(string(data), `{"version":2`) && strings.Contains(string(data), "recorded-23")
	})
	if fi, err := os.Stat(castFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("recording file: %v, %v; want mode 0600", fi, err)
	}

	// A session id that does not exist is a clear error.
	if _, errOut, code := c.run("", "session", "attach", "rs_nosuchsession"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("attach to an unknown session: exit %d, %q; want 1 and not found", code, errOut)
	}
}

// TestSessionKillNineWhileStreaming is issue 4's engine-restart acceptance
// check on real processes: a recorded session prints 300,000 lines over
// about 15 s into an attached `warren session attach`; the engine is killed
// with SIGKILL mid-stream and started again. The terminal resumes within
// 10 s of the engine being healthy, its output holds every line exactly once
// in order, and the recording, whose recorder died with the engine and
// resumed by offset, has no hole and no repeat.
func TestSessionKillNineWhileStreaming(t *testing.T) {
	w := newCLIWorld(t)
	cli(t, "service", "add", "web1", "--name", "rec", "--protocol", "ssh", "--port", "2022", "--target", w.sshd.Addr,
		"--record", "--data-dir", w.dataDir)
	var sess api.Session
	waitWithin(t, 30*time.Second, "recorded session opened", func() bool {
		out, _, code := w.c.run("", "session", "open", "web1/rec", "--json")
		return code == 0 && json.Unmarshal([]byte(out), &sess) == nil && sess.ID != ""
	})
	a := w.c.attach("session", "attach", sess.ID)
	a.waitFor("attached as driver", true, func(s string) bool { return strings.Contains(s, "[warren] attached as driver") })

	const lines = 300000
	// The markers are typed split so that the echoed command line does not
	// contain them; seq in batches with pauses keeps output streaming.
	a.typeKeys("echo BEG''IN; for i in $(seq 0 299); do seq $((i*1000+1)) $((i*1000+1000)); sleep 0.04; done; echo EN''D\n")
	a.waitFor("output streaming", false, func(s string) bool { return strings.Contains(s, "\r\n5000\r\n") })

	w.engine.kill()
	a.waitFor("reconnecting", true, func(s string) bool { return strings.Contains(s, "[warren] reconnecting") })
	if strings.Contains(a.out.String(), "END\r\n") {
		t.Fatal("the output ended before the engine was killed: nothing streamed across the restart")
	}
	reconnects := strings.Count(a.err.String(), "[warren] reconnected")
	w.engine.start()
	waitWithin(t, 20*time.Second, "engine healthy again", func() bool { return healthy(w.url) })
	healthyAt := time.Now()
	waitWithin(t, 60*time.Second, "reconnected", func() bool {
		return strings.Count(a.err.String(), "[warren] reconnected") > reconnects
	})
	resumed := time.Since(healthyAt)
	t.Logf("the terminal resumed %v after the engine was healthy", resumed.Round(time.Millisecond))
	if resumed > 10*time.Second {
		t.Errorf("the terminal resumed %v after the engine was healthy, want within 10s", resumed)
	}

	var want bytes.Buffer
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&want, "%d\r\n", i)
	}
	between := func(s string) (string, bool) {
		_, rest, ok := strings.Cut(s, "BEGIN\r\n")
		if !ok {
			return "", false
		}
		mid, _, ok := strings.Cut(rest, "END\r\n")
		return mid, ok
	}
	var got string
	waitWithin(t, 120*time.Second, "the end of the output", func() bool {
		var ok bool
		got, ok = between(a.out.String())
		return ok
	})
	if got != want.String() {
		t.Errorf("terminal output across the restart: %d bytes, want %d: bytes lost or repeated", len(got), want.Len())
	}

	// The recording: every "o" event joined equals the stream; no marker
	// event (the recorder writes one where it had to skip).
	castFile := filepath.Join(t.TempDir(), "rec.cast")
	var rec string
	waitWithin(t, 60*time.Second, "the recording to reach the end", func() bool {
		if _, _, code := w.c.run("", "session", "recording", sess.ID, "-o", castFile); code != 0 {
			return false
		}
		data, err := os.ReadFile(castFile)
		if err != nil {
			return false
		}
		var out strings.Builder
		for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if i == 0 {
				continue // the header
			}
			var ev []any
			if err := json.Unmarshal([]byte(line), &ev); err != nil || len(ev) != 3 {
				t.Fatalf("recording line %d: %q: %v", i+1, line, err)
			}
			switch ev[1] {
			case "o":
				out.WriteString(ev[2].(string))
			case "m":
				t.Fatalf("the recording marks a hole: %q", line)
			}
		}
		var ok bool
		rec, ok = between(out.String())
		return ok
	})
	if rec != want.String() {
		t.Errorf("recording across the restart: %d bytes, want %d: a hole or a repeat", len(rec), want.Len())
	}
	a.typeKeys("~.")
	if code := a.exited(); code != 0 {
		t.Errorf("detach: exit %d", code)
	}
}
