package stream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

// testDeadline bounds every wait for a condition in these tests; the
// machine is small and shared, so it is generous and never a measurement.
const testDeadline = 60 * time.Second

// attachFunc serves one attachment: n counts attachments from 0; offset and
// resume are what the Viewer dialed with.
type attachFunc func(ctx context.Context, n int, conn Conn, ws *websocket.Conn, offset uint64, resume bool)

// wsServer is a real WebSocket server on loopback running serve for every
// attachment, and a Dial for a Viewer that reaches it.
type wsServer struct {
	t      *testing.T
	srv    *httptest.Server
	client *http.Client
	n      atomic.Int32
	dials  atomic.Int32
}

func newWSServer(t *testing.T, serve attachFunc) *wsServer {
	t.Helper()
	s := &wsServer{t: t}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("ticket") == "bad" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		offset, _ := strconv.ParseUint(r.URL.Query().Get("offset"), 10, 64)
		resume := r.URL.Query().Get("resume") == "1"
		serve(r.Context(), int(s.n.Add(1)-1), WebSocketConn(ws), ws, offset, resume)
	}))
	s.client = &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		s.srv.Close()
		s.client.CloseIdleConnections()
	})
	return s
}

// dial is a ViewerConfig.Dial: a 403 is permanent, like a bad ticket.
func (s *wsServer) dial(ticket string) func(ctx context.Context, offset uint64, resume bool) (Conn, error) {
	return func(ctx context.Context, offset uint64, resume bool) (Conn, error) {
		s.dials.Add(1)
		r := "0"
		if resume {
			r = "1"
		}
		url := fmt.Sprintf("ws%s?ticket=%s&offset=%d&resume=%s", strings.TrimPrefix(s.srv.URL, "http"), ticket, offset, r)
		ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: s.client})
		if resp != nil && resp.StatusCode == http.StatusForbidden {
			return nil, Permanent(fmt.Errorf("attaching: %w", err))
		}
		if err != nil {
			return nil, err
		}
		return WebSocketConn(ws), nil
	}
}

// checkLeaks fails t if goroutines outlive it; call it first so that it runs
// after the other cleanups (servers closing).
func checkLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// waitFor polls cond until it holds or testDeadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runViewer runs v in the background. stop cancels it and returns Run's
// error; done is closed when Run returned (then stop returns at once).
func runViewer(v *Viewer) (stop func() error, done <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan struct{})
	var err error
	go func() {
		defer close(ch)
		err = v.Run(ctx)
	}()
	return func() error {
		cancel()
		<-ch
		return err
	}, ch
}

// waitRun waits for Run to end by itself and returns its error.
func waitRun(t *testing.T, stop func() error, done <-chan struct{}) error {
	t.Helper()
	select {
	case <-done:
		return stop()
	case <-time.After(testDeadline):
		t.Fatal("Run() did not end")
		return nil
	}
}

// answer serves a peer's frames: Pongs for Pings, and input to got.
func answer(ctx context.Context, conn Conn, got func(Frame)) error {
	for {
		f, err := conn.ReadFrame(ctx)
		if err != nil {
			return err
		}
		switch f := f.(type) {
		case Ping:
			if err := conn.WriteFrame(ctx, Pong{Nonce: f.Nonce}); err != nil {
				return err
			}
		default:
			if got != nil {
				got(f)
			}
		}
	}
}

// serveBuffer streams buf from offset (new viewers from 0) and reads the
// viewer's frames; after cutAfter bytes (if >= 0) it cuts the TCP
// connection. It resends up to 1000 bytes the viewer already holds.
func serveBuffer(ctx context.Context, conn Conn, ws *websocket.Conn, buf *Buffer, offset uint64, resume bool, cutAfter int, rng *rand.Rand, got func(Frame)) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		answer(ctx, conn, got)
		cancel()
	}()
	defer wg.Wait()
	defer ws.CloseNow()
	if !resume {
		offset = 0
	}
	if back := uint64(rng.IntN(1000)); offset >= buf.Start()+back {
		offset -= back
	}
	if conn.WriteFrame(ctx, Control{Type: ControlState, State: StateAttached, Role: RoleDriver, Offset: buf.End()}) != nil {
		return
	}
	sent := 0
	for {
		data, gapFrom, gapTo, err := buf.ReadOffset(offset, 1+rng.IntN(MaxOutput))
		if err != nil {
			return
		}
		if gapTo > 0 {
			if conn.WriteFrame(ctx, Gap{From: gapFrom, To: gapTo}) != nil {
				return
			}
			offset = gapTo
		}
		if len(data) == 0 {
			if errors.Is(buf.Wait(ctx, offset), ErrBufferClosed) {
				conn.WriteFrame(ctx, Control{Type: ControlState, State: StateEnded, Reason: "exit"})
				<-ctx.Done() // the reader ends when the viewer closes
				return
			}
			if ctx.Err() != nil {
				return
			}
			continue
		}
		if cutAfter >= 0 && sent+len(data) > cutAfter {
			return // the deferred CloseNow cuts TCP, perhaps mid-frame
		}
		if conn.WriteFrame(ctx, Output{Offset: offset, Data: data}) != nil {
			return
		}
		offset += uint64(len(data))
		sent += len(data)
	}
}

