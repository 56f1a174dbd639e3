package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/warrenhq/warren/controlplane/controlplanetest"
)

// TestMain lets the session benchmark run this test binary as its agent
// process, as it runs warren-bench itself.
func TestMain(m *testing.M) {
	if dir := os.Getenv(envAgentChild); dir != "" {
		os.Exit(agentChildMain(dir))
	}
	os.Exit(m.Run())
}

// TestTunnelReportComplete runs the whole tunnel benchmark with tiny sizes
// and checks that every figure was measured and the report survives JSON.
// It asserts no speed: performance is read from the report, never tested.
func TestTunnelReportComplete(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("WARREN_TEST_VERBOSE") != "" {
		log = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	cfg := tunnelConfig{Bytes: 1 << 20, RTTSamples: 50, RTTWarmup: 10}
	r, err := measureTunnel(ctx, cfg, log)
	if err != nil {
		t.Fatalf("measureTunnel = %v", err)
	}

	if r.Bytes != cfg.Bytes || r.RTTSamples != cfg.RTTSamples || r.RTTWarmup != cfg.RTTWarmup {
		t.Errorf("report sizes = %d bytes, %d samples, %d warm-up; want %d, %d, %d",
			r.Bytes, r.RTTSamples, r.RTTWarmup, cfg.Bytes, cfg.RTTSamples, cfg.RTTWarmup)
	}
	if r.Machine.GOOS == "" || r.Machine.GOARCH == "" || r.Machine.NumCPU < 1 || r.Machine.GoVersion == "" {
		t.Errorf("machine info incomplete: %+v", r.Machine)
	}
	for name, v := range figures(r) {
		if !(v > 0) {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}

	var buf bytes.Buffer
	if err := writeJSON(&buf, r); err != nil {
		t.Fatalf("writeJSON = %v", err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("decoding the JSON report: %v\n%s", err, buf.Bytes())
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("JSON round trip:\nGot(%+v)\nwant %+v", back, r)
	}

	buf.Reset()
	if err := writeTable(&buf, r); err != nil {
		t.Fatalf("writeTable = %v", err)
	}
	for _, want := range []string{"throughput stock netstack", "throughput warren agent->engine", "rtt p99 warren"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table has no %q row:\n%s", want, buf.String())
		}
	}
	t.Logf("\n%s", buf.String())
}

// figures lists every measured number and ratio of the report by name.
func figures(r Report) map[string]float64 {
	m := map[string]float64{"elapsed": float64(r.Elapsed)}
	for name, v := range fields(r.Throughput) {
		m["throughput."+name] = v
	}
	for name, l := range map[string]latency{"direct": r.RTT.Direct, "stock": r.RTT.Stock, "warren": r.RTT.Warren} {
		m["rtt."+name+".p50"] = float64(l.P50)
		m["rtt."+name+".p99"] = float64(l.P99)
	}
	for name, v := range fields(r.Ratios) {
		m["ratios."+name] = v
	}
	return m
}

// fields maps a struct of float64 fields by field name, so a figure added
// to the report is checked without touching this test.
func fields(s any) map[string]float64 {
	v := reflect.ValueOf(s)
	m := make(map[string]float64, v.NumField())
	for i := range v.NumField() {
		m[v.Type().Field(i).Name] = v.Field(i).Float()
	}
	return m
}

// TestSessionReportComplete runs the whole session benchmark with tiny
// sizes against a real sshd and checks that every figure was measured and
// the report survives JSON. It asserts no speed and no memory size.
func TestSessionReportComplete(t *testing.T) {
	if _, err := os.Stat(sshdBin); err != nil {
		controlplanetest.SkipUnlessRequired(t, "sshd", "no "+sshdBin+" (apt-get install openssh-server)")
	}
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("WARREN_TEST_VERBOSE") != "" {
		log = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	cfg := sessionConfig{Samples: 30, Warmup: 5, IdleSessions: 3, BufferSize: 256 << 10}
	r, err := measureSession(ctx, cfg, log)
	if err != nil {
		t.Fatalf("measureSession = %v", err)
	}
	if r.Samples != cfg.Samples || r.Warmup != cfg.Warmup || r.IdleSessions != cfg.IdleSessions || r.BufferSize != cfg.BufferSize {
		t.Errorf("report sizes = %d samples, %d warm-up, %d sessions, %d buffer; want %+v", r.Samples, r.Warmup, r.IdleSessions, r.BufferSize, cfg)
	}
	for name, l := range map[string]latency{"direct": r.Keystroke.DirectSSH, "warren": r.Keystroke.Warren} {
		if l.P50 <= 0 || l.P99 < l.P50 {
			t.Errorf("keystroke %s = %+v, want 0 < p50 <= p99", name, l)
		}
	}
	if r.Ratios.P50 <= 0 || r.Ratios.P99 <= 0 {
		t.Errorf("ratios = %+v, want > 0", r.Ratios)
	}
	for name, m := range map[string]MemDelta{"engine": r.Memory.Engine, "agent": r.Memory.Agent} {
		if m.Before.HeapAlloc == 0 || m.After.HeapAlloc == 0 || m.After.Goroutines == 0 {
			t.Errorf("%s memory not measured: %+v", name, m)
		}
	}
	// Each idle session holds at least its SSH connection's goroutines on
	// the agent (a count, not a size: stable whatever the load).
	if r.Memory.Agent.GoroutinesPerSession < 1 {
		t.Errorf("agent goroutines per idle session = %v, want >= 1", r.Memory.Agent.GoroutinesPerSession)
	}

	var buf bytes.Buffer
	if err := writeJSON(&buf, r); err != nil {
		t.Fatalf("writeJSON = %v", err)
	}
	var back SessionReport
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("decoding the JSON report: %v\n%s", err, buf.Bytes())
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("JSON round trip:\nGot(%+v)\nwant %+v", back, r)
	}
	buf.Reset()
	if err := writeSessionTable(&buf, r); err != nil {
		t.Fatalf("writeSessionTable = %v", err)
	}
	for _, want := range []string{"keystroke rtt p50 warren", "keystroke rtt p99 direct ssh", "idle session heap, agent", "idle session RSS, engine"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table has no %q row:\n%s", want, buf.String())
		}
	}
	t.Logf("\n%s", buf.String())
}

func TestSessionFlags(t *testing.T) {
	cfg, err := parseSession([]string{"--samples", "10", "--idle-sessions", "7", "--buffer-size", "1MiB", "--json"})
	if err != nil || cfg.Samples != 10 || cfg.IdleSessions != 7 || cfg.BufferSize != 1<<20 || !cfg.JSON {
		t.Errorf("parseSession = %+v, %v", cfg, err)
	}
	for _, bad := range [][]string{{"--samples", "0"}, {"--idle-sessions", "251"}, {"extra"}, {"--nope"}} {
		if _, err := parseSession(bad); err == nil {
			t.Errorf("parseSession(%q) = nil error, want one", bad)
		}
	}
	if _, _, err := parseArgs([]string{"nonsense"}); err == nil {
		t.Error("parseArgs(nonsense) = nil error")
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"1048576", 1 << 20},
		{"1KiB", 1 << 10},
		{"256MiB", 256 << 20},
		{"2GiB", 2 << 30},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var b byteSize
			if err := b.Set(tt.in); err != nil || int64(b) != tt.want {
				t.Errorf("Set(%q) = %d, %v; want %d, nil", tt.in, b, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "MiB", "1.5MiB", "1MB"} {
		var b byteSize
		if err := b.Set(bad); err == nil {
			t.Errorf("Set(%q) = nil, want an error", bad)
		}
	}
}

func TestPercentiles(t *testing.T) {
	rtts := make([]time.Duration, 100)
	for i := range rtts {
		rtts[len(rtts)-1-i] = time.Duration(i+1) * time.Microsecond
	}
	got := percentiles(rtts)
	want := latency{P50: 50 * time.Microsecond, P99: 99 * time.Microsecond}
	if got != want {
		t.Errorf("percentiles(1..100 µs) = %+v, want %+v", got, want)
	}
}
