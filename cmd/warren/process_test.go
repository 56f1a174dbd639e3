package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/controlplanetest"
)

// These tests run the real binaries as processes, so that `kill -9` means
// what it says. They cover the acceptance points that need a crash.

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "warren-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := func() int {
		defer os.RemoveAll(dir)
		for _, pkg := range []string{"./cmd/warren", "./cmd/warren-agent"} {
			cmd := exec.Command("go", "build", "-o", dir+"/", "github.com/warrenhq/warren/"+strings.TrimPrefix(pkg, "./"))
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "building %s: %v\n", pkg, err)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

type proc struct {
	t    *testing.T
	args []string
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

func start(t *testing.T, bin string, args ...string) *proc {
	p := &proc{t: t, args: append([]string{filepath.Join(binDir, bin)}, args...)}
	p.start()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) start() {
	p.t.Helper()
	p.log = &bytes.Buffer{}
	p.cmd = exec.Command(p.args[0], p.args[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
}

// kill sends SIGKILL: no shutdown code runs.
func (p *proc) kill() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	if p.t.Failed() {
		p.t.Logf("%s output:\n%s", filepath.Base(p.args[0]), p.log.String())
	}
	p.cmd = nil
}

// cli runs a warren admin command and returns its stdout.
func cli(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "warren"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("warren %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func freeAddr(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// echoes reports whether a fresh connection to addr echoes a message.
func echoes(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return false
	}
	b := make([]byte, 4)
	_, err = io.ReadFull(c, b)
	return err == nil && string(b) == "ping"
}

func healthy(url string) bool {
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// waitWithin polls cond until it holds or limit passes; it returns how long
// it took. This is the acceptance bound of a recovery, not a speed test.
func waitWithin(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// TestKillNineRecovery: with agents connected and a published service,
// kill -9 the engine and start it again: every agent is online and the
// published service answers within 5 s of the engine being healthy. Then
// kill -9 an agent and start it again: online within 5 s.
func TestKillNineRecovery(t *testing.T) {
	dataDir := t.TempDir()
	httpAddr, wgAddr, pubAddr := freeAddr(t, "tcp"), freeAddr(t, "udp"), freeAddr(t, "tcp")
	url := "http://" + httpAddr
	engine := start(t, "warren", "serve", "--data-dir", dataDir, "--listen", httpAddr, "--wg-listen", wgAddr, "--log-level", "debug")
	waitWithin(t, 20*time.Second, "engine healthy", func() bool { return healthy(url) })

	agents := map[string]*proc{}
	for _, name := range []string{"alpha", "beta"} {
		var tok api.TokenResponse
		if err := json.Unmarshal(cli(t, "token", "create", "--data-dir", dataDir, "--json"), &tok); err != nil {
			t.Fatal(err)
		}
		stateDir := filepath.Join(t.TempDir(), name)
		enroll := exec.Command(filepath.Join(binDir, "warren-agent"), "enroll", "--server", url, "--token", tok.Token, "--state-dir", stateDir, "--name", name)
		if out, err := enroll.CombinedOutput(); err != nil {
			t.Fatalf("enroll %s: %v\n%s", name, err, out)
		}
		agents[name] = start(t, "warren-agent", "run", "--state-dir", stateDir, "--log-level", "debug")
	}
	online := func(names ...string) func() bool {
		return func() bool {
			var ds []api.Device
			out, err := exec.Command(filepath.Join(binDir, "warren"), "device", "list", "--data-dir", dataDir, "--json").Output()
			if err != nil || json.Unmarshal(out, &ds) != nil {
				return false
			}
			n := 0
			for _, d := range ds {
				for _, name := range names {
					if d.Name == name && d.Online {
						n++
					}
				}
			}
			return n == len(names)
		}
	}
	waitWithin(t, 20*time.Second, "agents online", online("alpha", "beta"))

	target, _ := controlplanetest.EchoServer(t)
	cli(t, "service", "add", "alpha", "--name", "echo", "--protocol", "tcp", "--port", "7000", "--target", target, "--data-dir", dataDir)
	cli(t, "publish", "add", "alpha/echo", "--listen", pubAddr, "--data-dir", dataDir)
	waitWithin(t, 10*time.Second, "published service answering", func() bool { return echoes(pubAddr) })
	if out, err := exec.Command("sh", "-c", "printf hello | nc -N "+strings.Replace(pubAddr, ":", " ", 1)).Output(); err != nil || string(out) != "hello" {
		t.Errorf("nc through the gateway port: %q, %v", out, err)
	}

	engine.kill()
	engine.start()
	waitWithin(t, 20*time.Second, "engine healthy again", func() bool { return healthy(url) })
	took := waitWithin(t, 5*time.Second, "agents online after engine kill -9", online("alpha", "beta"))
	took2 := waitWithin(t, 5*time.Second-took, "published service answering after engine kill -9", func() bool { return echoes(pubAddr) })
	t.Logf("engine kill -9: agents online %v and service answering %v after healthy", took, took+took2)

	agents["alpha"].kill()
	waitWithin(t, 20*time.Second, "alpha offline", func() bool { return !online("alpha")() })
	agents["alpha"].start()
	took = waitWithin(t, 5*time.Second, "alpha online after kill -9", online("alpha"))
	t.Logf("agent kill -9: online %v after restart", took)
	waitWithin(t, 5*time.Second, "service answering after agent restart", func() bool { return echoes(pubAddr) })
}
