//go:build linux

package attach

import (
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/warrenhq/warren/controlplane/controlplanetest"
	"github.com/warrenhq/warren/protocols/stream"
)

// openPTY returns a new pseudo-terminal: the master (the "user" types and
// reads here) and the slave (the CLI's terminal).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		controlplanetest.SkipUnlessRequired(t, "pty", fmt.Sprintf("no pseudo-terminals here: %v", err))
	}
	var n uint32
	err = control(m, func(fd int) error {
		if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
			return err
		}
		n, err = unix.IoctlGetUint32(fd, unix.TIOCGPTN)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		m.Close()
	})
	return m, s
}

// control runs f on f's descriptor without making the file blocking.
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func termios(t *testing.T, f *os.File) unix.Termios {
	t.Helper()
	var tio *unix.Termios
	if err := control(f, func(fd int) (err error) { tio, err = unix.IoctlGetTermios(fd, unix.TCGETS); return err }); err != nil {
		t.Fatal(err)
	}
	return *tio
}

func setSize(t *testing.T, f *os.File, cols, rows uint16) {
	t.Helper()
	if err := control(f, func(fd int) error {
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows})
	}); err != nil {
		t.Fatal(err)
	}
}

// TestTerminalRawModeAndResize: on a real terminal, Run switches to raw
// mode (no echo, no line editing, Enter arrives as \r), sends the
// terminal's size when it drives and again on SIGWINCH, and restores the
// terminal exactly when it returns.
func TestTerminalRawModeAndResize(t *testing.T) {
	master, slave := openPTY(t)
	setSize(t, slave, 100, 30)
	before := termios(t, slave)
	go io.Copy(io.Discard, master) // the user's screen

	p := newPeer(t, 1<<20)
	errOut := &syncBuffer{}
	done := make(chan struct{})
	var res Result
	var runErr error
	go func() {
		defer close(done)
		res, runErr = Run(t.Context(), Config{Dial: p.dial, In: slave, Out: slave, Err: errOut,
			MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	}()
	waitFor(t, "attached", func() bool { return p.lastResize() != (stream.Resize{}) })
	if got := p.lastResize(); got != (stream.Resize{Cols: 100, Rows: 30}) {
		t.Errorf("size sent on attach = %+v, want 100x30", got)
	}
	raw := termios(t, slave)
	if raw.Lflag&(unix.ECHO|unix.ICANON|unix.ISIG) != 0 || raw.Iflag&unix.ICRNL != 0 {
		t.Errorf("terminal not raw while attached: lflag %#x iflag %#x", raw.Lflag, raw.Iflag)
	}

	setSize(t, slave, 120, 40)
	if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "resize after SIGWINCH", func() bool { return p.lastResize() == stream.Resize{Cols: 120, Rows: 40} })

	if _, err := master.WriteString("ls\r~."); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return after ~.")
	}
	if runErr != nil || !res.Detached {
		t.Fatalf("Run = %+v, %v; want detached", res, runErr)
	}
	if got := p.typed(); got != "ls\r" {
		t.Errorf("session received %q, want %q (Enter as \\r: raw mode)", got, "ls\r")
	}
	if after := termios(t, slave); after != before {
		t.Errorf("terminal not restored:\nGot(%+v)\nwant %+v", after, before)
	}
}
