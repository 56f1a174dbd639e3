// Package atomicfile replaces small files so that a reader, even after a
// crash, finds either the old content or the complete new one, never a torn
// write. It imports only the standard library, so the agent and the engine
// share it.
package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
)

// Write replaces path with data, mode 0600: a temporary file in the same
// directory is written and fsynced, renamed over path, and the directory is
// fsynced so the rename survives a crash (best effort: Windows cannot sync
// a directory, and the rename is atomic without it).
func Write(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if err := errors.Join(err, tmp.Close()); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
