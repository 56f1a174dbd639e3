package main

import (
	"fmt"
	"io"
	"time"
)

// SessionReport is every figure of one `warren-bench session` run.
// Durations are nanoseconds, memory bytes.
type SessionReport struct {
	Machine      Machine       `json:"machine"`
	Samples      int           `json:"keystroke_samples"`
	Warmup       int           `json:"keystroke_warmup"`
	IdleSessions int           `json:"idle_sessions"`
	BufferSize   int           `json:"buffer_size"` // each session's output buffer on the agent
	Keystroke    KeystrokeRTT  `json:"keystroke_rtt_ns"`
	Ratios       SessionRatios `json:"ratios"`
	Memory       SessionMemory `json:"memory"`
	Elapsed      time.Duration `json:"elapsed_ns"`
}

// KeystrokeRTT holds keystroke-to-echo latencies.
type KeystrokeRTT struct {
	DirectSSH latency `json:"direct_ssh"` // x/crypto/ssh PTY session straight to sshd
	Warren    latency `json:"warren"`     // WebSocket viewer -> engine -> overlay -> agent -> sshd
}

// SessionRatios compare Warren's keystroke latency with direct SSH (above
// 1 is slower).
type SessionRatios struct {
	P50 float64 `json:"rtt_p50_warren_over_direct_ssh"`
	P99 float64 `json:"rtt_p99_warren_over_direct_ssh"`
}

// SessionMemory is what idle sessions cost each side.
type SessionMemory struct {
	Engine MemDelta `json:"engine"`
	Agent  MemDelta `json:"agent"`
}

// MemDelta is one process's memory before and after opening the idle
// sessions, and the difference per session (negative when a collection
// freed more than the sessions took: noise, at this size).
type MemDelta struct {
	Before               memSample `json:"before"`
	After                memSample `json:"after"`
	HeapPerSession       float64   `json:"heap_bytes_per_session"`
	StackPerSession      float64   `json:"stack_bytes_per_session"`
	RSSPerSession        float64   `json:"rss_bytes_per_session"`
	GoroutinesPerSession float64   `json:"goroutines_per_session"`
}

func writeSessionTable(w io.Writer, r SessionReport) error {
	m := r.Machine
	fmt.Fprintf(w, "warren-bench session: %s/%s, %d CPUs, %s; %d keystrokes after %d warm-up; %d idle sessions, %s buffer each; took %.1fs\n",
		m.GOOS, m.GOARCH, m.NumCPU, m.GoVersion, r.Samples, r.Warmup, r.IdleSessions, mib(int64(r.BufferSize)), r.Elapsed.Seconds())
	if m.LoadAvg != "" {
		fmt.Fprintf(w, "load average at start: %s (other load on the machine skews every figure)\n", m.LoadAvg)
	}
	fmt.Fprintf(w, "keystroke = one byte typed into `stty raw -echo; exec cat` until its echo is back; direct ssh = x/crypto/ssh PTY\n"+
		"session to the same sshd; warren = WebSocket viewer -> engine -> WireGuard overlay -> agent (own process) -> sshd\n"+
		"memory = after a full GC, per idle session (a shell, nobody attached), engine and agent processes apart\n\n")
	return writeRows(w, sessionRows(r))
}

func sessionRows(r SessionReport) []row {
	k, q := r.Keystroke, r.Ratios
	const ds = "direct ssh"
	rows := []row{
		{"keystroke rtt p50 direct ssh", micros(k.DirectSSH.P50), "", "", ""},
		{"keystroke rtt p50 warren", micros(k.Warren.P50), ds, micros(k.DirectSSH.P50), times(q.P50)},
		{"keystroke rtt p99 direct ssh", micros(k.DirectSSH.P99), "", "", ""},
		{"keystroke rtt p99 warren", micros(k.Warren.P99), ds, micros(k.DirectSSH.P99), times(q.P99)},
	}
	for _, side := range []struct {
		name string
		d    MemDelta
	}{{"agent", r.Memory.Agent}, {"engine", r.Memory.Engine}} {
		rows = append(rows,
			row{"idle session heap, " + side.name, kib(side.d.HeapPerSession), "", "", ""},
			row{"idle session stacks, " + side.name, kib(side.d.StackPerSession), "", "", ""},
			row{"idle session goroutines, " + side.name, fmt.Sprintf("%8.1f", side.d.GoroutinesPerSession), "", "", ""},
			row{"idle session RSS, " + side.name, kib(side.d.RSSPerSession), "", "", ""},
		)
	}
	return rows
}

func kib(b float64) string { return fmt.Sprintf("%8.1f KiB", b/1024) }
