package agent_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/warrenhq/warren/controlplane/controlplanetest"
	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/protocols/stream"
	"github.com/warrenhq/warren/protocols/term"
)

// The session tests run a real engine and agent (controlplanetest) and a
// real OpenSSH sshd; they reach the agent API over the engine's overlay
// device, as the engine's broker does.

var pidRE = regexp.MustCompile(`PID=(\d+)`)

// TestSessionOpenKeyAndPassword: sessions open with a private key and with
// a password; on first use the agent reports the host key it was offered.
func TestSessionOpenKeyAndPassword(t *testing.T) {
	f := newFixture(t)
	info := f.open(f.keyOpen("key-1"))
	if info.State != wire.SessionRunning || info.HostKey != f.sshd.HostKeyFingerprint || info.Protocol != "ssh" ||
		info.Service != "shell" || info.OrgID != "org_1" || info.OwnerID != "usr_1" || info.Cols != 80 || info.Rows != 24 {
		t.Errorf("opened session = %+v", info)
	}
	v := f.attach("key-1", "role=driver&viewer=v1")
	v.typeText("echo via-$((40+2))-key\r")
	v.waitOutput("via-42-key")

	if f.sshd.Password == "" {
		controlplanetest.SkipUnlessRequired(t, "sshd", "this sshd has no password login (no mount namespace)")
	}
	req := wire.OpenSession{ID: "pw-1", Service: "shell", Username: f.sshd.User, Password: f.sshd.Password,
		HostKey: f.sshd.HostKeyFingerprint, Cols: 100, Rows: 30}
	info = f.open(req)
	if info.Cols != 100 || info.Rows != 30 {
		t.Errorf("opened session size = %dx%d, want 100x30", info.Cols, info.Rows)
	}
	p := f.attach("pw-1", "role=driver")
	p.typeText("echo size=$(stty size) via-$((40+2))-pw\r")
	p.waitOutput("size=30 100 via-42-pw")

	var list wire.SessionList
	f.do(http.MethodGet, wire.SessionsPath, nil, &list)
	if len(list.Sessions) != 2 || list.Sessions[0].ID != "key-1" || list.Sessions[1].ID != "pw-1" {
		t.Fatalf("GET /v1/sessions = %+v, want key-1 and pw-1", list)
	}
	if vs := list.Sessions[0].Viewers; len(vs) != 1 || vs[0].ID != "v1" || vs[0].Role != stream.RoleDriver {
		t.Errorf("key-1 viewers = %+v, want v1 driving", vs)
	}
	if err := list.Validate(); err != nil {
		t.Errorf("the list does not validate as the engine checks it: %v", err)
	}
}

// TestSessionSurvivesDetach: the shell outlives its viewer; a viewer on
// "another device" attaches later and finds the same process, and a viewer
// resuming by offset gets exactly the bytes it missed.
func TestSessionSurvivesDetach(t *testing.T) {
	f := newFixture(t)
	f.open(f.keyOpen("s1"))
	a := f.attach("s1", "role=driver&viewer=laptop")
	a.typeText("echo PID=$$\r")
	a.waitFor("pid", pidRE.Match)
	_, outA, _, _, _, _ := a.state()
	pid := pidRE.FindSubmatch(outA)[1]
	offA, _, _, _, _, _ := a.state()
	a.cut()
	controlplanetest.WaitFor(t, 30*time.Second, "viewer gone", func() bool { return len(f.info("s1").Viewers) == 0 })

	b := f.attach("s1", "role=driver&viewer=phone")
	b.typeText("echo PID=$$ again\r")
	out := b.waitOutput(" again\r\n")
	if got := pidRE.FindAllStringSubmatch(out, -1); got[len(got)-1][1] != string(pid) {
		t.Errorf("after re-attach the shell's pid is %v, want %s", got, pid)
	}
	if _, _, role, snaps, _, _ := b.state(); role != stream.RoleDriver || snaps != 0 {
		t.Errorf("second viewer role %q, snapshots %d; want driver, none (the buffer holds everything)", role, snaps)
	}
	_, full, _, _, _, _ := b.state()

	// The first viewer comes back with its offset: it gets exactly the rest.
	a2 := f.attach("s1", fmt.Sprintf("role=observer&offset=%d", offA))
	endB, _, _, _, _, _ := b.state()
	a2.waitFor("the rest", func(out []byte) bool { return uint64(len(out)) >= endB-offA })
	_, rest, _, _, _, _ := a2.state()
	if !bytes.Equal(rest[:endB-offA], full[offA:endB]) {
		t.Errorf("resumed bytes differ from what a full viewer got")
	}
}

