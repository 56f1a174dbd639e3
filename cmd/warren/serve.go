package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"github.com/warrenhq/warren/controlplane"
)

func serve(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var cfg controlplane.Config
	var prefix, level, format string
	fs.StringVar(&cfg.DataDir, "data-dir", envOr("WARREN_DATA_DIR", controlplane.DefaultDataDir), "data directory (key, SQLite database, admin socket)")
	fs.StringVar(&cfg.Listen, "listen", controlplane.DefaultListen, "HTTP API listen address")
	fs.StringVar(&cfg.WGListen, "wg-listen", controlplane.DefaultWGListen, "WireGuard UDP listen address")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "URL agents enroll against (default http://<listen>)")
	fs.StringVar(&cfg.WGEndpoint, "wg-endpoint", "", "host:port agents send WireGuard to (default: public URL host + WireGuard port)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", os.Getenv("WARREN_DATABASE_URL"), "empty = SQLite in the data dir; postgres://... = PostgreSQL")
	fs.StringVar(&cfg.KEK.File, "kek-file", "", "key-encryption key file (mode 0600; default: WARREN_KEK, else <data-dir>/kek created on first start)")
	fs.StringVar(&cfg.OpenFGAURL, "openfga-url", "", "external OpenFGA HTTP API (default: embedded, on the engine's database)")
	cfg.OpenFGAToken = os.Getenv("WARREN_OPENFGA_TOKEN")
	fs.BoolVar(&cfg.DisableBuiltinIdP, "disable-builtin-idp", false, "turn off the built-in OIDC provider (local users); only org IdPs sign users in")
	fs.StringVar(&prefix, "overlay-prefix", controlplane.DefaultPrefix.String(), "overlay IPv4 prefix")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&format, "log-format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	p, err := netip.ParsePrefix(prefix)
	if err != nil {
		fmt.Fprintf(os.Stderr, "warren serve: --overlay-prefix: %v\n", err)
		return 2
	}
	cfg.OverlayPrefix = p
	cfg.KEK.Env = os.Getenv("WARREN_KEK")
	logger, err := newLogger(level, format)
	if err != nil {
		fmt.Fprintf(os.Stderr, "warren serve: %v\n", err)
		return 2
	}
	cfg.Logger = logger
	eng, err := controlplane.New(ctx, cfg)
	if err != nil {
		logger.Error("engine failed to start", "err", err)
		return 1
	}
	link, err := eng.SetupLink(ctx)
	if err != nil {
		logger.Error("creating the setup link", "err", err)
		return 1
	}
	if link != "" {
		// A credential: to the operator's terminal, not into the logs.
		fmt.Fprintf(os.Stderr, "\nNo platform admin exists yet. Create the first one within an hour at:\n  %s\n\n", link)
	}
	if err := eng.Run(ctx); err != nil {
		logger.Error("engine stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
