package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/ssh"
)

// A keystroke round trip is measured the same way on every path: the shell
// is turned into a byte echo (`stty raw -echo; exec cat`: the PTY neither
// echoes nor translates, and cat writes back each byte it reads), then one
// byte is typed and the clock stops when that byte comes back. That is what
// a user feels between a key and its echo, program included.

// catCommand makes the remote shell a raw byte echo. The octal escape keeps
// the ready marker out of the shell's echo of the command line itself.
const catCommand = "stty raw -echo; printf '\\122EADY\\n'; exec cat\r"

const catReady = "READY\n"

// ttyPipe is a terminal session the bench types into: send delivers
// keystrokes, out carries everything the session prints, in order.
type ttyPipe struct {
	send func(p []byte) error
	out  <-chan []byte
}

// keystrokes turns the session into a byte echo and measures warmup untimed
// then samples timed one-byte round trips.
func keystrokes(ctx context.Context, p ttyPipe, warmup, samples int) (latency, error) {
	if err := p.send([]byte(catCommand)); err != nil {
		return latency{}, fmt.Errorf("typing the echo command: %w", err)
	}
	if err := p.waitFor(ctx, []byte(catReady)); err != nil {
		return latency{}, fmt.Errorf("waiting for the byte echo: %w", err)
	}
	rtts := make([]time.Duration, samples)
	for i := range warmup + samples {
		key := []byte{'a' + byte(i%26)}
		start := time.Now()
		if err := p.send(key); err != nil {
			return latency{}, fmt.Errorf("typing: %w", err)
		}
		if err := p.waitFor(ctx, key); err != nil {
			return latency{}, fmt.Errorf("keystroke %d: %w", i, err)
		}
		if i >= warmup {
			rtts[i-warmup] = time.Since(start)
		}
	}
	return percentiles(rtts), nil
}

// waitFor reads output until it ends with want (output the echo never
// produces on its own).
func (p ttyPipe) waitFor(ctx context.Context, want []byte) error {
	var seen []byte
	for !bytes.HasSuffix(seen, want) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (output so far: %q)", ctx.Err(), tail(seen))
		case b, ok := <-p.out:
			if !ok {
				return fmt.Errorf("session output ended (output so far: %q)", tail(seen))
			}
			seen = append(seen, b...)
			if len(seen) > 1<<20 {
				seen = seen[len(seen)-4096:]
			}
		}
	}
	return nil
}

func tail(b []byte) []byte { return b[max(0, len(b)-200):] }

// directSSH is the baseline: a PTY session straight to sshd with
// x/crypto/ssh, as `ssh -t` would open it.
func directSSH(ctx context.Context, sshd *benchSSHD, warmup, samples int) (_ latency, err error) {
	client, err := sshd.Dial(ctx)
	if err != nil {
		return latency{}, err
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return latency{}, fmt.Errorf("ssh session: %w", err)
	}
	defer sess.Close()
	modes := ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
	if err := sess.RequestPty("xterm-256color", 24, 80, modes); err != nil {
		return latency{}, fmt.Errorf("requesting a pty: %w", err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		return latency{}, err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return latency{}, err
	}
	if err := sess.Shell(); err != nil {
		return latency{}, fmt.Errorf("starting the shell: %w", err)
	}
	out, stop, done := make(chan []byte, 64), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		pump(stdout, out, stop)
	}()
	defer func() {
		close(stop)
		client.Close()
		<-done
	}()
	send := func(p []byte) error { _, err := stdin.Write(p); return err }
	return keystrokes(ctx, ttyPipe{send: send, out: out}, warmup, samples)
}

// pump copies r to out in chunks until r ends or stop closes, then closes
// out.
func pump(r io.Reader, out chan<- []byte, stop <-chan struct{}) {
	defer close(out)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			select {
			case out <- bytes.Clone(buf[:n]):
			case <-stop:
				return
			}
		}
		if err != nil {
			return
		}
	}
}
