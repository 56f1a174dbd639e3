package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"

	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/internal/atomicfile"
	"github.com/warrenhq/warren/netstack"
)

// Files in the state directory.
const (
	stateFile  = "agent.json"
	netmapFile = "netmap.json"
	statusFile = "status.json"
)

// maxStateFile caps what we read back from the state directory: the files are
// ours, but a corrupted or replaced file must not exhaust memory.
const maxStateFile = 4 << 20

// ErrNotEnrolled is returned when the state directory holds no enrollment.
var ErrNotEnrolled = errors.New("not enrolled")

// State is the agent's enrollment, stored as agent.json in the state
// directory. It holds the device's WireGuard private key.
type State struct {
	ServerURL  string        `json:"server_url"`
	DeviceID   string        `json:"device_id"`
	Name       string        `json:"name"`
	OverlayIP  netip.Addr    `json:"overlay_ip"`
	Prefix     netip.Prefix  `json:"prefix"`
	PrivateKey PrivateKey    `json:"private_key"`
	Engines    []wire.Engine `json:"engines"`
	Insecure   bool          `json:"insecure,omitempty"`
}

// LogValue leaves the private key out of logs.
func (s State) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("server_url", s.ServerURL),
		slog.String(keyDeviceID, s.DeviceID),
		slog.String("name", s.Name),
		slog.String("overlay_ip", s.OverlayIP.String()),
		slog.String("public_key", s.PrivateKey.Public().String()),
		slog.Any("private_key", s.PrivateKey),
		slog.Int("engines", len(s.Engines)),
	)
}

// validate checks what Run relies on.
func (s State) validate() error {
	switch {
	case s.DeviceID == "":
		return errors.New("missing device_id")
	case !s.OverlayIP.IsValid():
		return errors.New("missing overlay_ip")
	case s.PrivateKey.Key().IsZero():
		return errors.New("missing private_key")
	case len(s.Engines) == 0:
		return errors.New("no engines")
	}
	for i, e := range s.Engines {
		if err := validEngine(e); err != nil {
			return fmt.Errorf("engines[%d]: %w", i, err)
		}
	}
	return nil
}

func validEngine(e wire.Engine) error {
	if _, err := netstack.ParseKey(e.PublicKey); err != nil {
		return fmt.Errorf("public_key: %w", err)
	}
	if _, err := netip.ParseAddr(e.OverlayIP); err != nil {
		return fmt.Errorf("overlay_ip: %w", err)
	}
	if err := wire.ValidTarget(e.Endpoint); err != nil {
		return fmt.Errorf("endpoint %q: %w", e.Endpoint, err)
	}
	return nil
}

// PrivateKey is a WireGuard private key that never shows up in logs or
// formatted output. It marshals to base64 only for the state file.
type PrivateKey netstack.Key

// Key returns the key for handing to netstack.
func (k PrivateKey) Key() netstack.Key { return netstack.Key(k) }

// Public returns the matching public key.
func (k PrivateKey) Public() netstack.Key { return netstack.Key(k).Public() }

// LogValue implements slog.LogValuer.
func (PrivateKey) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// String implements fmt.Stringer.
func (PrivateKey) String() string { return "REDACTED" }

// GoString implements fmt.GoStringer.
func (PrivateKey) GoString() string { return "REDACTED" }

// MarshalText implements encoding.TextMarshaler (base64).
func (k PrivateKey) MarshalText() ([]byte, error) { return netstack.Key(k).MarshalText() }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *PrivateKey) UnmarshalText(b []byte) error { return (*netstack.Key)(k).UnmarshalText(b) }

// DefaultStateDir is the state directory used when none is given:
// /var/lib/warren-agent for root, $XDG_STATE_HOME/warren-agent or
// ~/.local/state/warren-agent otherwise (%LocalAppData%\warren-agent on Windows).
func DefaultStateDir() string {
	if runtime.GOOS == "windows" {
		if d, err := os.UserCacheDir(); err == nil {
			return filepath.Join(d, "warren-agent")
		}
		return "warren-agent"
	}
	if os.Geteuid() == 0 {
		return "/var/lib/warren-agent"
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "warren-agent")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "warren-agent")
	}
	return "warren-agent"
}

// LoadState reads the enrollment from dir. It returns an error wrapping
// ErrNotEnrolled when there is none.
func LoadState(dir string) (State, error) {
	var s State
	path := filepath.Join(dir, stateFile)
	if err := readJSON(path, &s); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return State{}, fmt.Errorf("%w: no %s", ErrNotEnrolled, path)
		}
		return State{}, err
	}
	if err := s.validate(); err != nil {
		return State{}, fmt.Errorf("invalid %s: %w", path, err)
	}
	return s, nil
}

// SaveState writes s to dir atomically, creating dir (0700) if needed.
func SaveState(dir string, s State) error {
	return writeJSON(dir, stateFile, s)
}

// readJSON decodes the JSON file at path into v.
func readJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxStateFile {
		return fmt.Errorf("reading %s: larger than %d bytes", path, maxStateFile)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

// writeJSON marshals v and writes it to dir/name atomically with mode 0600.
func writeJSON(dir, name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", name, err)
	}
	return writeFileAtomic(dir, name, append(data, '\n'))
}

// writeFileAtomic replaces dir/name with data: a reader sees either the old
// file or the complete new one, never a torn write, even after a crash.
func writeFileAtomic(dir, name string, data []byte) error {
	if err := ensureDir(dir); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, name), data); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// ensureDir creates dir with mode 0700, and tightens an existing one that
// others can read: it holds a private key.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, fi.Mode().Perm()&0o700); err != nil {
			return fmt.Errorf("restricting state directory: %w", err)
		}
	}
	return nil
}