// TestSessionResumeExact: `seq 1 200000` while the viewer's WebSocket is
// cut at random points 20 times, resuming by offset each time: the bytes
// held at the end are those of an uncut viewer, and between the markers
// they are seq's output as the PTY sends it (ONLCR turns \n into \r\n),
// byte for byte.
func TestSessionResumeExact(t *testing.T) {
	f := newFixture(t)
	f.open(f.keyOpen("seq"))
	straight := f.attach("seq", "role=observer")
	v := f.attach("seq", "role=driver")
	// The quotes keep the markers out of the command's own echo.
	v.typeText("printf '%s\\n' S''TART; seq 1 200000; printf '%s\\n' E''ND\r")

	var held []byte
	rng := rand.New(rand.NewPCG(1, 2))
	endMark := []byte("\nEND\r\n")
	for cut := range 20 {
		target := len(held) + 1 + rng.IntN(100<<10)
		v.waitFor(fmt.Sprintf("cut %d at %d bytes", cut, target), func(out []byte) bool {
			return len(held)+len(out) >= target || bytes.Contains(out, endMark) || bytes.Contains(held, endMark)
		})
		v.cut()
		_, out, _, snaps, gaps, err := v.state()
		if err != nil || snaps != 0 || gaps != 0 {
			t.Fatalf("cut %d: protocol error %v, %d snapshots, %d gaps", cut, err, snaps, gaps)
		}
		held = append(held, out...)
		v = f.attach("seq", fmt.Sprintf("role=driver&offset=%d", len(held)))
	}
	v.waitFor("END", func(out []byte) bool { return bytes.Contains(held, endMark) || bytes.Contains(out, endMark) })
	_, out, _, _, _, err := v.state()
	if err != nil {
		t.Fatal(err)
	}
	held = append(held, out...)

	var want bytes.Buffer
	for i := 1; i <= 200000; i++ {
		fmt.Fprintf(&want, "%d\r\n", i)
	}
	// bash ends bracketed paste with "\r" just before the first output.
	start := bytes.Index(held, []byte("\rSTART\r\n"))
	end := bytes.Index(held, endMark)
	if start < 0 || end < start {
		t.Fatalf("markers not found in %d bytes: %q ... %q", len(held), held[:min(400, len(held))], held[max(0, len(held)-300):])
	}
	got := held[start+len("\rSTART\r\n") : end+1]
	if sha256.Sum256(got) != sha256.Sum256(want.Bytes()) {
		t.Errorf("seq output after 20 cuts: %d bytes, sha256 differs from seq's (%d bytes)", len(got), want.Len())
	}
	straight.waitFor("END", func(out []byte) bool { return len(out) >= len(held) })
	_, all, _, _, _, _ := straight.state()
	if !bytes.Equal(all[:len(held)], held) {
		t.Errorf("the cut viewer's bytes differ from an uncut viewer's")
	}
}

