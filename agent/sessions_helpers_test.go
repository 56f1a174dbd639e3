package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/warrenhq/warren/agent"
	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/controlplanetest"
	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/protocols/stream"
)

// fixture is a real engine, a real agent ("box") and a real sshd, with an
// ssh service "shell" on the device. The test talks to the agent API the
// way the engine does: over the engine's overlay device.
type fixture struct {
	t      *testing.T
	eng    *controlplanetest.Engine
	agent  *controlplanetest.Agent
	sshd   *controlplanetest.SSHD
	client *http.Client
}

const device = "box"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sshd := controlplanetest.StartSSHD(t) // skips (loudly) without sshd
	eng := controlplanetest.NewEngine(t, controlplanetest.Options{})
	f := &fixture{t: t, eng: eng, agent: eng.NewAgent(device), sshd: sshd}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return eng.Dial(ctx, device, wire.AgentAPIPort)
	}}
	f.client = &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
	f.addService("shell", 2222, sshd.Addr)
	return f
}

// addService adds an ssh service and waits until the agent serves it.
func (f *fixture) addService(name string, port int, target string) {
	f.t.Helper()
	_, err := f.eng.Admin().AddService(context.Background(), device, api.Service{Name: name, Protocol: "ssh", Port: port, Target: target})
	if err != nil {
		f.t.Fatalf("adding service %s: %v", name, err)
	}
	controlplanetest.WaitFor(f.t, 20*time.Second, "agent serving "+name, func() bool {
		st, err := agent.ReadStatus(f.agent.StateDir)
		return err == nil && slices.ContainsFunc(st.Services, func(s agent.ServiceStatus) bool { return s.Name == name })
	})
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// do sends a request to the agent API and decodes the JSON answer into
// out (if not nil). It returns the status and the error body, if any.
func (f *fixture) do(method, path string, in, out any) (int, wire.ErrorDetail) {
	f.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			f.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(testCtx(f.t), method, "http://agent"+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var eb wire.ErrorBody
	if resp.StatusCode >= 300 {
		if err := json.Unmarshal(data, &eb); err != nil {
			f.t.Fatalf("%s %s = %d with a body that is not an error envelope: %q", method, path, resp.StatusCode, data)
		}
		return resp.StatusCode, eb.Error
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			f.t.Fatalf("%s %s: decoding %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode, eb.Error
}

// keyOpen is an OpenSession for the fixture's sshd with the client key.
func (f *fixture) keyOpen(id string) wire.OpenSession {
	return wire.OpenSession{ID: id, OrgID: "org_1", OwnerID: "usr_1", Service: "shell",
		Username: f.sshd.User, PrivateKey: string(f.sshd.KeyPEM)}
}

// open opens a session and fails the test unless it is created.
func (f *fixture) open(req wire.OpenSession) wire.SessionInfo {
	f.t.Helper()
	var info wire.SessionInfo
	if code, e := f.do(http.MethodPost, wire.SessionsPath, req, &info); code != http.StatusCreated {
		f.t.Fatalf("POST %s = %d %+v, want 201", wire.SessionsPath, code, e)
	}
	return info
}

func (f *fixture) info(id string) wire.SessionInfo {
	f.t.Helper()
	var info wire.SessionInfo
	if code, e := f.do(http.MethodGet, wire.SessionsPath+"/"+id, nil, &info); code != http.StatusOK {
		f.t.Fatalf("GET session %s = %d %+v", id, code, e)
	}
	return info
}

// waitEnded waits until the session is listed as ended and returns it.
func (f *fixture) waitEnded(id string) wire.SessionInfo {
	f.t.Helper()
	var info wire.SessionInfo
	controlplanetest.WaitFor(f.t, 60*time.Second, "session "+id+" ended", func() bool {
		info = f.info(id)
		return info.State == wire.SessionEnded
	})
	return info
}

// viewer is a strict test client of the attach WebSocket: Output must
// continue exactly at its offset (an overlap is trimmed), snapshots and
// gaps move the offset explicitly, and every frame is recorded.
type viewer struct {
	t *testing.T
	c *websocket.Conn

	mu        sync.Mutex
	offset    uint64
	out       []byte // output bytes received from base on
	base      uint64 // the offset out starts at
	stream    []byte // what a terminal would have been fed: snapshots and output
	snapshots int
	gaps      int
	controls  []stream.Control
	role      string
	protoErr  error
	pending   []byte // snapshot chunks being joined
	done      chan struct{}
	readErr   error
}

// attach opens a viewer. query is the attach query (role=..., offset=...).
func (f *fixture) attach(id, query string) *viewer {
	f.t.Helper()
	v, status := f.tryAttach(id, query)
	if v == nil {
		f.t.Fatalf("attaching to %s?%s: HTTP %d", id, query, status)
	}
	return v
}

func (f *fixture) tryAttach(id, query string) (*viewer, int) {
	f.t.Helper()
	ctx := testCtx(f.t)
	u := "ws://agent" + wire.SessionsPath + "/" + id + "/attach?" + query
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: f.client})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, status
	}
	c.SetReadLimit(stream.MaxEncodedFrame + 8)
	q, _ := url.ParseQuery(query)
	v := &viewer{t: f.t, c: c, done: make(chan struct{})}
	if q.Has("offset") {
		fmt.Sscan(q.Get("offset"), &v.offset)
		v.base = v.offset
	}
	f.t.Cleanup(func() { c.CloseNow(); <-v.done })
	// The first frame is the attached state.
	f0 := v.read(ctx)
	ctl, ok := f0.(stream.Control)
	if !ok || ctl.Type != stream.ControlState || ctl.State != stream.StateAttached || ctl.Role == "" {
		f.t.Fatalf("first frame = %#v, want an attached state with a role", f0)
	}
	v.handle(f0)
	go v.loop(ctx)
	return v, 101
}

func (v *viewer) read(ctx context.Context) stream.Frame {
	typ, b, err := v.c.Read(ctx)
	if err != nil {
		v.t.Fatalf("reading the first frame: %v", err)
	}
	if typ != websocket.MessageBinary {
		v.t.Fatalf("text message from the agent")
	}
	f, err := stream.DecodeFrame(b)
	if err != nil {
		v.t.Fatalf("decoding the first frame: %v", err)
	}
	return f
}

func (v *viewer) loop(ctx context.Context) {
	defer close(v.done)
	for {
		typ, b, err := v.c.Read(ctx)
		if err != nil {
			v.mu.Lock()
			v.readErr = err
			v.mu.Unlock()
			return
		}
		f, err := stream.DecodeFrame(b)
		if err != nil || typ != websocket.MessageBinary {
			v.fail(fmt.Errorf("bad frame from the agent: %v", err))
			continue
		}
		if p, ok := f.(stream.Ping); ok {
			v.send(stream.Pong{Nonce: p.Nonce})
			continue
		}
		v.handle(f)
	}
}

func (v *viewer) fail(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.protoErr == nil {
		v.protoErr = err
	}
}

func (v *viewer) handle(f stream.Frame) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch f := f.(type) {
	case stream.Output:
		if v.pending != nil {
			v.protoErr = fmt.Errorf("output inside a snapshot")
			return
		}
		if f.Offset > v.offset {
			v.protoErr = fmt.Errorf("output at %d, viewer holds up to %d", f.Offset, v.offset)
			return
		}
		end := f.Offset + uint64(len(f.Data))
		if end <= v.offset {
			return
		}
		data := f.Data[v.offset-f.Offset:]
		v.out = append(v.out, data...)
		v.stream = append(v.stream, data...)
		v.offset = end
	case stream.Snapshot:
		v.pending = append(v.pending, f.Data...)
		if v.pending == nil {
			v.pending = []byte{}
		}
		if f.Final {
			v.stream = append(v.stream, v.pending...)
			v.pending = nil
			v.snapshots++
			v.offset, v.base, v.out = f.Offset, f.Offset, nil
		}
	case stream.Gap:
		v.gaps++
		v.offset, v.base, v.out = f.To, f.To, nil
	case stream.Control:
		v.controls = append(v.controls, f)
		if f.Type == stream.ControlState && f.Role != "" {
			v.role = f.Role
		}
	}
}