// TestViewerResumesAcrossCuts streams 2 MB while the server cuts the
// connection at random points 25 times and resends overlapping bytes: the
// viewer's bytes are SHA-256 equal to the source.
func TestViewerResumesAcrossCuts(t *testing.T) {
	checkLeaks(t)
	const size, cuts = 2 << 20, 25
	src := source(size, 7)
	buf := NewBuffer(0)
	var acks atomic.Int32
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	s := newWSServer(t, func(ctx context.Context, n int, conn Conn, ws *websocket.Conn, offset uint64, resume bool) {
		mu.Lock()
		cutAfter := -1
		if n < cuts {
			cutAfter = rng.IntN(2 * size / cuts)
		}
		r := rand.New(rand.NewPCG(uint64(n), 3))
		mu.Unlock()
		serveBuffer(ctx, conn, ws, buf, offset, resume, cutAfter, r, func(f Frame) {
			if a, ok := f.(Ack); ok {
				if a.Offset > size {
					t.Errorf("Ack(%d) beyond the source's %d bytes", a.Offset, size)
				}
				acks.Add(1)
			}
		})
	})
	go func() {
		r := rand.New(rand.NewPCG(5, 6))
		for p := src; len(p) > 0; {
			n := min(len(p), 1+r.IntN(100<<10))
			buf.Write(p[:n])
			p = p[n:]
		}
		buf.Close()
	}()

	h := sha256.New()
	var got atomic.Int64
	v := NewViewer(ViewerConfig{
		Dial:       s.dial("ok"),
		OnOutput:   func(p []byte) { h.Write(p); got.Add(int64(len(p))) },
		OnGap:      func(from, to uint64) { t.Errorf("OnGap(%d, %d) with a buffer holding everything", from, to) },
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
	})
	stop, done := runViewer(v)
	defer stop()
	if err := waitRun(t, stop, done); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("Run() = %v, want ErrSessionEnded", err)
	}
	if got.Load() != size || v.Offset() != size {
		t.Fatalf("viewer got %d bytes, Offset() = %d, want %d", got.Load(), v.Offset(), size)
	}
	if want := sha256.Sum256(src); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Errorf("SHA-256 of the viewer's bytes differs from the source")
	}
	if acks.Load() == 0 {
		t.Errorf("the server got no Ack for %d bytes", size)
	}
	if n := s.n.Load(); n <= cuts {
		t.Errorf("%d attachments, want more than %d (every cut re-attaches)", n, cuts)
	}
}

