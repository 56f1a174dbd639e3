// Package attach is the client side of a terminal session: it attaches the
// user's own terminal (or any reader and writers) to a session on an agent
// through the engine, speaking protocols/stream over a WebSocket, and keeps
// it attached across network cuts by resuming at the offset it holds. Each
// (re)attachment is authorized by a new single-use ticket from the REST API.
//
// It is what `warren session attach` runs; warren-bench reuses its Dialer.
// It imports the API client and protocols/stream, never engine internals.
package attach

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"github.com/warrenhq/warren/protocols/stream"
)

// DialFunc opens one attachment to the session. resume=false asks for a new
// viewer's view (a snapshot or the whole buffer); otherwise the viewer holds
// every byte before offset. takeover asks for the driver role even if
// another viewer holds it. A stream.Permanent error stops Run.
type DialFunc func(ctx context.Context, offset uint64, resume, takeover bool) (stream.Conn, error)

// Config configures Run. Zero values are the documented defaults.
type Config struct {
	// Dial opens each attachment (required); see Dialer.Dial.
	Dial DialFunc
	// Session is the session id, for messages.
	Session string
	// Takeover takes the driver role on the first attachment.
	Takeover bool
	// Observe says the viewer attached as an observer (messages only: the
	// ticket's role decides).
	Observe bool
	// In is the keystrokes (nil: none). When it is an *os.File on a
	// terminal, the terminal is put in raw mode for the duration of Run and
	// restored on every way out. A Read of In may still be pending when Run
	// returns unless In supports SetReadDeadline (os.Stdin on a pipe or tty
	// often does not): callers pass os.Stdin and exit.
	In io.Reader
	// Out receives the session's output (required). Its size, when it is a
	// terminal (else In's), is sent as the terminal size while driving.
	Out io.Writer
	// Err receives status lines, "[warren] ..." (nil: discarded).
	Err io.Writer
	// Escape is the escape character (0: DefaultEscape); NoEscape turns
	// escape commands off (then only a signal or the session's end stops Run).
	Escape   byte
	NoEscape bool
	// MinBackoff and MaxBackoff bound the wait between re-attachments (0:
	// the Viewer's defaults).
	MinBackoff, MaxBackoff time.Duration
	// Logger receives debug logs (nil: discarded).
	Logger *slog.Logger
}

// Result says how Run ended when it returns no error.
type Result struct {
	// Detached: the user typed the escape sequence, or ctx ended; the
	// session keeps running on the agent.
	Detached bool
	// Ended: the session ended; EndReason says why when the agent told
	// (wire's End* reasons: "exited", "terminated", ...).
	Ended     bool
	EndReason string
	// Offset is the output offset the viewer held at the end.
	Offset uint64
}

var (
	errDetached = errors.New("detached")
	errHangup   = errors.New("terminal hung up")
)

// terminal is one Run: the viewer, the local terminal's state and what the
// status lines have said.
type terminal struct {
	cfg     Config
	log     *slog.Logger
	esc     *escaper
	viewer  *stream.Viewer
	cancel  context.CancelCauseFunc
	restore func() // undoes raw mode; safe to call many times
	raw     bool
	sizeFd  int // -1: no terminal to take the size from

	resize chan struct{} // asks the signal loop to send the size now

	// Input frames accepted by the Viewer and written to a connection, so
	// that detaching first lets typed-ahead keys leave.
	inputSent, inputWritten atomic.Uint64
	inputWrote              chan struct{} // poked after each written Input

	writeMu sync.Mutex // serialises writes to Out and Err

	mu sync.Mutex
	// guarded by mu
	role         string // last role announced ("" before the first attach)
	dials        int
	attachedOnce bool
	reconnecting bool // a re-dial is under way since the last attach
	offline      bool // the engine said the agent is offline
	wasDriver    bool // re-dials take the driver role back
	quietRefusal bool // a not_driver refusal was reported for this role
	quietDrop    bool // dropped input was reported for this outage
	endReason    string
}

