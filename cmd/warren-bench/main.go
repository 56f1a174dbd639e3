// Command warren-bench measures Warren on this machine and prints every
// figure next to a baseline measured in the same run (see TESTING.md,
// "Benchmarks"). It never asserts a speed.
//
// It is the one place outside package netstack that imports wireguard-go:
// only to measure the stock netstack pair as a baseline (stock.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `warren-bench: measure Warren against same-run baselines

Usage:
  warren-bench tunnel [--json] [--bytes N] [--rtt-samples N] [--verbose]
      throughput and 1-byte round trips: loopback TCP, a stock wireguard-go
      netstack pair, and Warren's engine -> agent path (engine and agent in
      process). N takes a KiB, MiB or GiB suffix.
  warren-bench session [--json] [--samples N] [--idle-sessions K] [--buffer-size N] [--verbose]
      terminal sessions against a real OpenSSH sshd (/usr/sbin/sshd): keystroke
      round trips through the browser's path (WebSocket -> engine -> agent ->
      sshd) next to a direct SSH session, and the memory an idle session costs
      the engine and the agent (a child process), measured after a full GC.
`

func main() {
	if dir := os.Getenv(envAgentChild); dir != "" {
		os.Exit(agentChildMain(dir)) // the agent process of `session`
	}
	run, verbose, err := parseArgs(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "warren-bench: %v\n\n%s", err, usage)
		os.Exit(2)
	}
	logger := slog.New(slog.DiscardHandler)
	if verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, logger, os.Stdout)
	stop()
	os.Exit(code)
}

// runFunc runs one parsed command and returns the exit code.
type runFunc func(ctx context.Context, log *slog.Logger, out io.Writer) int

func parseArgs(args []string) (runFunc, bool, error) {
	if len(args) == 0 {
		return nil, false, errors.New("missing command")
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Print(usage)
		return nil, false, flag.ErrHelp
	case "tunnel":
		cfg, err := parseTunnel(args[1:])
		return func(ctx context.Context, log *slog.Logger, out io.Writer) int {
			return runTunnel(ctx, cfg, log, out)
		}, cfg.Verbose, err
	case "session":
		cfg, err := parseSession(args[1:])
		return func(ctx context.Context, log *slog.Logger, out io.Writer) int {
			return runSession(ctx, cfg, log, out)
		}, cfg.Verbose, err
	}
	return nil, false, fmt.Errorf("unknown command %q", args[0])
}

// parseFlags parses a command's flags; -h prints its usage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard) // main reports errors, once
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Print(usage, "\nFlags of "+fs.Name()+":\n")
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
			return err
		}
		return fmt.Errorf("%s: %w", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s takes no arguments", fs.Name())
	}
	return nil
}

func parseTunnel(args []string) (tunnelConfig, error) {
	var cfg tunnelConfig
	fs := flag.NewFlagSet("tunnel", flag.ContinueOnError)
	size := byteSize(DefaultBytes)
	fs.Var(&size, "bytes", "bytes per throughput transfer")
	fs.IntVar(&cfg.RTTSamples, "rtt-samples", DefaultRTTSamples, "timed 1-byte round trips per path")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object (bits per second, nanoseconds)")
	fs.BoolVar(&cfg.Verbose, "verbose", false, "log engine, agent and wireguard-go to stderr")
	if err := parseFlags(fs, args); err != nil {
		return cfg, err
	}
	cfg.Bytes = int64(size)
	if cfg.Bytes < 1 || cfg.RTTSamples < 1 {
		return cfg, errors.New("tunnel: --bytes and --rtt-samples must be positive")
	}
	return cfg, nil
}

func parseSession(args []string) (sessionConfig, error) {
	var cfg sessionConfig
	fs := flag.NewFlagSet("session", flag.ContinueOnError)
	fs.IntVar(&cfg.Samples, "samples", DefaultKeySamples, "timed keystroke round trips per path")
	fs.IntVar(&cfg.IdleSessions, "idle-sessions", DefaultIdleSessions, "idle sessions opened for the memory figure")
	var buf byteSize
	fs.Var(&buf, "buffer-size", "each session's output buffer on the agent (default: the engine's, 4MiB)")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object (nanoseconds, bytes)")
	fs.BoolVar(&cfg.Verbose, "verbose", false, "log engine and agent to stderr")
	if err := parseFlags(fs, args); err != nil {
		return cfg, err
	}
	cfg.BufferSize = int(buf)
	if cfg.Samples < 1 || cfg.IdleSessions < 1 || cfg.IdleSessions > MaxIdleSessions || cfg.BufferSize < 0 {
		return cfg, fmt.Errorf("session: --samples must be positive, --idle-sessions 1 to %d, --buffer-size not negative", MaxIdleSessions)
	}
	return cfg, nil
}