// TestSessionSnapshot: 10 MiB of output (far past a 4 MiB buffer), then
// vim: a new viewer gets a snapshot, and its screen after the snapshot and
// the output that follows equals the screen of a viewer that got every
// byte.
func TestSessionSnapshot(t *testing.T) {
	f := newFixture(t)
	f.open(f.keyOpen("snap"))
	full := f.attach("snap", "role=driver")
	// 160 x 64 KiB, paced so that the full viewer keeps up with the buffer.
	full.typeText("for i in $(seq 160); do head -c 65536 /dev/zero | tr '\\0' x; sleep 0.02; done; printf '%s\\n' F''LOODED\r")
	full.waitOutput("FLOODED\r\n")
	full.typeText("vim -u NONE -i NONE -N\r")
	full.waitOutput("VIM - Vi IMproved")
	if info := f.info("snap"); info.BufferStart == 0 || info.Offset < 10<<20 {
		t.Fatalf("session offset %d, buffer start %d: want more than 10 MiB, past the buffer", info.Offset, info.BufferStart)
	}

	late := f.attach("snap", "role=observer")
	late.waitFor("snapshot", func([]byte) bool { return late.snapshots > 0 })
	full.typeText("ihello from vim")
	full.waitOutput("hello from vim")
	full.typeText("\x1b")
	full.typeText(":set number\r")
	full.waitFor("line numbers", func(out []byte) bool { return bytes.Contains(out[max(0, len(out)-300):], []byte("1 ")) })
	late.waitOutput("hello from vim")

	// Both have everything once their offsets reach the session's end.
	var end uint64
	controlplanetest.WaitFor(t, 60*time.Second, "viewers caught up", func() bool {
		end = f.info("snap").Offset
		a, _, _, _, _, _ := full.state()
		b, _, _, _, _, _ := late.state()
		return a == end && b == end
	})
	_, _, _, fullSnaps, fullGaps, err := full.state()
	if err != nil || fullSnaps != 0 || fullGaps != 0 {
		t.Fatalf("the full viewer fell behind (%d snapshots, %d gaps, %v): not a full viewer", fullSnaps, fullGaps, err)
	}
	_, _, _, lateSnaps, lateGaps, err := late.state()
	if err != nil || lateSnaps != 1 || lateGaps != 0 {
		t.Fatalf("late viewer: %d snapshots, %d gaps, %v; want 1 snapshot", lateSnaps, lateGaps, err)
	}
	a, b := term.NewScreen(80, 24), term.NewScreen(80, 24)
	full.mu.Lock()
	a.Write(full.stream)
	full.mu.Unlock()
	late.mu.Lock()
	b.Write(late.stream)
	late.mu.Unlock()
	if d := term.Diff(a, b); d != "" {
		t.Errorf("screen from snapshot differs from the full screen:\n%s", d)
	}
	if !strings.Contains(b.Text(), "hello from vim") {
		t.Errorf("snapshot screen lacks the typed text:\n%s", b.Text())
	}
	full.typeText("\x1b:q!\r")
}

// TestSessionRoles: an observer cannot type, resize or take over; a second
// driver-capable viewer observes until it takes over, and the previous
// driver is told; takeover=1 takes the role at once.
func TestSessionRoles(t *testing.T) {
	f := newFixture(t)
	f.open(f.keyOpen("r1"))
	a := f.attach("r1", "role=driver&viewer=a")
	obs := f.attach("r1", "role=observer&viewer=o")
	if _, _, role, _, _, _ := obs.state(); role != stream.RoleObserver {
		t.Fatalf("observer's role = %q", role)
	}
	obs.typeText("echo OBS''ERVER-TYPED\r")
	obs.waitControl("not_driver for input", isError(stream.CodeNotDriver))
	obs.send(stream.Resize{Cols: 33, Rows: 11})
	obs.send(stream.Control{Type: stream.ControlTakeover})
	controlplanetest.WaitFor(t, 30*time.Second, "three not_driver errors", func() bool {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		n := 0
		for _, c := range obs.controls {
			if isError(stream.CodeNotDriver)(c) {
				n++
			}
		}
		return n == 3
	})
	a.typeText("echo size=$(stty size) A''LIVE\r")
	out := a.waitOutput("ALIVE\r\n")
	if strings.Contains(out, "OBSERVER-TYPED") || !strings.Contains(out, "size=24 80 ALIVE") {
		t.Errorf("observer input or resize reached the shell: %q", out)
	}

	// A second driver-capable viewer observes until it takes over.
	b := f.attach("r1", "role=driver&viewer=b")
	if _, _, role, _, _, _ := b.state(); role != stream.RoleObserver {
		t.Fatalf("second driver's role = %q, want observer until it takes over", role)
	}
	b.typeText("x")
	b.waitControl("not_driver", isError(stream.CodeNotDriver))
	b.send(stream.Control{Type: stream.ControlTakeover})
	b.waitControl("driver role", func(c stream.Control) bool { return isState(stream.StateAttached)(c) && c.Role == stream.RoleDriver })
	got := a.waitControl("taken over", func(c stream.Control) bool {
		return isState(stream.StateAttached)(c) && c.Role == stream.RoleObserver
	})
	if got.Reason != "taken_over" {
		t.Errorf("previous driver told %+v, want reason taken_over", got)
	}
	a.typeText("y")
	a.waitControl("not_driver for the old driver", isError(stream.CodeNotDriver))
	b.send(stream.Resize{Cols: 90, Rows: 20})
	b.typeText("echo now=$(stty size) B''DRIVES\r")
	b.waitOutput("now=20 90 BDRIVES")
	if info := f.info("r1"); info.Cols != 90 || info.Rows != 20 {
		t.Errorf("session size after the driver's resize = %dx%d", info.Cols, info.Rows)
	}

	// takeover=1 on attach.
	c := f.attach("r1", "role=driver&viewer=c&takeover=1")
	if _, _, role, _, _, _ := c.state(); role != stream.RoleDriver {
		t.Errorf("takeover=1 viewer's role = %q", role)
	}
	b.waitControl("taken over by c", func(c stream.Control) bool { return c.Reason == "taken_over" })
	roles := map[string]string{}
	for _, v := range f.info("r1").Viewers {
		roles[v.ID] = v.Role
	}
	if roles["a"] != "observer" || roles["o"] != "observer" || roles["b"] != "observer" || roles["c"] != "driver" {
		t.Errorf("listed roles = %v", roles)
	}
}