// Run attaches the terminal to the session until the user detaches, the
// session ends, ctx ends or Dial returns a permanent error (returned). The
// session's output goes to Out exactly once and in order; snapshots are
// written as they come (they repaint the screen); states and losses are
// one status line each on Err.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Dial == nil || cfg.Out == nil {
		return Result{}, errors.New("attach: Dial and Out are required")
	}
	t := newTerminal(cfg)
	if err := t.makeRaw(); err != nil {
		return Result{}, err
	}
	defer t.restore()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	t.cancel = cancel
	t.viewer = stream.NewViewer(stream.ViewerConfig{
		Dial:       t.dial,
		OnOutput:   t.output,
		OnSnapshot: t.output,
		OnGap:      t.gap,
		OnControl:  t.control,
		MinBackoff: cfg.MinBackoff,
		MaxBackoff: cfg.MaxBackoff,
		Logger:     t.log,
	})

	var wg sync.WaitGroup
	wg.Go(func() { t.signalLoop(ctx) })
	inputDone := make(chan struct{})
	if cfg.In != nil {
		go func() {
			defer close(inputDone)
			t.readInput(ctx)
		}()
	} else {
		close(inputDone)
	}

	err := t.viewer.Run(ctx)
	cause := context.Cause(ctx)
	cancel(nil)
	wg.Wait()
	t.stopInput(inputDone)
	return t.finish(err, cause)
}

func newTerminal(cfg Config) *terminal {
	if cfg.Escape == 0 {
		cfg.Escape = DefaultEscape
	}
	if cfg.Err == nil {
		cfg.Err = io.Discard
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &terminal{
		cfg:     cfg,
		log:     log,
		esc:     newEscaper(cfg.Escape, cfg.NoEscape),
		restore: func() {},
		sizeFd:  -1,
		resize:  make(chan struct{}, 1),

		inputWrote: make(chan struct{}, 1),
	}
}

// makeRaw puts In in raw mode when it is a terminal, and picks the file the
// terminal size is read from.
func (t *terminal) makeRaw() error {
	for _, f := range []io.Reader{asReader(t.cfg.Out), t.cfg.In} {
		if fd, ok := terminalFd(f); ok {
			t.sizeFd = fd
			break
		}
	}
	fd, ok := terminalFd(t.cfg.In)
	if !ok {
		return nil
	}
	state, err := term.MakeRaw(fd)
	if err != nil {
		return fmt.Errorf("putting the terminal in raw mode: %w", err)
	}
	t.raw = true
	t.restore = sync.OnceFunc(func() { _ = term.Restore(fd, state) })
	return nil
}

// asReader lets a writer be checked by terminalFd.
func asReader(w io.Writer) io.Reader {
	if f, ok := w.(*os.File); ok {
		return f
	}
	return nil
}

// terminalFd returns the descriptor of r when r is an *os.File on a
// terminal. It does not call Fd, which would make a pollable file blocking
// (and its reads impossible to interrupt).
func terminalFd(r io.Reader) (int, bool) {
	f, ok := r.(*os.File)
	if !ok || f == nil {
		return -1, false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, false
	}
	fd := -1
	if rc.Control(func(p uintptr) { fd = int(p) }) != nil || !term.IsTerminal(fd) {
		return -1, false
	}
	return fd, true
}

// guard restores the terminal before a panic in one of our goroutines or
// callbacks takes the process down, so the user's shell is usable after.
func (t *terminal) guard() {
	if r := recover(); r != nil {
		t.restore()
		panic(r)
	}
}

// dial wraps cfg.Dial: it announces re-dials and decides take-over (the
// first attachment takes over if asked; a re-attachment takes back the
// driver role it held when the link broke).
func (t *terminal) dial(ctx context.Context, offset uint64, resume bool) (stream.Conn, error) {
	t.mu.Lock()
	first := t.dials == 0
	t.dials++
	takeover := first && t.cfg.Takeover || !first && t.wasDriver
	announce := !first && !t.reconnecting
	if !first {
		t.reconnecting = true
	}
	t.mu.Unlock()
	if announce {
		t.status("reconnecting…")
	}
	t.log.Debug("attaching", "offset", offset, "resume", resume, "takeover", takeover)
	c, err := t.cfg.Dial(ctx, offset, resume, takeover)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, t: t}, nil
}

// countingConn counts the Input frames written to an attachment.
type countingConn struct {
	stream.Conn
	t *terminal
}