func (v *viewer) send(f stream.Frame) {
	b, err := stream.AppendFrame(nil, f)
	if err != nil {
		v.t.Errorf("encoding %T: %v", f, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v.c.Write(ctx, websocket.MessageBinary, b) // a cut viewer fails here: fine
}

// typeText sends keystrokes.
func (v *viewer) typeText(s string) { v.send(stream.Input{Data: []byte(s)}) }

// cut drops the connection without a close handshake and waits for the
// reader.
func (v *viewer) cut() {
	v.c.CloseNow()
	<-v.done
}

// snapshot returns the viewer's state under its lock.
func (v *viewer) state() (offset uint64, out []byte, role string, snaps, gaps int, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.offset, bytes.Clone(v.out), v.role, v.snapshots, v.gaps, v.protoErr
}

// waitFor waits until cond holds on the viewer's output (called with the
// viewer's lock held: cond must not keep out), failing on a protocol
// error.
func (v *viewer) waitFor(what string, cond func(out []byte) bool) {
	v.t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		v.mu.Lock()
		err, ok, tail := v.protoErr, cond(v.out), string(v.out[max(0, len(v.out)-300):])
		v.mu.Unlock()
		if err != nil {
			v.t.Fatalf("protocol error while waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("timed out waiting for %s; output tail %q", what, tail)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitOutput waits until the output contains s and returns the output.
func (v *viewer) waitOutput(s string) string {
	v.t.Helper()
	from := 0 // search only what is new since the last look
	v.waitFor(fmt.Sprintf("%q", s), func(out []byte) bool {
		if bytes.Contains(out[min(from, len(out)):], []byte(s)) {
			return true
		}
		from = max(0, len(out)-len(s))
		return false
	})
	_, out, _, _, _, _ := v.state()
	return string(out)
}

// waitControl waits for a control frame matching ok.
func (v *viewer) waitControl(what string, ok func(stream.Control) bool) stream.Control {
	v.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		v.mu.Lock()
		for _, c := range v.controls {
			if ok(c) {
				v.mu.Unlock()
				return c
			}
		}
		all := slices.Clone(v.controls)
		v.mu.Unlock()
		if time.Now().After(deadline) {
			v.t.Fatalf("timed out waiting for control %s; got %+v", what, all)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitClosed waits for the connection to end and returns the read error.
func (v *viewer) waitClosed() error {
	v.t.Helper()
	select {
	case <-v.done:
	case <-time.After(60 * time.Second):
		v.t.Fatal("viewer connection never closed")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.readErr
}

func isState(state string) func(stream.Control) bool {
	return func(c stream.Control) bool { return c.Type == stream.ControlState && c.State == state }
}

func isError(code string) func(stream.Control) bool {
	return func(c stream.Control) bool { return c.Type == stream.ControlError && c.Code == code }
}