// TestViewerInputAcrossCuts: input sent while the viewer is cut off arrives
// once, in order, after it re-attaches; input sent while attached too.
func TestViewerInputAcrossCuts(t *testing.T) {
	checkLeaks(t)
	var mu sync.Mutex
	var got []string      // guarded by mu
	var cut chan struct{} // guarded by mu: closed to cut the current attachment
	s := newWSServer(t, func(ctx context.Context, n int, conn Conn, ws *websocket.Conn, offset uint64, resume bool) {
		if n > 0 && (!resume || offset != 0) {
			t.Errorf("re-attachment %d dialed offset %d, resume %v; want 0, true", n, offset, resume)
		}
		c := make(chan struct{})
		mu.Lock()
		cut = c
		mu.Unlock()
		ctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-c:
				ws.CloseNow()
			case <-ctx.Done():
			}
		}()
		answer(ctx, conn, func(f Frame) {
			if in, ok := f.(Input); ok {
				mu.Lock()
				got = append(got, string(in.Data))
				mu.Unlock()
			}
		})
		cancel()
	})
	gate := make(chan struct{})
	dialing := make(chan struct{}, 1)
	dial := s.dial("ok")
	v := NewViewer(ViewerConfig{
		Dial: func(ctx context.Context, offset uint64, resume bool) (Conn, error) {
			if s.dials.Load() > 0 {
				dialing <- struct{}{}
				select {
				case <-gate:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return dial(ctx, offset, resume)
		},
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
	})
	stop, _ := runViewer(v)
	defer stop()

	var want []string
	received := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == len(want)
	}
	for round := range 10 {
		waitFor(t, "attachment", v.Connected)
		for i := range 3 {
			want = append(want, fmt.Sprintf("attached %d.%d\r", round, i))
			if err := v.Send(Input{Data: []byte(want[len(want)-1])}); err != nil {
				t.Fatalf("Send() error: %v", err)
			}
		}
		waitFor(t, "input while attached", received)
		mu.Lock()
		close(cut)
		mu.Unlock()
		<-dialing // the viewer noticed the cut and is redialing
		if v.Connected() {
			t.Fatal("Connected() = true while redialing")
		}
		for i := range 5 {
			want = append(want, fmt.Sprintf("cut %d.%d\r", round, i))
			if err := v.Send(Input{Data: []byte(want[len(want)-1])}); err != nil {
				t.Fatalf("Send() error: %v", err)
			}
		}
		gate <- struct{}{}
		waitFor(t, "input typed during the cut", received)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, "") != strings.Join(want, "") {
		t.Errorf("server got input %q, want %q", got, want)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run() after cancel = %v, want context.Canceled", err)
	}
}

// TestViewerSnapshot: a snapshot sent in chunks reaches OnSnapshot joined,
// moves the offset, and output continues from there; bytes below the offset
// are dropped.
func TestViewerSnapshot(t *testing.T) {
	checkLeaks(t)
	snap := source(3*MaxOutput+100, 11)
	s := newWSServer(t, func(ctx context.Context, n int, conn Conn, ws *websocket.Conn, offset uint64, resume bool) {
		if resume {
			t.Errorf("first dial resume = true, want false")
		}
		for _, f := range SplitSnapshot(1000, snap) {
			conn.WriteFrame(ctx, f)
		}
		conn.WriteFrame(ctx, Output{Offset: 990, Data: []byte("0123456789abc")})
		conn.WriteFrame(ctx, Output{Offset: 1003, Data: []byte("def")})
		conn.WriteFrame(ctx, Control{Type: ControlState, State: StateEnded})
		answer(ctx, conn, nil)
	})
	var gotSnap [][]byte
	var out []byte
	v := NewViewer(ViewerConfig{
		Dial:       s.dial("ok"),
		OnSnapshot: func(p []byte) { gotSnap = append(gotSnap, bytes.Clone(p)) },
		OnOutput:   func(p []byte) { out = append(out, p...) },
	})
	stop, done := runViewer(v)
	if err := waitRun(t, stop, done); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("Run() = %v, want ErrSessionEnded", err)
	}
	if len(gotSnap) != 1 || !bytes.Equal(gotSnap[0], snap) {
		t.Errorf("OnSnapshot got %d snapshots, want 1 equal to the %d bytes sent", len(gotSnap), len(snap))
	}
	if string(out) != "abcdef" || v.Offset() != 1006 {
		t.Errorf("output after the snapshot = %q, Offset() = %d, want \"abcdef\", 1006", out, v.Offset())
	}
}

