package attach

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/warrenhq/warren/protocols/stream"
)

// TestMain checks that no test leaves a goroutine behind (Run waits for
// its own; the keyboard here is an os.Pipe, whose reads can be interrupted).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// peer is the far end of an attachment for these tests: a session whose
// output sits in a real stream.Buffer, served over real WebSockets the way
// the engine relays the agent (state "attached" first, then output from the
// viewer's offset or a gap; input from the driver is recorded and echoed).
type peer struct {
	t      *testing.T
	buf    *stream.Buffer
	srv    *httptest.Server
	echo   bool
	reason string // end reason sent when buf closes

	mu sync.Mutex
	// guarded by mu
	input    bytes.Buffer
	conns    map[*websocket.Conn]bool
	dials    []string // each attach's query
	role     string   // role given to the next attachment
	driverWS *websocket.Conn
	refuse   bool // attachments fail with 503
	refused  int  // attachments that did
	resizes  []stream.Resize
}

func newPeer(t *testing.T, size int) *peer {
	p := &peer{t: t, buf: stream.NewBuffer(size), conns: map[*websocket.Conn]bool{}, role: stream.RoleDriver, echo: true, reason: "exited"}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		p.cut()
		p.srv.Close()
	})
	return p
}

// dial is a DialFunc to the peer.
func (p *peer) dial(ctx context.Context, offset uint64, resume, takeover bool) (stream.Conn, error) {
	q := fmt.Sprintf("?offset=%d&resume=%v&takeover=%v", offset, resume, takeover)
	ws, _, err := websocket.Dial(ctx, p.srv.URL+q, nil)
	if err != nil {
		return nil, err
	}
	return stream.WebSocketConn(ws), nil
}

func (p *peer) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	refuse := p.refuse
	if refuse {
		p.refused++
	}
	p.mu.Unlock()
	if refuse {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c := stream.WebSocketConn(ws)
	defer c.Close()
	p.mu.Lock()
	p.conns[ws] = true
	p.dials = append(p.dials, r.URL.RawQuery)
	role := p.role
	if role == stream.RoleDriver {
		p.driverWS = ws
	}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, ws)
		p.mu.Unlock()
	}()

	ctx := r.Context()
	var offset uint64
	if r.URL.Query().Get("resume") == "true" {
		offset, _ = strconv.ParseUint(r.URL.Query().Get("offset"), 10, 64)
	}
	if c.WriteFrame(ctx, stream.Control{Type: stream.ControlState, State: stream.StateAttached, Role: role, Offset: p.buf.End()}) != nil {
		return
	}
	go p.pushOutput(ctx, c, offset)
	for {
		f, err := c.ReadFrame(ctx)
		if err != nil {
			return
		}
		switch f := f.(type) {
		case stream.Ping:
			c.WriteFrame(ctx, stream.Pong(f))
		case stream.Resize:
			p.mu.Lock()
			p.resizes = append(p.resizes, f)
			p.mu.Unlock()
		case stream.Input:
			p.mu.Lock()
			driving := p.driverWS == ws
			if driving {
				p.input.Write(f.Data)
			}
			p.mu.Unlock()
			if !driving {
				c.WriteFrame(ctx, stream.Control{Type: stream.ControlError, Code: stream.CodeNotDriver, Message: "observer"})
			} else if p.echo {
				p.buf.Write(f.Data)
			}
		}
	}
}

// pushOutput streams the buffer from offset, then the end of the session.
func (p *peer) pushOutput(ctx context.Context, c stream.Conn, offset uint64) {
	for {
		data, from, to, err := p.buf.ReadOffset(offset, stream.MaxOutput)
		if err != nil {
			c.Close()
			return
		}
		if to > 0 {
			if c.WriteFrame(ctx, stream.Gap{From: from, To: to}) != nil {
				return
			}
			offset = to
		}
		if len(data) > 0 {
			if c.WriteFrame(ctx, stream.Output{Offset: offset, Data: data}) != nil {
				return
			}
			offset += uint64(len(data))
			continue
		}
		if err := p.buf.Wait(ctx, offset); errors.Is(err, stream.ErrBufferClosed) {
			c.WriteFrame(ctx, stream.Control{Type: stream.ControlState, State: stream.StateEnded, Reason: p.reason})
			c.Close()
			return
		} else if err != nil {
			return
		}
	}
}

// cut breaks every attachment without a close handshake.
func (p *peer) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ws := range p.conns {
		ws.CloseNow()
	}
}

// takeOver gives the driver role to nobody and tells the current driver.
func (p *peer) takeOver(ctx context.Context) {
	p.mu.Lock()
	ws := p.driverWS
	p.driverWS = nil
	p.mu.Unlock()
	if ws != nil {
		stream.WebSocketConn(ws).WriteFrame(ctx, stream.Control{Type: stream.ControlState, State: stream.StateAttached, Role: stream.RoleObserver, Reason: "taken_over"})
	}
}

// setRefuse makes attachments fail (or work again) and returns how many
// were refused so far.
func (p *peer) setRefuse(refuse bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = refuse
	return p.refused
}

