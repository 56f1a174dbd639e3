package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// Defaults of sessionConfig's zero values.
const (
	DefaultKeySamples   = 500
	DefaultKeyWarmup    = 50
	DefaultIdleSessions = 50
	// MaxIdleSessions keeps the idle sessions, the keystroke session and a
	// spare within the engine's per-user limit and the agent's cap (256).
	MaxIdleSessions = 250
)

// sessionConfig configures `warren-bench session`. Zero values are the
// documented defaults.
type sessionConfig struct {
	Samples      int  // timed keystrokes per path; 0 = DefaultKeySamples
	Warmup       int  // untimed keystrokes first; 0 = DefaultKeyWarmup
	IdleSessions int  // sessions opened for the memory figure; 0 = DefaultIdleSessions
	BufferSize   int  // the organization's session buffer, bytes; 0 = the engine's default
	JSON         bool // print one JSON object instead of a table
	Verbose      bool // engine and agent logs to stderr
}

func (c sessionConfig) withDefaults() sessionConfig {
	if c.Samples == 0 {
		c.Samples = DefaultKeySamples
	}
	if c.Warmup == 0 {
		c.Warmup = DefaultKeyWarmup
	}
	if c.IdleSessions == 0 {
		c.IdleSessions = DefaultIdleSessions
	}
	return c
}

// runSession measures, prints the report to out and returns the exit code.
func runSession(ctx context.Context, cfg sessionConfig, log *slog.Logger, out io.Writer) int {
	r, err := measureSession(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "warren-bench session: %v\n", err)
		return 1
	}
	if cfg.JSON {
		err = writeJSON(out, r)
	} else {
		err = writeSessionTable(out, r)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "warren-bench session: writing report: %v\n", err)
		return 1
	}
	return 0
}

// measureSession measures the direct SSH baseline, then Warren's path,
// then memory per idle session, one at a time, and closes everything it
// started.
func measureSession(ctx context.Context, cfg sessionConfig, log *slog.Logger) (_ SessionReport, err error) {
	cfg = cfg.withDefaults()
	start := time.Now()
	r := SessionReport{Machine: thisMachine(), Samples: cfg.Samples, Warmup: cfg.Warmup, IdleSessions: cfg.IdleSessions}
	sshd, err := startSSHD(ctx)
	if err != nil {
		return r, err
	}
	defer func() { err = errors.Join(err, sshd.Close()) }()

	log.Info("measuring keystrokes over direct ssh", "sshd", sshd.Addr)
	if r.Keystroke.DirectSSH, err = timedKeystrokes(ctx, cfg, func(ctx context.Context) (latency, error) {
		return directSSH(ctx, sshd, cfg.Warmup, cfg.Samples)
	}); err != nil {
		return r, fmt.Errorf("direct ssh: %w", err)
	}

	log.Info("starting warren engine and agent")
	p, err := startSessionPath(ctx, sshd, cfg, log)
	if err != nil {
		return r, err
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	if s, err := p.client.GetSessionSettings(ctx, p.org); err == nil {
		r.BufferSize = s.BufferSize
	}
	log.Info("measuring keystrokes through warren")
	if r.Keystroke.Warren, err = timedKeystrokes(ctx, cfg, func(ctx context.Context) (latency, error) {
		return p.keystrokes(ctx, cfg.Warmup, cfg.Samples)
	}); err != nil {
		return r, fmt.Errorf("warren: %w", err)
	}

	log.Info("measuring memory per idle session", "sessions", cfg.IdleSessions)
	eng, agt, err := p.memory(ctx, cfg.IdleSessions)
	if err != nil {
		return r, fmt.Errorf("idle sessions: %w", err)
	}
	r.Memory.Engine = memDeltaOf(eng, cfg.IdleSessions)
	r.Memory.Agent = memDeltaOf(agt, cfg.IdleSessions)
	r.Ratios = SessionRatios{
		P50: ratio(float64(r.Keystroke.Warren.P50), float64(r.Keystroke.DirectSSH.P50)),
		P99: ratio(float64(r.Keystroke.Warren.P99), float64(r.Keystroke.DirectSSH.P99)),
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// timedKeystrokes bounds one keystroke measurement: a round trip slower
// than 20 ms on average is a broken path.
func timedKeystrokes(ctx context.Context, cfg sessionConfig, measure func(context.Context) (latency, error)) (latency, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute+time.Duration(cfg.Warmup+cfg.Samples)*20*time.Millisecond)
	defer cancel()
	return measure(ctx)
}

func memDeltaOf(s [2]memSample, n int) MemDelta {
	per := func(before, after uint64) float64 { return (float64(after) - float64(before)) / float64(n) }
	return MemDelta{
		Before: s[0], After: s[1],
		HeapPerSession:       per(s[0].HeapAlloc, s[1].HeapAlloc),
		StackPerSession:      per(s[0].StackInuse, s[1].StackInuse),
		RSSPerSession:        per(s[0].RSS, s[1].RSS),
		GoroutinesPerSession: per(uint64(s[0].Goroutines), uint64(s[1].Goroutines)),
	}
}
