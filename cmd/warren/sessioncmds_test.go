package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/api"
)

func TestSessionParseEscape(t *testing.T) {
	tests := []struct {
		in   string
		char byte
		none bool
		ok   bool
	}{
		{"~", '~', false, true},
		{"#", '#', false, true},
		{"none", 0, true, true},
		{"^]", 0x1d, false, true},
		{"^A", 0x01, false, true},
		{"", 0, false, false},
		{"~~", 0, false, false},
		{" ", 0, false, false},
		{"é", 0, false, false},
		{"^a", 0, false, false},
	}
	for _, tt := range tests {
		char, none, err := parseEscape(tt.in)
		if (err == nil) != tt.ok || char != tt.char || none != tt.none {
			t.Errorf("parseEscape(%q) = %q, %v, %v; want %q, %v, ok %v", tt.in, char, none, err, tt.char, tt.none, tt.ok)
		}
	}
}

func TestSessionTable(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	ss := []api.Session{
		{ID: "rs_a", DeviceName: "web1", Service: "ssh", State: "running", OwnerID: "usr_1", StartedAt: now.Add(-time.Hour),
			LastActivity: now.Add(-90 * time.Second), Viewers: []api.SessionViewer{{Role: "driver"}, {Role: "observer"}}},
		{ID: "rs_b", DeviceID: "dev_2", Service: "ssh", State: "ended", EndReason: "exited", Recorded: true, OwnerID: "usr_2"},
	}
	var buf bytes.Buffer
	printSessions(&buf, ss, now)
	out := buf.String()
	for _, want := range []string{"ID", "DEVICE/SERVICE", "LAST ACTIVITY", "rs_a", "web1/ssh", "1m30s ago", "2 (driver + 1)",
		"rs_b", "dev_2/ssh", "ended (exited), recorded", "usr_2"} {
		if !strings.Contains(out, want) {
			t.Errorf("table has no %q:\n%s", want, out)
		}
	}
}

func TestSessionViewers(t *testing.T) {
	obs := api.SessionViewer{Role: "observer"}
	drv := api.SessionViewer{Role: "driver"}
	for _, tt := range []struct {
		in   []api.SessionViewer
		want string
	}{
		{nil, "0"},
		{[]api.SessionViewer{drv}, "1 (driver)"},
		{[]api.SessionViewer{obs, obs}, "2 (observers)"},
		{[]api.SessionViewer{obs, drv, obs}, "3 (driver + 2)"},
	} {
		if got := viewers(tt.in); got != tt.want {
			t.Errorf("viewers(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSessionCommandsRegistered(t *testing.T) {
	cmds := clientCommands()
	for _, name := range []string{"session open", "session list", "session show", "session attach", "session terminate",
		"session share", "session unshare", "session recordings", "session recording"} {
		if _, ok := cmds[name]; !ok {
			t.Errorf("no client command %q", name)
		}
	}
	if errorHint("session_limit") == "" || errorHint("nothing") != "" {
		t.Error("errorHint: want a hint for session_limit and none for an unknown code")
	}
}