func (p *peer) refusals() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

// lastResize is the last terminal size the viewer sent.
func (p *peer) lastResize() stream.Resize {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.resizes) == 0 {
		return stream.Resize{}
	}
	return p.resizes[len(p.resizes)-1]
}

// broadcast sends c to every attachment.
func (p *peer) broadcast(ctx context.Context, c stream.Control) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ws := range p.conns {
		stream.WebSocketConn(ws).WriteFrame(ctx, c)
	}
}

func (p *peer) typed() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.input.String()
}

func (p *peer) queries() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.dials...)
}

// syncBuffer is a bytes.Buffer safe for the writer and a polling reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond with a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// started runs Run with a pipe as the keyboard and returns the keyboard and
// Run's result channel.
type run struct {
	keys     *os.File
	out, err *syncBuffer
	done     chan struct{}
	res      Result
	runErr   error
}

func start(t *testing.T, cfg Config) *run {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	rn := &run{keys: w, out: &syncBuffer{}, err: &syncBuffer{}, done: make(chan struct{})}
	cfg.In, cfg.Out, cfg.Err = r, rn.out, rn.err
	cfg.MinBackoff, cfg.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	go func() {
		defer close(rn.done)
		defer r.Close()
		rn.res, rn.runErr = Run(t.Context(), cfg)
	}()
	t.Cleanup(func() {
		w.Close()
		<-rn.done
	})
	return rn
}

