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
`

func main() {
	cfg, err := parseArgs(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "warren-bench: %v\n\n%s", err, usage)
		os.Exit(2)
	}
	logger := slog.New(slog.DiscardHandler)
	if cfg.Verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runTunnel(ctx, cfg, logger, os.Stdout)
	stop()
	os.Exit(code)
}

func parseArgs(args []string) (tunnelConfig, error) {
	var cfg tunnelConfig
	if len(args) == 0 {
		return cfg, errors.New("missing command")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Print(usage)
		return cfg, flag.ErrHelp
	}
	if args[0] != "tunnel" {
		return cfg, fmt.Errorf("unknown command %q", args[0])
	}
	fs := flag.NewFlagSet("tunnel", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // main reports errors, once
	size := byteSize(DefaultBytes)
	fs.Var(&size, "bytes", "bytes per throughput transfer")
	fs.IntVar(&cfg.RTTSamples, "rtt-samples", DefaultRTTSamples, "timed 1-byte round trips per path")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object (bits per second, nanoseconds)")
	fs.BoolVar(&cfg.Verbose, "verbose", false, "log engine, agent and wireguard-go to stderr")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Print(usage, "\nFlags of tunnel:\n")
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
			return cfg, err
		}
		return cfg, fmt.Errorf("tunnel: %w", err)
	}
	cfg.Bytes = int64(size)
	if cfg.Bytes < 1 || cfg.RTTSamples < 1 || fs.NArg() > 0 {
		return cfg, errors.New("tunnel: --bytes and --rtt-samples must be positive; no arguments")
	}
	return cfg, nil
}