// TestViewerProtocolErrors: frames that break the offset rules, or a
// snapshot over MaxSnapshot, end the attachment (nothing is delivered) and
// the viewer re-attaches.
func TestViewerProtocolErrors(t *testing.T) {
	tests := []struct {
		name   string
		frames []Frame
	}{
		{"output beyond offset", []Frame{Output{Offset: 5, Data: []byte("x")}}},
		{"gap beyond offset", []Frame{Gap{From: 5, To: 10}}},
		{"output inside snapshot", []Frame{Snapshot{Offset: 0, Data: []byte("a")}, Output{Offset: 0, Data: []byte("x")}}},
		{"snapshot offsets differ", []Frame{Snapshot{Offset: 0, Data: []byte("a")}, Snapshot{Offset: 1, Final: true}}},
		{"snapshot too large", bigSnapshot()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			s := newWSServer(t, func(ctx context.Context, n int, conn Conn, ws *websocket.Conn, offset uint64, resume bool) {
				if n == 0 {
					for _, f := range tt.frames {
						if conn.WriteFrame(ctx, f) != nil {
							return
						}
					}
				} else {
					conn.WriteFrame(ctx, Output{Offset: 0, Data: []byte("ok")})
					conn.WriteFrame(ctx, Control{Type: ControlState, State: StateEnded})
				}
				answer(ctx, conn, nil)
			})
			var out []byte
			v := NewViewer(ViewerConfig{
				Dial:       s.dial("ok"),
				OnOutput:   func(p []byte) { out = append(out, p...) },
				OnSnapshot: func(p []byte) { t.Errorf("OnSnapshot(%d bytes) for a bad snapshot", len(p)) },
				OnGap:      func(from, to uint64) { t.Errorf("OnGap(%d, %d) for a bad gap", from, to) },
				MinBackoff: time.Millisecond,
			})
			stop, done := runViewer(v)
			if err := waitRun(t, stop, done); !errors.Is(err, ErrSessionEnded) {
				t.Fatalf("Run() = %v, want ErrSessionEnded", err)
			}
			if string(out) != "ok" || s.n.Load() != 2 {
				t.Errorf("output %q after %d attachments, want \"ok\" after 2", out, s.n.Load())
			}
		})
	}
}

func bigSnapshot() []Frame {
	var frames []Frame
	for _, f := range SplitSnapshot(0, make([]byte, MaxSnapshot+1)) {
		frames = append(frames, f)
	}
	return frames
}

// TestViewerGap: a viewer resuming at an offset the buffer no longer holds
// gets OnGap for the lost bytes, then the rest.
func TestViewerGap(t *testing.T) {
	checkLeaks(t)
	src := source(5000, 3)
	buf := NewBuffer(1000)
	buf.Write(src)
	buf.Close()
	s := newWSServer(t, func(ctx context.Context, n int, conn Conn, ws *websocket.Conn, offset uint64, resume bool) {
		if !resume || offset != 1234 {
			t.Errorf("dial offset %d, resume %v, want 1234, true", offset, resume)
		}
		serveBuffer(ctx, conn, ws, buf, offset, resume, -1, rand.New(rand.NewPCG(0, 0)), nil)
	})
	var gaps [][2]uint64
	var out []byte
	v := NewViewer(ViewerConfig{
		Dial:     s.dial("ok"),
		Resume:   true,
		Offset:   1234,
		OnOutput: func(p []byte) { out = append(out, p...) },
		OnGap:    func(from, to uint64) { gaps = append(gaps, [2]uint64{from, to}) },
	})
	stop, done := runViewer(v)
	if err := waitRun(t, stop, done); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("Run() = %v, want ErrSessionEnded", err)
	}
	if len(gaps) != 1 || gaps[0] != [2]uint64{1234, 4000} {
		t.Errorf("gaps = %v, want [[1234 4000]]", gaps)
	}
	if !bytes.Equal(out, src[4000:]) {
		t.Errorf("output = %d bytes, want the last 1000 of the source", len(out))
	}
}

// TestViewerPermanent: a permanent Dial error (a 403) stops Run at once and
// is returned; a transient one is retried.
func TestViewerPermanent(t *testing.T) {
	checkLeaks(t)
	s := newWSServer(t, func(ctx context.Context, n int, conn Conn, ws *websocket.Conn, offset uint64, resume bool) {
		t.Error("attached with a bad ticket")
	})
	v := NewViewer(ViewerConfig{Dial: s.dial("bad")})
	stop, done := runViewer(v)
	err := waitRun(t, stop, done)
	if !IsPermanent(err) || s.dials.Load() != 1 {
		t.Errorf("Run() = %v after %d dials, want a permanent error after 1", err, s.dials.Load())
	}

	var dials atomic.Int32
	transient := errors.New("connection refused")
	v = NewViewer(ViewerConfig{
		Dial: func(ctx context.Context, offset uint64, resume bool) (Conn, error) {
			if dials.Add(1) < 3 {
				return nil, transient
			}
			return nil, Permanent(fmt.Errorf("attaching: %w", transient))
		},
		MinBackoff: time.Millisecond,
	})
	stop, done = runViewer(v)
	err = waitRun(t, stop, done)
	if !IsPermanent(err) || !errors.Is(err, transient) || dials.Load() != 3 {
		t.Errorf("Run() = %v after %d dials, want the permanent error after 3", err, dials.Load())
	}
	if IsPermanent(transient) || Permanent(nil) != nil {
		t.Error("IsPermanent(plain error) or Permanent(nil) != nil")
	}
}