func (rn *run) typeKeys(t *testing.T, s string) {
	t.Helper()
	if _, err := rn.keys.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func (rn *run) wait(t *testing.T) {
	t.Helper()
	select {
	case <-rn.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("Run did not return within 60s; status:\n%s", rn.err.String())
	}
}

// TestDetachLeavesSessionRunning: keys reach the session, output comes
// back, Enter ~ . detaches with a status line; keys typed just before it
// are sent, those after it are not.
func TestDetachLeavesSessionRunning(t *testing.T) {
	p := newPeer(t, 1<<20)
	rn := start(t, Config{Dial: p.dial, Session: "rs_1"})
	waitFor(t, "attached status", func() bool { return strings.Contains(rn.err.String(), "[warren] attached as driver") })
	rn.typeKeys(t, "echo hi\n")
	waitFor(t, "echo of the keys", func() bool { return rn.out.String() == "echo hi\n" })
	rn.typeKeys(t, "echo bye\n~.after") // a line and the escape in one read: the line still leaves
	rn.wait(t)
	if rn.runErr != nil || !rn.res.Detached || rn.res.Ended {
		t.Fatalf("Run = %+v, %v; want detached", rn.res, rn.runErr)
	}
	if got, want := p.typed(), "echo hi\necho bye\n"; got != want {
		t.Errorf("session received %q, want %q", got, want)
	}
	if !strings.Contains(rn.err.String(), "[warren] detached; the session keeps running (warren session attach rs_1)") {
		t.Errorf("status lines %q: no detach line", rn.err.String())
	}
	if rn.res.Offset > uint64(len("echo hi\necho bye\n")) || rn.res.Offset < uint64(len("echo hi\n")) {
		t.Errorf("Result.Offset = %d, want the echoed bytes received", rn.res.Offset)
	}
}

// TestResumeAcrossCuts: output streamed while the connection is cut again
// and again arrives exactly once and in order; keys typed meanwhile arrive
// once, in order; re-attachments resume with the offset and take the driver
// role back; the end of the session is reported with its reason.
func TestResumeAcrossCuts(t *testing.T) {
	p := newPeer(t, 8<<20)
	p.echo = false
	rn := start(t, Config{Dial: p.dial, Session: "rs_2"})
	waitFor(t, "attached", func() bool { return strings.Contains(rn.err.String(), "attached as driver") })

	var src bytes.Buffer
	var keys strings.Builder
	for i := range 20 {
		chunk := bytes.Repeat([]byte(fmt.Sprintf("line %06d of the output\r\n", i)), 4000)
		src.Write(chunk)
		p.buf.Write(chunk)
		// Cut; once the viewer knows (it re-dials and is refused), type:
		// the keys wait for the next attachment.
		refused := p.setRefuse(true)
		p.cut()
		waitFor(t, "a refused re-dial", func() bool { return p.refusals() > refused })
		k := fmt.Sprintf("k%d;", i)
		keys.WriteString(k)
		rn.typeKeys(t, k)
		p.setRefuse(false)
		// (A key written just before a cut may be lost: the protocol has
		// no input acks. So the next cut waits for this key.)
		waitFor(t, "the keys so far", func() bool {
			if !strings.HasPrefix(keys.String(), p.typed()) {
				t.Fatalf("session received %q, want %q", p.typed(), keys.String())
			}
			return p.typed() == keys.String()
		})
	}
	waitFor(t, "every output byte", func() bool { return len(rn.out.String()) >= src.Len() })
	p.buf.Close()
	rn.wait(t)

	if got, want := sha256.Sum256([]byte(rn.out.String())), sha256.Sum256(src.Bytes()); got != want {
		t.Errorf("output: %d bytes, SHA-256 differs from the %d source bytes", len(rn.out.String()), src.Len())
	}
	if rn.runErr != nil || !rn.res.Ended || rn.res.EndReason != "exited" {
		t.Errorf("Run = %+v, %v; want ended, exited", rn.res, rn.runErr)
	}
	status := rn.err.String()
	for _, want := range []string{"[warren] reconnecting…", "[warren] reconnected", "[warren] session ended: exited"} {
		if !strings.Contains(status, want) {
			t.Errorf("status lines %q: no %q", status, want)
		}
	}
	qs := p.queries()
	if len(qs) < 2 || !strings.Contains(qs[0], "resume=false") || !strings.Contains(qs[0], "takeover=false") {
		t.Fatalf("attach queries %q: want a first one without resume or takeover", qs)
	}
	for _, q := range qs[1:] {
		if !strings.Contains(q, "resume=true") || !strings.Contains(q, "takeover=true") {
			t.Errorf("re-attach query %q: want resume and takeover (the viewer was driving)", q)
		}
	}
}

// TestTakenOver: a driver whose role moves says so once, and input it
// types afterwards is refused with one status line, not one per key.
func TestTakenOver(t *testing.T) {
	p := newPeer(t, 1<<20)
	rn := start(t, Config{Dial: p.dial, Session: "rs_3"})
	waitFor(t, "attached", func() bool { return strings.Contains(rn.err.String(), "attached as driver") })
	p.takeOver(t.Context())
	waitFor(t, "taken over", func() bool {
		return strings.Contains(rn.err.String(), "[warren] you are now an observer (taken over)")
	})
	for range 5 {
		rn.typeKeys(t, "x")
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, "refusal", func() bool { return strings.Contains(rn.err.String(), "input refused") })
	rn.typeKeys(t, "\n~.")
	rn.wait(t)
	if n := strings.Count(rn.err.String(), "input refused"); n != 1 {
		t.Errorf("%d refusal lines, want 1:\n%s", n, rn.err.String())
	}
	if p.typed() != "" {
		t.Errorf("session received %q from an observer", p.typed())
	}
}

// TestAgentOffline: the engine's "agent offline" and the attachment coming
// back are one status line each.
func TestAgentOffline(t *testing.T) {
	p := newPeer(t, 1<<20)
	rn := start(t, Config{Dial: p.dial})
	waitFor(t, "attached", func() bool { return strings.Contains(rn.err.String(), "attached as driver") })
	for range 3 {
		p.broadcast(t.Context(), stream.Control{Type: stream.ControlState, State: stream.StateAgentOffline})
	}
	waitFor(t, "offline line", func() bool { return strings.Contains(rn.err.String(), "[warren] agent offline") })
	p.broadcast(t.Context(), stream.Control{Type: stream.ControlState, State: stream.StateAttached, Role: stream.RoleDriver})
	waitFor(t, "back line", func() bool { return strings.Contains(rn.err.String(), "[warren] reconnected") })
	rn.typeKeys(t, "~.")
	rn.wait(t)
	if n := strings.Count(rn.err.String(), "agent offline"); n != 1 {
		t.Errorf("%d offline lines, want 1:\n%s", n, rn.err.String())
	}
}

// TestObserverAttach: an observer is told it is one.
func TestObserverAttach(t *testing.T) {
	p := newPeer(t, 1<<20)
	p.role = stream.RoleObserver
	rn := start(t, Config{Dial: p.dial, Observe: true})
	waitFor(t, "attached", func() bool { return strings.Contains(rn.err.String(), "[warren] attached as observer") })
	rn.typeKeys(t, "~.")
	rn.wait(t)
	if !rn.res.Detached {
		t.Errorf("Run = %+v, %v; want detached", rn.res, rn.runErr)
	}
}

// TestGapIsReported: a viewer whose bytes fell out of the buffer gets a
// visible notice and the bytes that remain.
func TestGapIsReported(t *testing.T) {
	p := newPeer(t, 64<<10)
	rn := start(t, Config{Dial: p.dial})
	waitFor(t, "attached", func() bool { return strings.Contains(rn.err.String(), "attached as driver") })
	// Refuse re-attachments while the buffer wraps past the viewer.
	p.setRefuse(true)
	p.cut()
	p.buf.Write(bytes.Repeat([]byte("z"), 200<<10))
	p.setRefuse(false)
	waitFor(t, "gap notice", func() bool {
		return strings.Contains(rn.err.String(), "bytes of output were lost")
	})
	rn.typeKeys(t, "~.")
	rn.wait(t)
}

// TestPermanentDialError ends Run with the error.
func TestPermanentDialError(t *testing.T) {
	bad := errors.New("ticket refused")
	dial := func(context.Context, uint64, bool, bool) (stream.Conn, error) { return nil, stream.Permanent(bad) }
	rn := start(t, Config{Dial: dial})
	rn.wait(t)
	if !errors.Is(rn.runErr, bad) {
		t.Errorf("Run = %+v, %v; want %v", rn.res, rn.runErr, bad)
	}
}