func (c *countingConn) WriteFrame(ctx context.Context, f stream.Frame) error {
	err := c.Conn.WriteFrame(ctx, f)
	if _, ok := f.(stream.Input); ok && err == nil {
		c.t.inputWritten.Add(1)
		select {
		case c.t.inputWrote <- struct{}{}:
		default:
		}
	}
	return err
}

// CloseNow keeps the Viewer's abrupt close of a dead link.
func (c *countingConn) CloseNow() error {
	if cn, ok := c.Conn.(interface{ CloseNow() error }); ok {
		return cn.CloseNow()
	}
	return c.Conn.Close()
}

// drainInput waits (a little) until the keys typed before a detach have
// been written, while attached: a line and "~." typed in one go must not
// lose the line.
func (t *terminal) drainInput() {
	timeout := time.NewTimer(2 * time.Second)
	defer timeout.Stop()
	for t.inputWritten.Load() < t.inputSent.Load() && t.viewer.Connected() {
		select {
		case <-t.inputWrote:
		case <-timeout.C:
			return
		}
	}
}

// output writes session output (or a snapshot, which repaints) to Out.
func (t *terminal) output(data []byte) {
	defer t.guard()
	t.writeMu.Lock()
	_, err := t.cfg.Out.Write(data)
	t.writeMu.Unlock()
	if err != nil {
		t.cancel(fmt.Errorf("writing output: %w", err))
	}
}

func (t *terminal) gap(from, to uint64) {
	defer t.guard()
	t.status(fmt.Sprintf("%d bytes of output were lost (offsets %d to %d): the session no longer holds them", to-from, from, to))
}

// control reports state changes and refusals.
func (t *terminal) control(c stream.Control) {
	defer t.guard()
	switch {
	case c.Type == stream.ControlState && c.State == stream.StateAttached:
		t.attached(c)
	case c.Type == stream.ControlState && c.State == stream.StateAgentOffline:
		t.mu.Lock()
		announce := !t.offline
		t.offline = true
		t.mu.Unlock()
		if announce {
			t.status("agent offline")
		}
	case c.Type == stream.ControlState && c.State == stream.StateEnded:
		t.mu.Lock()
		t.endReason = c.Reason
		t.mu.Unlock()
	case c.Type == stream.ControlError && c.Code == stream.CodeNotDriver:
		t.mu.Lock()
		announce := !t.quietRefusal
		t.quietRefusal = true
		t.mu.Unlock()
		if announce {
			t.status("input refused: you are an observer in this session")
		}
	case c.Type == stream.ControlError:
		t.status(fmt.Sprintf("error from the session: %s (%s)", c.Message, c.Code))
	}
}

// attached handles a state "attached": the first attachment, a
// re-attachment or a role change.
func (t *terminal) attached(c stream.Control) {
	t.mu.Lock()
	prev, first, back := t.role, !t.attachedOnce, t.reconnecting || t.offline
	t.role, t.attachedOnce, t.reconnecting, t.offline, t.quietDrop = c.Role, true, false, false, false
	t.wasDriver = c.Role == stream.RoleDriver
	if prev != c.Role {
		t.quietRefusal = false
	}
	t.mu.Unlock()

	var msg string
	switch {
	case first:
		msg = t.firstMessage(c.Role)
	case prev == stream.RoleDriver && c.Role == stream.RoleObserver:
		msg = "you are now an observer (taken over)"
	case prev == stream.RoleObserver && c.Role == stream.RoleDriver:
		msg = "you are now the driver"
	case back:
		msg = "reconnected"
	}
	if msg != "" {
		t.status(msg)
	}
	if c.Role == stream.RoleDriver {
		select {
		case t.resize <- struct{}{}:
		default:
		}
	}
}

func (t *terminal) firstMessage(role string) string {
	hint := ""
	if !t.cfg.NoEscape {
		hint = fmt.Sprintf("; Enter %c. detaches, %c? for help", t.cfg.Escape, t.cfg.Escape)
	}
	switch {
	case role == stream.RoleObserver && !t.cfg.Observe:
		return "attached as an observer: another viewer is driving (attach with --takeover to drive)" + hint
	case role != "":
		return "attached as " + role + hint
	}
	return "attached" + hint
}