// TestSessionHostKeyAndAuthErrors: a changed host key is refused with the
// offered fingerprint; a refused credential, an unknown service and bad
// requests get their codes.
func TestSessionHostKeyAndAuthErrors(t *testing.T) {
	f := newFixture(t)
	req := f.keyOpen("hk")
	req.HostKey = "SHA256:Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm8"
	code, e := f.do(http.MethodPost, wire.SessionsPath, req, nil)
	if code != http.StatusConflict || e.Code != wire.CodeHostKeyMismatch || !strings.Contains(e.Message, f.sshd.HostKeyFingerprint) {
		t.Errorf("wrong host key: %d %+v; want 409 host_key_mismatch naming %s", code, e, f.sshd.HostKeyFingerprint)
	}
	req.HostKey = f.sshd.HostKeyFingerprint
	if info := f.open(req); info.HostKey != f.sshd.HostKeyFingerprint {
		t.Errorf("host key = %q", info.HostKey)
	}

	bad := wire.OpenSession{ID: "auth", Service: "shell", Username: f.sshd.User, Password: "not-the-password-0"}
	code, e = f.do(http.MethodPost, wire.SessionsPath, bad, nil)
	if code != http.StatusBadGateway || e.Code != wire.CodeSSHAuthFailed || strings.Contains(e.Message, bad.Password) {
		t.Errorf("wrong password: %d %+v; want 502 ssh_auth_failed", code, e)
	}
	for name, tc := range map[string]struct {
		req        any
		status     int
		code, text string
	}{
		"unknown service": {wire.OpenSession{ID: "x1", Service: "nope", Username: "u", Password: "p"}, 400, wire.CodeBadRequest, `"nope"`},
		"duplicate id":    {f.keyOpen("hk"), 409, wire.CodeSessionExists, "hk"},
		"invalid":         {map[string]any{"id": "bad id!", "service": "shell"}, 400, wire.CodeBadRequest, "id"},
		"unknown field":   {map[string]any{"id": "x2", "junk": 1}, 400, wire.CodeBadRequest, "malformed"},
		"bad key":         {wire.OpenSession{ID: "x3", Service: "shell", Username: "u", PrivateKey: "nope"}, 400, wire.CodeBadRequest, "private_key"},
	} {
		code, e := f.do(http.MethodPost, wire.SessionsPath, tc.req, nil)
		if code != tc.status || e.Code != tc.code || !strings.Contains(e.Message, tc.text) {
			t.Errorf("%s: %d %+v; want %d %s mentioning %s", name, code, e, tc.status, tc.code, tc.text)
		}
	}
	if code, e := f.do(http.MethodGet, wire.SessionsPath+"/nope", nil, nil); code != 404 || e.Code != wire.CodeSessionNotFound {
		t.Errorf("GET unknown session: %d %+v", code, e)
	}
	if code, _ := f.do(http.MethodDelete, wire.SessionsPath+"/nope", nil, nil); code != 404 {
		t.Errorf("DELETE unknown session: %d", code)
	}
	if _, status := f.tryAttach("nope", "role=driver"); status != 404 {
		t.Errorf("attach to unknown session: HTTP %d, want 404", status)
	}
	if _, status := f.tryAttach("hk", "role=boss"); status != 400 {
		t.Errorf("attach with a bad role: HTTP %d, want 400", status)
	}
}