// TestViewerDeadLink: a peer that stops answering pings (its TCP
// connection still open) is dropped after 3 missed pongs and the viewer
// re-attaches; Pings from the peer are answered.
func TestViewerDeadLink(t *testing.T) {
	checkLeaks(t)
	var pongs atomic.Int32
	s := newWSServer(t, func(ctx context.Context, n int, conn Conn, ws *websocket.Conn, offset uint64, resume bool) {
		if n == 0 {
			conn.WriteFrame(ctx, Ping{Nonce: 77})
			for {
				f, err := conn.ReadFrame(ctx) // never answers
				if err != nil {
					return
				}
				if p, ok := f.(Pong); ok && p.Nonce == 77 {
					pongs.Add(1)
				}
			}
		}
		conn.WriteFrame(ctx, Control{Type: ControlState, State: StateEnded})
		answer(ctx, conn, nil)
	})
	v := NewViewer(ViewerConfig{Dial: s.dial("ok"), PingInterval: 20 * time.Millisecond, MinBackoff: time.Millisecond})
	stop, done := runViewer(v)
	if err := waitRun(t, stop, done); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("Run() = %v, want ErrSessionEnded", err)
	}
	if pongs.Load() != 1 || s.n.Load() != 2 {
		t.Errorf("%d pongs, %d attachments; want 1, 2", pongs.Load(), s.n.Load())
	}
}

// TestViewerControl: roles and state reach Role() and OnControl.
func TestViewerControl(t *testing.T) {
	checkLeaks(t)
	s := newWSServer(t, func(ctx context.Context, n int, conn Conn, ws *websocket.Conn, offset uint64, resume bool) {
		conn.WriteFrame(ctx, Control{Type: ControlState, State: StateAttached, Role: RoleObserver})
		answer(ctx, conn, func(f Frame) {
			if c, ok := f.(Control); ok && c.Type == ControlTakeover {
				conn.WriteFrame(ctx, Control{Type: ControlState, State: StateAttached, Role: RoleDriver, Reason: ControlTakeover})
				conn.WriteFrame(ctx, Control{Type: ControlState, State: StateEnded, Reason: "terminated"})
			}
		})
	})
	var mu sync.Mutex
	var states []string
	var v *Viewer
	v = NewViewer(ViewerConfig{Dial: s.dial("ok"), OnControl: func(c Control) {
		mu.Lock()
		defer mu.Unlock()
		states = append(states, c.State+"/"+c.Role+"/"+v.Role())
	}})
	stop, done := runViewer(v)
	waitFor(t, "observer role", func() bool { return v.Role() == RoleObserver })
	if err := v.Send(Control{Type: ControlTakeover}); err != nil {
		t.Fatalf("Send(takeover) error: %v", err)
	}
	if err := waitRun(t, stop, done); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("Run() = %v, want ErrSessionEnded", err)
	}
	want := "attached/observer/observer attached/driver/driver ended//driver"
	if got := strings.Join(states, " "); got != want {
		t.Errorf("OnControl saw %q, want %q", got, want)
	}
}

func TestViewerSend(t *testing.T) {
	v := NewViewer(ViewerConfig{})
	if err := v.Send(Output{}); !errors.Is(err, ErrBadFrame) {
		t.Errorf("Send(Output) = %v, want ErrBadFrame", err)
	}
	if err := v.Send(Input{Data: make([]byte, MaxFrame+1)}); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("Send(huge Input) = %v, want ErrFrameTooLarge", err)
	}
	for range 3 {
		if err := v.Send(Resize{Cols: 80, Rows: 24}); err != nil {
			t.Fatalf("Send(Resize) error: %v", err)
		}
	}
	if len(v.queue) != 1 {
		t.Errorf("3 queued Resizes kept %d frames, want 1", len(v.queue))
	}
	chunk := make([]byte, 1000)
	var err error
	n := 0
	for ; err == nil && n < 1000; n++ {
		err = v.Send(Input{Data: chunk})
	}
	// The queue holds a Resize (4 bytes) and 65 chunks; the 66th overflows.
	if want := MaxViewerQueue/len(chunk) + 1; !errors.Is(err, ErrInputOverflow) || n != want {
		t.Errorf("Send() #%d = %v, want ErrInputOverflow at #%d", n, err, want)
	}
}
