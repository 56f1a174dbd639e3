package agent

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/netstack"
)

func testState(t *testing.T) State {
	t.Helper()
	priv, err := netstack.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	engine, err := netstack.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return State{
		ServerURL:  "https://warren.example.com",
		DeviceID:   "dev_123",
		Name:       "web-1",
		OverlayIP:  netip.MustParseAddr("100.96.0.2"),
		Prefix:     netip.MustParsePrefix("100.96.0.0/12"),
		PrivateKey: PrivateKey(priv),
		Engines: []wire.Engine{{
			PublicKey: engine.Public().String(),
			Endpoint:  "warren.example.com:51820",
			OverlayIP: "100.96.0.1",
		}},
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	want := testState(t)
	if err := SaveState(dir, want); err != nil {
		t.Fatalf("SaveState: %v", err)
	}
	got, err := LoadState(dir)
	if err != nil {
		t.Fatalf("LoadState: %v", err)
	}
	if got.PrivateKey != want.PrivateKey || got.OverlayIP != want.OverlayIP || got.Prefix != want.Prefix ||
		got.DeviceID != want.DeviceID || got.Name != want.Name || got.ServerURL != want.ServerURL ||
		len(got.Engines) != 1 || got.Engines[0] != want.Engines[0] {
		t.Errorf("LoadState() = %+v, want %+v", got, want)
	}
	if runtime.GOOS == "windows" {
		return
	}
	assertMode(t, dir, 0o700)
	assertMode(t, filepath.Join(dir, stateFile), 0o600)
	// Only agent.json: the temp file is gone.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state dir holds %d entries, want 1 (agent.json)", len(entries))
	}
}

func TestSaveStateTightensDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes on Windows")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := SaveState(dir, testState(t)); err != nil {
		t.Fatal(err)
	}
	assertMode(t, dir, 0o700)
}

func TestSaveStateReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	first := testState(t)
	second := testState(t)
	if err := SaveState(dir, first); err != nil {
		t.Fatal(err)
	}
	if err := SaveState(dir, second); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.PrivateKey != second.PrivateKey {
		t.Errorf("LoadState() after second save has the first key")
	}
	assertMode(t, filepath.Join(dir, stateFile), 0o600)
}

func TestLoadStateNotEnrolled(t *testing.T) {
	_, err := LoadState(t.TempDir())
	if !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("LoadState(empty dir) = %v, want ErrNotEnrolled", err)
	}
}

func TestLoadStateRejectsBadFile(t *testing.T) {
	for name, content := range map[string]string{
		"not json":    "{",
		"no key":      `{"device_id":"d","overlay_ip":"100.96.0.2","engines":[]}`,
		"bad key":     `{"device_id":"d","overlay_ip":"100.96.0.2","private_key":"xx"}`,
		"no engines":  `{"device_id":"d","overlay_ip":"100.96.0.2","private_key":"` + strings.Repeat("A", 43) + `="}`,
		"no overlay":  `{"device_id":"d","private_key":"` + strings.Repeat("A", 43) + `="}`,
		"empty":       ``,
		"wrong types": `{"device_id":7}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadState(dir); err == nil || errors.Is(err, ErrNotEnrolled) {
				t.Errorf("LoadState(%s) = %v, want a parse or validation error", name, err)
			}
		})
	}
}

func TestPrivateKeyNeverLogged(t *testing.T) {
	st := testState(t)
	secret := st.PrivateKey.Key().String()
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var buf bytes.Buffer
		slog.New(h(&buf)).Info("state", "state", st, "key", st.PrivateKey)
		out := buf.String()
		if strings.Contains(out, secret) || !strings.Contains(out, "REDACTED") {
			t.Errorf("%s log = %s, want REDACTED and no key", name, out)
		}
		if !strings.Contains(out, st.PrivateKey.Public().String()) {
			t.Errorf("%s log = %s, want the public key", name, out)
		}
	}
	if s := strings.Join([]string{st.PrivateKey.String(), st.PrivateKey.GoString()}, " "); strings.Contains(s, secret) {
		t.Errorf("formatted key = %s, want REDACTED", s)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %o, want %o", path, got, want)
	}
}
