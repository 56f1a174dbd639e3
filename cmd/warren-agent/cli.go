package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/warrenhq/warren/agent"
)

const usage = `warren-agent puts this machine on a Warren overlay and forwards its services.

Usage:
  warren-agent enroll --server URL --token TOKEN [--state-dir DIR] [--name NAME] [--insecure] [--force]
  warren-agent run [--state-dir DIR] [--log-level info] [--log-format text|json]
  warren-agent status [--state-dir DIR] [--json]
  warren-agent version

Enroll once with a registration token from the Warren console, then start
"warren-agent run" (normally as a service). It needs no root.
Run "warren-agent COMMAND -h" for the flags of a command.
`

// dispatch runs the subcommand named by args[0] and returns the exit code.
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "enroll":
		return cmdEnroll(ctx, args[1:], stdout, stderr)
	case "run":
		return cmdRun(ctx, args[1:], stderr)
	case "status":
		return cmdStatus(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "warren-agent", version)
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "warren-agent: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// newFlagSet returns a flag set whose usage names the command.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: warren-agent %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args into fs; ok is false when the command must stop with code.
func parse(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage, false
	}
	return exitOK, true
}

func stateDirFlag(fs *flag.FlagSet) *string {
	return fs.String("state-dir", agent.DefaultStateDir(), "`directory` holding the enrollment and the agent's state")
}

func cmdEnroll(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("enroll", "enroll --server URL --token TOKEN [flags]\n\nRegisters this machine with a Warren engine.", stderr)
	cfg := agent.EnrollConfig{Version: version}
	fs.StringVar(&cfg.Server, "server", "", "engine `URL`, e.g. https://warren.example.com")
	fs.StringVar(&cfg.Token, "token", os.Getenv("WARREN_ENROLL_TOKEN"), "single-use registration `token` (default $WARREN_ENROLL_TOKEN)")
	dir := stateDirFlag(fs)
	fs.StringVar(&cfg.Name, "name", "", "device `name` (default: chosen by the engine from the hostname)")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "allow a plain http:// server that is not on loopback")
	fs.BoolVar(&cfg.Force, "force", false, "replace an existing enrollment in the state directory")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if cfg.Server == "" || cfg.Token == "" {
		fmt.Fprintln(stderr, "enroll needs --server and --token")
		fs.Usage()
		return exitUsage
	}
	cfg.StateDir = *dir
	st, err := agent.Enroll(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "warren-agent: enroll:", err)
		return exitError
	}
	fmt.Fprintf(stdout, "Enrolled as %s (device %s), overlay address %s.\nState saved in %s.\nStart the agent with: warren-agent run --state-dir %s\n",
		st.Name, st.DeviceID, st.OverlayIP, *dir, *dir)
	return exitOK
}

func cmdRun(ctx context.Context, args []string, stderr io.Writer) int {
	fs := newFlagSet("run", "run [flags]\n\nRuns the agent until interrupted.", stderr)
	dir := stateDirFlag(fs)
	level := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	format := fs.String("log-format", "text", "log `format`: text or json")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	logger, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintln(stderr, "warren-agent:", err)
		fs.Usage()
		return exitUsage
	}
	a, err := agent.New(agent.Config{StateDir: *dir, Logger: logger, Version: version})
	if errors.Is(err, agent.ErrNotEnrolled) {
		fmt.Fprintf(stderr, "warren-agent: %v\nEnroll first: warren-agent enroll --server URL --token TOKEN --state-dir %s\n", err, *dir)
		return exitError
	}
	if err != nil {
		fmt.Fprintln(stderr, "warren-agent:", err)
		return exitError
	}
	if err := a.Run(ctx); err != nil {
		logger.Error("agent failed", "err", err)
		return exitError
	}
	return exitOK
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad --log-format %q: want text or json", format)
}

// cmdStatus prints what the running agent last reported. It exits 1 when
// the agent is not running, so scripts can test it.
func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("status", "status [flags]\n\nShows what the agent last reported.", stderr)
	dir := stateDirFlag(fs)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if _, err := agent.LoadState(*dir); err != nil {
		fmt.Fprintln(stderr, "warren-agent:", err)
		return exitError
	}
	st, err := agent.ReadStatus(*dir)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "warren-agent: enrolled, but the agent has never run with --state-dir %s\n", *dir)
		return exitError
	}
	if err != nil {
		fmt.Fprintln(stderr, "warren-agent:", err)
		return exitError
	}
	now := time.Now()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			Running bool `json:"running"`
			agent.Status
		}{st.Running(now), st})
	} else {
		st.WriteText(stdout, now)
	}
	if !st.Running(now) {
		return exitError
	}
	return exitOK
}