// readInput sends keystrokes until In ends, the user detaches or ctx ends.
// End of input leaves the viewer attached: output keeps coming.
func (t *terminal) readInput(ctx context.Context) {
	defer t.guard()
	buf := make([]byte, 4096)
	for ctx.Err() == nil {
		n, err := t.cfg.In.Read(buf)
		if n > 0 && ctx.Err() == nil {
			r := t.esc.feed(buf[:n])
			if len(r.out) > 0 {
				t.send(r.out)
			}
			if r.help {
				t.status(fmt.Sprintf(escapeHelp, t.cfg.Escape))
			}
			if r.detach {
				t.drainInput()
				t.cancel(errDetached)
				return
			}
		}
		if err != nil {
			t.log.Debug("input ended", "err", err)
			return
		}
	}
}

// send queues keystrokes; while detached the Viewer keeps them (bounded)
// for the next attachment.
func (t *terminal) send(p []byte) {
	err := t.viewer.Send(stream.Input{Data: p})
	if err == nil {
		t.inputSent.Add(1)
		return
	}
	t.mu.Lock()
	announce := !t.quietDrop
	t.quietDrop = true
	t.mu.Unlock()
	if announce && errors.Is(err, stream.ErrInputOverflow) {
		t.status("typing too far ahead of a lost connection: input dropped")
	} else if announce {
		t.log.Debug("input not sent", "err", err)
	}
}

// stopInput waits for the input reader when In can be interrupted; a
// blocked Read of a plain reader is left behind (see Config.In).
func (t *terminal) stopInput(done chan struct{}) {
	d, ok := t.cfg.In.(interface{ SetReadDeadline(time.Time) error })
	if !ok || d.SetReadDeadline(time.Now()) != nil {
		return
	}
	select {
	case <-done:
	case <-time.After(time.Second): // a file whose deadline did not interrupt its read
	}
	_ = d.SetReadDeadline(time.Time{})
}

// sendSize sends the terminal's size while driving.
func (t *terminal) sendSize() {
	t.mu.Lock()
	driving := t.role == stream.RoleDriver
	t.mu.Unlock()
	if !driving || t.sizeFd < 0 {
		return
	}
	cols, rows, err := term.GetSize(t.sizeFd)
	if err != nil || cols < 1 || rows < 1 {
		return
	}
	if err := t.viewer.Send(stream.Resize{Cols: clamp16(cols), Rows: clamp16(rows)}); err != nil {
		t.log.Debug("resize not sent", "err", err)
	}
}

func clamp16(n int) uint16 { return uint16(min(max(n, 1), 65535)) }

// finish turns the end of Run into a Result and a last status line.
func (t *terminal) finish(err, cause error) (Result, error) {
	t.mu.Lock()
	r := Result{Offset: t.viewer.Offset(), EndReason: t.endReason}
	t.mu.Unlock()
	switch {
	case errors.Is(err, stream.ErrSessionEnded):
		r.Ended = true
		if ended := (*EndedError)(nil); r.EndReason == "" && errors.As(err, &ended) {
			r.EndReason = ended.Reason
		}
		msg := "session ended"
		if r.EndReason != "" {
			msg += ": " + r.EndReason
		}
		t.status(msg)
		return r, nil
	case cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, errDetached) && !errors.Is(cause, errHangup):
		return r, cause // writing the output failed
	case cause != nil:
		r.Detached = true
		t.status(fmt.Sprintf("detached; the session keeps running (warren session attach %s)", t.cfg.Session))
		return r, nil
	}
	return r, err
}

// status writes one status line to Err, on a line of its own.
func (t *terminal) status(msg string) {
	line := "[warren] " + msg + "\n"
	if t.raw { // no output processing: every line feed needs its carriage return
		line = "\r\n" + strings.ReplaceAll(line, "\n", "\r\n")
	}
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	_, _ = io.WriteString(t.cfg.Err, line)
}

// TerminalSize returns the size of the first of files that is a terminal.
func TerminalSize(files ...*os.File) (cols, rows int, ok bool) {
	for _, f := range files {
		fd, isTerm := terminalFd(f)
		if !isTerm {
			continue
		}
		if c, r, err := term.GetSize(fd); err == nil && c > 0 && r > 0 {
			return c, r, true
		}
	}
	return 0, 0, false
}