// TestSessionEnds: terminate, shell exit, the detached timeout (a hidden
// viewer does not keep a session attached) and the idle timeout each end
// a session with their reason; viewers get every byte, the end, and a
// normal close.
func TestSessionEnds(t *testing.T) {
	f := newFixture(t)

	f.open(f.keyOpen("term"))
	v := f.attach("term", "role=driver")
	v.typeText("echo R''EADY\r")
	v.waitOutput("READY")
	if code, _ := f.do(http.MethodDelete, wire.SessionsPath+"/term", nil, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE = %d, want 204", code)
	}
	got := v.waitControl("ended", isState(stream.StateEnded))
	if got.Reason != wire.EndTerminated {
		t.Errorf("ended control = %+v, want reason terminated", got)
	}
	if err := v.waitClosed(); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("close after the end = %v, want a normal closure", err)
	}
	if info := f.info("term"); info.State != wire.SessionEnded || info.EndReason != wire.EndTerminated || info.EndedAt.IsZero() {
		t.Errorf("terminated session = %+v", info)
	}
	if code, _ := f.do(http.MethodDelete, wire.SessionsPath+"/term", nil, nil); code != http.StatusNoContent {
		t.Errorf("second DELETE = %d, want 204", code)
	}
	// An ended session can still be attached: the rest of its output, then
	// the end.
	late := f.attach("term", "role=driver&offset=0")
	late.waitControl("ended", isState(stream.StateEnded))
	if _, out, role, _, _, _ := late.state(); !strings.Contains(string(out), "READY") || role != stream.RoleObserver {
		t.Errorf("late viewer of an ended session: role %s, output %q", role, out)
	}

	f.open(f.keyOpen("exit"))
	x := f.attach("exit", "role=driver")
	x.typeText("echo B''YE; exit 7\r")
	x.waitControl("ended", isState(stream.StateEnded))
	if _, out, _, _, _, _ := x.state(); !strings.Contains(string(out), "BYE") {
		t.Errorf("output before exit lost: %q", out)
	}
	if info := f.info("exit"); info.EndReason != wire.EndExited {
		t.Errorf("exited session: reason %q", info.EndReason)
	}

	req := f.keyOpen("det")
	req.DetachedTimeoutSec = 4 // the viewers must attach within it
	f.open(req)
	d := f.attach("det", "role=driver")
	rec := f.attach("det", "role=observer&hidden=1&viewer=recorder")
	d.typeText("echo D''ET\r")
	d.waitOutput("DET")
	if vs := f.info("det").Viewers; len(vs) != 1 {
		t.Errorf("viewers with a hidden one = %+v, want only the visible one", vs)
	}
	d.cut()
	if info := f.waitEnded("det"); info.EndReason != wire.EndDetached {
		t.Errorf("detached session: reason %q, want %s", info.EndReason, wire.EndDetached)
	}
	if c := rec.waitControl("ended", isState(stream.StateEnded)); c.Reason != wire.EndDetached {
		t.Errorf("recorder told %+v", c)
	}

	req = f.keyOpen("idle")
	req.IdleTimeoutSec = 2
	f.open(req)
	i := f.attach("idle", "role=driver")
	if c := i.waitControl("ended", isState(stream.StateEnded)); c.Reason != wire.EndIdle {
		t.Errorf("idle session ended with %+v, want %s", c, wire.EndIdle)
	}
}

// TestSessionAgentStop: stopping the agent ends its sessions with
// agent_stopped and tells the viewers.
func TestSessionAgentStop(t *testing.T) {
	f := newFixture(t)
	f.open(f.keyOpen("stop"))
	v := f.attach("stop", "role=driver")
	v.typeText("echo U''P\r")
	v.waitOutput("UP")
	f.agent.Stop()
	if c := v.waitControl("ended", isState(stream.StateEnded)); c.Reason != wire.EndAgentStop {
		t.Errorf("viewer told %+v, want reason %s", c, wire.EndAgentStop)
	}
	v.waitClosed()
}
