package agent

import (
	"strings"
	"testing"
	"time"
)

func TestStatusText(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := Status{
		PID: 42, UpdatedAt: now.Add(-3 * time.Second), DeviceID: "dev_1", Name: "web-1",
		OverlayIP: "100.96.0.2", EngineEndpoint: "203.0.113.5:51820",
		LastHandshake: now.Add(-42 * time.Second), StreamConnected: true, NetmapVersion: 7,
		Services: []ServiceStatus{
			{Name: "ssh", Protocol: "ssh", Port: 22, Target: "127.0.0.1:22", Listening: true},
			{Name: "web", Protocol: "http", Port: 80, Target: "127.0.0.1:80", Error: "port is in use"},
		},
	}
	tests := []struct {
		name string
		st   Status
		want []string
	}{
		{"running", st, []string{"running (pid 42)", "100.96.0.2", "203.0.113.5:51820", "(42s ago)", "connected", "7",
			"  ssh   ssh       22    127.0.0.1:22  listening", "NOT LISTENING: port is in use"}},
		{"stale", func() Status { s := st; s.UpdatedAt = now.Add(-31 * time.Second); return s }(), []string{"NOT RUNNING (last update 31s ago)"}},
		{"stopped", func() Status { s := st; s.Stopped = true; return s }(), []string{"NOT RUNNING"}},
		{"fresh", Status{UpdatedAt: now}, []string{"never", "unknown", "disconnected", "none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := tt.st.WriteText(&b, now); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("WriteText() =\n%s\nwant it to contain %q", b.String(), w)
				}
			}
		})
	}
}
