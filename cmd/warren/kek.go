package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/warrenhq/warren/controlplane"
	"github.com/warrenhq/warren/controlplane/secrets"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/vault"
)

// kek runs `warren kek rotate`. It works on the database directly (stop the
// engine, or restart it afterwards: a running engine keeps the keys it
// started with).
func kek(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] != "rotate" {
		fmt.Fprint(os.Stderr, "Usage: warren kek rotate [--data-dir D] [--database-url U] [--kek-file F] [--new-kek-file F] [--json]\n")
		return 2
	}
	fs := flag.NewFlagSet("kek rotate", flag.ContinueOnError)
	dataDir := fs.String("data-dir", envOr("WARREN_DATA_DIR", controlplane.DefaultDataDir), "data directory")
	dbURL := fs.String("database-url", os.Getenv("WARREN_DATABASE_URL"), "database (default: SQLite in the data dir)")
	kekFile := fs.String("kek-file", "", "current KEK file (default: WARREN_KEK, else <data-dir>/kek)")
	newFile := fs.String("new-kek-file", "", "new KEK file; required when the current KEK is not the data dir's own")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cur := controlplane.KEKConfig{Env: os.Getenv("WARREN_KEK"), File: *kekFile}
	builtin := cur.Env == "" && cur.File == ""
	if !builtin && *newFile == "" {
		fmt.Fprintln(os.Stderr, "warren kek rotate: --new-kek-file is required when the KEK comes from WARREN_KEK or --kek-file")
		return 2
	}
	rep, err := rotate(ctx, *dataDir, *dbURL, cur, *newFile, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "warren kek rotate: %v\n", err)
		return 1
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(rep)
		return 0
	}
	fmt.Printf("re-sealed %d credentials and %d IdP secrets (%d already under the new KEK)\n", rep.Credentials, rep.IdPSecrets, rep.Unchanged)
	if builtin {
		fmt.Printf("the new KEK is in %s/%s; the old one is kept as %s until the next rotation\n", *dataDir, controlplane.KEKFile, controlplane.PreviousKEKFile)
	} else {
		fmt.Printf("start the engine with --kek-file %s (or WARREN_KEK set to its contents) from now on\n", *newFile)
	}
	fmt.Println("restart a running engine so it uses the new key")
	return 0
}

func rotate(ctx context.Context, dataDir, dbURL string, cur controlplane.KEKConfig, newFile string, log *slog.Logger) (vault.RotateReport, error) {
	keys, err := controlplane.LoadKeyring(dataDir, cur, log)
	if err != nil {
		return vault.RotateReport{}, err
	}
	var next *secrets.KEK
	if newFile != "" {
		next, err = secrets.LoadKEK("", newFile)
	} else {
		next, err = controlplane.StageKEK(dataDir)
	}
	if err != nil {
		return vault.RotateReport{}, err
	}
	st, err := store.Open(ctx, dbURL, dataDir)
	if err != nil {
		return vault.RotateReport{}, err
	}
	defer st.Close()
	rep, err := vault.New(st, keys).Rotate(ctx, next, log)
	if err != nil {
		return rep, err
	}
	if newFile == "" {
		err = controlplane.InstallRotatedKEK(dataDir)
	}
	return rep, err
}
