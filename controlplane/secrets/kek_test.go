package secrets_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/warrenhq/warren/controlplane/secrets"
)

func b64(n int, fill byte) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(fill), n)))
}

func writeFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is subject to umask
		t.Fatal(err)
	}
	return path
}

func TestLoadKEK(t *testing.T) {
	valid := b64(32, 'k')
	tests := []struct {
		name    string
		env     string
		file    string // content; written with mode 0600 when not empty
		wantErr string // substring; "" means success
	}{
		{name: "env", env: valid},
		{name: "env with newline", env: valid + "\n"},
		{name: "file", file: valid + "\n"},
		{name: "bad base64 env", env: "this is not base64!", wantErr: "not valid standard base64"},
		{name: "bad base64 file", file: "%%%%", wantErr: "not valid standard base64"},
		{name: "unpadded", env: strings.TrimRight(valid, "="), wantErr: "not valid standard base64"},
		{name: "url alphabet", env: base64.URLEncoding.EncodeToString([]byte(strings.Repeat("\xff", 32))), wantErr: "not valid standard base64"},
		{name: "16 bytes", env: b64(16, 'k'), wantErr: "got 16 bytes"},
		{name: "33 bytes", env: b64(33, 'k'), wantErr: "got 33 bytes"},
		{name: "empty file", file: "\n", wantErr: "got 0 bytes"},
		{name: "all zeros", env: b64(32, 0), wantErr: "all zeros"},
		{name: "both", env: valid, file: valid, wantErr: "only one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var path string
			if tt.file != "" {
				path = writeFile(t, tt.file, 0o600)
			}
			k, err := secrets.LoadKEK(tt.env, path)
			if tt.wantErr == "" {
				if err != nil || k == nil {
					t.Fatalf("LoadKEK() = %v, %v; want a KEK", k, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadKEK() error = %v, want one containing %q", err, tt.wantErr)
			}
			if tt.env != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.env)) {
				t.Errorf("LoadKEK() error %q repeats the key material", err)
			}
		})
	}
}

func TestLoadKEKNone(t *testing.T) {
	if _, err := secrets.LoadKEK("", ""); !errors.Is(err, secrets.ErrNoKEK) {
		t.Errorf("LoadKEK(\"\", \"\") error = %v, want ErrNoKEK", err)
	}
}

func TestLoadKEKFilePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no group/other permission bits; LoadKEK does not check them there")
	}
	for _, tt := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true}, {0o400, true}, {0o700, true},
		{0o640, false}, {0o644, false}, {0o604, false}, {0o620, false}, {0o660, false}, {0o601, false},
	} {
		t.Run(tt.mode.String(), func(t *testing.T) {
			path := writeFile(t, b64(32, 'k'), tt.mode)
			_, err := secrets.LoadKEK("", path)
			switch {
			case tt.ok && err != nil:
				t.Errorf("LoadKEK(mode %04o) = %v, want a KEK", tt.mode, err)
			case !tt.ok && (err == nil || !strings.Contains(err.Error(), "group or other")):
				t.Errorf("LoadKEK(mode %04o) error = %v, want a refusal naming group or other", tt.mode, err)
			}
		})
	}
}

func TestLoadKEKFileErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path, wantErr string
	}{
		{"directory", dir, "not a regular file"},
		{"too large", writeFile(t, strings.Repeat("A", 2000), 0o600), "larger than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := secrets.LoadKEK("", tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("LoadKEK(%s) error = %v, want one naming the file and containing %q", tt.path, err, tt.wantErr)
			}
		})
	}
}

func TestLoadKEKFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope")
	if _, err := secrets.LoadKEK("", path); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadKEK(missing) error = %v, want os.ErrNotExist naming %s", err, path)
	}
}

func TestWriteKEKFile(t *testing.T) {
	k := newKEK(t)
	path := filepath.Join(t.TempDir(), "kek")
	if err := secrets.WriteKEKFile(path, k); err != nil {
		t.Fatalf("WriteKEKFile() = %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", fi.Mode().Perm())
	}
	loaded, err := secrets.LoadKEK("", path)
	if err != nil || loaded.ID() != k.ID() {
		t.Fatalf("LoadKEK(written file) = %v, %v; want KEK %v", loaded, err, k.ID())
	}
	if err := secrets.WriteKEKFile(path, k); !errors.Is(err, os.ErrExist) {
		t.Errorf("WriteKEKFile(existing) error = %v, want os.ErrExist", err)
	}
}

func TestKEKID(t *testing.T) {
	raw := []byte(strings.Repeat("k", 32))
	k, err := secrets.ParseKEK([]byte(base64.StdEncoding.EncodeToString(raw)))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if got, want := k.ID().String(), hex.EncodeToString(sum[:8]); got != want {
		t.Errorf("ID() = %s, want %s", got, want)
	}
	if a, b := newKEK(t), newKEK(t); a.ID() == b.ID() {
		t.Errorf("two generated KEKs share ID %v", a.ID())
	}
	again, err := secrets.ParseKEK(k.Export())
	if err != nil || again.ID() != k.ID() {
		t.Errorf("ParseKEK(Export()) = %v, %v; want the same KEK", again, err)
	}
}
