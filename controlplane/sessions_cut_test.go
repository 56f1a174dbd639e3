package controlplane_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/crypto/ssh"

	"github.com/warrenhq/warren/controlplane/controlplanetest"
	"github.com/warrenhq/warren/protocols/stream"
)

// TestSessionSeqThroughCuts is issue 4's first acceptance check on the
// browser's path: a resumable viewer (the same protocol the console and the
// CLI speak) attached through the engine, `seq 1 200000` running, and the
// viewer's WebSocket cut at random points 20 times; each re-attach takes a
// new single-use ticket and resumes at the viewer's offset. The bytes it
// holds equal, SHA-256 for SHA-256, those of a direct ssh run of seq on a
// PTY of the same server.
func TestSessionSeqThroughCuts(t *testing.T) {
	s := newSessEnv(t, false)
	o := s.open(t, s.adminC)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var (
		mu      sync.Mutex
		out     bytes.Buffer
		current atomic.Pointer[websocket.Conn]
		dials   atomic.Int32
	)
	first := o.Ticket
	v := stream.NewViewer(stream.ViewerConfig{
		Dial: func(ctx context.Context, offset uint64, resume bool) (stream.Conn, error) {
			tk := first
			if dials.Add(1) > 1 {
				var err error
				if tk, err = s.adminC.NewTicket(ctx, s.org.ID, o.Session.ID, "driver"); err != nil {
					return nil, err
				}
			}
			u, err := s.adminC.AttachURL(tk, offset, resume, false)
			if err != nil {
				return nil, stream.Permanent(err)
			}
			ws, _, err := websocket.Dial(ctx, u, nil)
			if err != nil {
				return nil, err
			}
			current.Store(ws)
			return stream.WebSocketConn(ws), nil
		},
		OnOutput: func(p []byte) { mu.Lock(); out.Write(p); mu.Unlock() },
		OnSnapshot: func(p []byte) {
			t.Errorf("a snapshot (%d bytes): the buffer holds all of seq's output, resume must be exact", len(p))
		},
		OnGap:      func(from, to uint64) { t.Errorf("gap [%d, %d)", from, to) },
		MinBackoff: 10 * time.Millisecond,
	})
	runErr := make(chan error, 1)
	go func() { runErr <- v.Run(ctx) }()
	output := func() []byte { mu.Lock(); defer mu.Unlock(); return bytes.Clone(out.Bytes()) }
	controlplanetest.WaitFor(t, 60*time.Second, "driver role", func() bool { return v.Role() == stream.RoleDriver })

	// The markers are typed split so that the echoed command line does not
	// contain them.
	if err := v.Send(stream.Input{Data: []byte("echo BEG''IN; seq 1 200000; echo EN''D\r")}); err != nil {
		t.Fatal(err)
	}
	begin, end := []byte("BEGIN\r\n"), []byte("END\r\n")
	midway := 0 // cuts while seq's output was streaming
	for cuts := 0; cuts < 20; {
		time.Sleep(time.Duration(10+rand.IntN(60)) * time.Millisecond)
		if ws := current.Swap(nil); ws != nil {
			b := output()
			if i := bytes.Index(b, begin); i >= 0 && !bytes.Contains(b[i:], end) {
				midway++
			}
			ws.CloseNow()
			cuts++
		}
	}
	var got []byte
	controlplanetest.WaitFor(t, 120*time.Second, "seq to finish", func() bool {
		b := output()
		i := bytes.Index(b, begin)
		if i < 0 {
			return false
		}
		j := bytes.Index(b[i:], end)
		if j < 0 {
			return false
		}
		got = b[i+len(begin) : i+j]
		return true
	})
	cancel()
	if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Run() = %v", err)
	}
	if midway == 0 {
		t.Error("no cut landed while seq's output was streaming")
	}
	if n := dials.Load(); n < 21 {
		t.Errorf("%d attachments, want at least 21 (20 cuts)", n)
	}

	want := directSeq(t, s.sshd)
	if sha256.Sum256(got) != sha256.Sum256(want) {
		t.Fatalf("output differs from a direct ssh run: got %d bytes, want %d", len(got), len(want))
	}
	t.Logf("seq 1 200000: %d bytes equal to a direct ssh run across %d attachments (%d cuts mid-output)",
		len(got), dials.Load(), midway)
}

// directSeq runs seq 1 200000 on a PTY of sshd directly, as OpenSSH's
// ssh -t would, and returns its output.
func directSeq(t *testing.T, sshd *controlplanetest.SSHD) []byte {
	t.Helper()
	c, err := sshd.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ses, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer ses.Close()
	if err := ses.RequestPty("xterm-256color", 30, 100, ssh.TerminalModes{ssh.ECHO: 0}); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	ses.Stdout = &b
	if err := ses.Run("seq 1 200000"); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
