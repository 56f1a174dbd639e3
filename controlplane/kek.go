package controlplane

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/warrenhq/warren/controlplane/secrets"
)

// Files of the embedded default's key-encryption key in the data dir, used
// when neither WARREN_KEK nor --kek-file is given.
const (
	KEKFile         = "kek"
	PreviousKEKFile = "kek.previous" // kept after a rotation so an interrupted one stays readable
)

// KEKConfig says where the KEK comes from.
type KEKConfig struct {
	Env  string // the value of WARREN_KEK
	File string // --kek-file
}

// LoadKeyring returns the engine's keyring: the configured KEK, or the data
// dir's own KEK file (created on first start), plus the previous KEK if a
// rotation left one.
func LoadKeyring(dataDir string, cfg KEKConfig, log *slog.Logger) (*secrets.Keyring, error) {
	if cfg.Env != "" || cfg.File != "" {
		k, err := secrets.LoadKEK(cfg.Env, cfg.File)
		if err != nil {
			return nil, err
		}
		return secrets.NewKeyring(k)
	}
	path := filepath.Join(dataDir, KEKFile)
	// A rotation that stopped between its two renames left the new key
	// beside the old: finish it.
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(path+".new", path); err == nil {
			log.Warn("finished installing a rotated key-encryption key", "path", path)
		}
	}
	k, err := secrets.LoadKEK("", path)
	if errors.Is(err, fs.ErrNotExist) {
		if k, err = secrets.GenerateKEK(); err != nil {
			return nil, err
		}
		if err := secrets.WriteKEKFile(path, k); err != nil {
			return nil, err
		}
		log.Warn("created a key-encryption key next to the database; in production set WARREN_KEK or --kek-file from a secret store", "path", path, "kek_id", k.ID().String())
	} else if err != nil {
		return nil, err
	}
	var others []*secrets.KEK
	for _, name := range []string{PreviousKEKFile, KEKFile + ".new"} {
		o, err := secrets.LoadKEK("", filepath.Join(dataDir, name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return nil, err
		}
		others = append(others, o)
	}
	return secrets.NewKeyring(k, others...)
}

// StageKEK prepares a rotation of the data dir's KEK: it writes a new KEK
// to kek.new before any record is re-sealed with it (or returns the one an
// interrupted rotation left there), so no record is ever sealed under a key
// that exists only in memory. LoadKeyring opens records under a staged KEK.
func StageKEK(dataDir string) (*secrets.KEK, error) {
	path := filepath.Join(dataDir, KEKFile+".new")
	k, err := secrets.LoadKEK("", path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if k, err = secrets.GenerateKEK(); err != nil {
		return nil, err
	}
	return k, secrets.WriteKEKFile(path, k)
}

// InstallRotatedKEK makes the staged KEK the data dir's KEK once every
// record is re-sealed, keeping the old one as the previous KEK. Each step is
// a rename, so a crash leaves either the old or the new key in place, and
// the other beside it; LoadKeyring finishes the job.
func InstallRotatedKEK(dataDir string) error {
	path := filepath.Join(dataDir, KEKFile)
	if err := os.Rename(path, filepath.Join(dataDir, PreviousKEKFile)); err != nil {
		return fmt.Errorf("keeping the previous KEK: %w", err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		return fmt.Errorf("installing the new KEK: %w", err)
	}
	return nil
}
