package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is every figure of one `warren-bench tunnel` run. Rates are bits
// per second, durations nanoseconds.
type Report struct {
	Machine    Machine       `json:"machine"`
	Bytes      int64         `json:"bytes"`
	RTTSamples int           `json:"rtt_samples"`
	RTTWarmup  int           `json:"rtt_warmup"`
	StockMTU   int           `json:"stock_mtu"`
	WarrenMTU  int           `json:"warren_mtu"`
	Throughput Throughput    `json:"throughput_bps"`
	RTT        RTT           `json:"rtt_ns"`
	Ratios     Ratios        `json:"ratios"`
	UDPDrops   UDPDrops      `json:"udp_rcvbuf_errors"`
	Elapsed    time.Duration `json:"elapsed_ns"`
}

// Machine is where the run happened.
type Machine struct {
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	LoadAvg    string `json:"loadavg,omitempty"` // /proc/loadavg at the start; other load skews every figure
}

// Throughput holds delivered rates in bits per second.
type Throughput struct {
	Loopback   float64 `json:"loopback_tcp"`
	Stock      float64 `json:"stock_netstack"`
	WarrenUp   float64 `json:"warren_engine_to_agent"`
	WarrenDown float64 `json:"warren_agent_to_engine"`
}

// RTT holds 1-byte round-trip latencies.
type RTT struct {
	Direct latency `json:"direct_tcp"`
	Stock  latency `json:"stock_netstack"`
	Warren latency `json:"warren"`
}

// MarshalJSON names the percentiles in the report's units.
func (l latency) MarshalJSON() ([]byte, error) {
	return json.Marshal(latencyJSON{P50: int64(l.P50), P99: int64(l.P99)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (l *latency) UnmarshalJSON(data []byte) error {
	var j latencyJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*l = latency{P50: time.Duration(j.P50), P99: time.Duration(j.P99)}
	return nil
}

type latencyJSON struct {
	P50 int64 `json:"p50"`
	P99 int64 `json:"p99"`
}

// UDPDrops counts the UDP datagrams the kernel dropped for a full socket
// receive buffer while each WireGuard path was measured (Linux, counted for
// the whole machine). They explain retransmit stalls in the figures.
type UDPDrops struct {
	Stock  uint64 `json:"stock_netstack"`
	Warren uint64 `json:"warren"`
}

// Ratios compare each Warren figure with its baselines. Above 1 is better
// for throughput, worse for latency.
type Ratios struct {
	StockOverLoopback      float64 `json:"stock_over_loopback"`
	WarrenUpOverStock      float64 `json:"warren_engine_to_agent_over_stock"`
	WarrenUpOverLoopback   float64 `json:"warren_engine_to_agent_over_loopback"`
	WarrenDownOverStock    float64 `json:"warren_agent_to_engine_over_stock"`
	WarrenDownOverLoopback float64 `json:"warren_agent_to_engine_over_loopback"`
	RTTP50StockOverDirect  float64 `json:"rtt_p50_stock_over_direct"`
	RTTP99StockOverDirect  float64 `json:"rtt_p99_stock_over_direct"`
	RTTP50WarrenOverDirect float64 `json:"rtt_p50_warren_over_direct"`
	RTTP99WarrenOverDirect float64 `json:"rtt_p99_warren_over_direct"`
	RTTP50WarrenOverStock  float64 `json:"rtt_p50_warren_over_stock"`
	RTTP99WarrenOverStock  float64 `json:"rtt_p99_warren_over_stock"`
}

func ratiosOf(r Report) Ratios {
	t, l := r.Throughput, r.RTT
	return Ratios{
		StockOverLoopback:      ratio(t.Stock, t.Loopback),
		WarrenUpOverStock:      ratio(t.WarrenUp, t.Stock),
		WarrenUpOverLoopback:   ratio(t.WarrenUp, t.Loopback),
		WarrenDownOverStock:    ratio(t.WarrenDown, t.Stock),
		WarrenDownOverLoopback: ratio(t.WarrenDown, t.Loopback),
		RTTP50StockOverDirect:  ratio(float64(l.Stock.P50), float64(l.Direct.P50)),
		RTTP99StockOverDirect:  ratio(float64(l.Stock.P99), float64(l.Direct.P99)),
		RTTP50WarrenOverDirect: ratio(float64(l.Warren.P50), float64(l.Direct.P50)),
		RTTP99WarrenOverDirect: ratio(float64(l.Warren.P99), float64(l.Direct.P99)),
		RTTP50WarrenOverStock:  ratio(float64(l.Warren.P50), float64(l.Stock.P50)),
		RTTP99WarrenOverStock:  ratio(float64(l.Warren.P99), float64(l.Stock.P99)),
	}
}

// ratio is a/b, or 0 when there is no baseline (JSON has no NaN).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func writeJSON(w io.Writer, r any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// row is one line of the table; a figure compared with two baselines takes
// a second line with an empty figure.
type row struct{ figure, value, baseline, baseValue, ratio string }

func writeTable(w io.Writer, r Report) error {
	m := r.Machine
	fmt.Fprintf(w, "warren-bench tunnel: %s/%s, %d CPUs, %s; %s per transfer, %d RTT samples after %d warm-up; took %.1fs\n",
		m.GOOS, m.GOARCH, m.NumCPU, m.GoVersion, mib(r.Bytes), r.RTTSamples, r.RTTWarmup, r.Elapsed.Seconds())
	if m.LoadAvg != "" {
		fmt.Fprintf(w, "load average at start: %s (other load on the machine skews every figure)\n", m.LoadAvg)
	}
	fmt.Fprintf(w, "UDP receive-buffer drops while measuring (whole machine): stock %d, warren %d\n", r.UDPDrops.Stock, r.UDPDrops.Warren)
	fmt.Fprintf(w, "stock = wireguard-go tun/netstack pair over UDP loopback (MTU %d); warren = engine -> overlay (MTU %d) -> agent -> host TCP\n\n",
		r.StockMTU, r.WarrenMTU)
	return writeRows(w, tableRows(r))
}

// writeRows prints rows as the aligned FIGURE / VALUE / BASELINE /
// BASELINE VALUE / RATIO table every subcommand ends with.
func writeRows(w io.Writer, rows []row) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tVALUE\tBASELINE\tBASELINE VALUE\tRATIO")
	for _, rw := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", rw.figure, rw.value, rw.baseline, rw.baseValue, rw.ratio)
	}
	tw.Flush()
	// Rows without a baseline end in padding.
	for line := range strings.Lines(buf.String()) {
		if _, err := fmt.Fprintln(w, strings.TrimRight(line, " \n")); err != nil {
			return err
		}
	}
	return nil
}

func tableRows(r Report) []row {
	t, l, q := r.Throughput, r.RTT, r.Ratios
	const lo, st, di = "loopback TCP", "stock netstack", "direct TCP"
	return []row{
		{"throughput loopback TCP", gbps(t.Loopback), "", "", ""},
		{"throughput stock netstack", gbps(t.Stock), lo, gbps(t.Loopback), times(q.StockOverLoopback)},
		{"throughput warren engine->agent", gbps(t.WarrenUp), st, gbps(t.Stock), times(q.WarrenUpOverStock)},
		{"", "", lo, gbps(t.Loopback), times(q.WarrenUpOverLoopback)},
		{"throughput warren agent->engine", gbps(t.WarrenDown), st, gbps(t.Stock), times(q.WarrenDownOverStock)},
		{"", "", lo, gbps(t.Loopback), times(q.WarrenDownOverLoopback)},
		{"rtt p50 direct TCP", micros(l.Direct.P50), "", "", ""},
		{"rtt p50 stock netstack", micros(l.Stock.P50), di, micros(l.Direct.P50), times(q.RTTP50StockOverDirect)},
		{"rtt p50 warren", micros(l.Warren.P50), di, micros(l.Direct.P50), times(q.RTTP50WarrenOverDirect)},
		{"", "", st, micros(l.Stock.P50), times(q.RTTP50WarrenOverStock)},
		{"rtt p99 direct TCP", micros(l.Direct.P99), "", "", ""},
		{"rtt p99 stock netstack", micros(l.Stock.P99), di, micros(l.Direct.P99), times(q.RTTP99StockOverDirect)},
		{"rtt p99 warren", micros(l.Warren.P99), di, micros(l.Direct.P99), times(q.RTTP99WarrenOverDirect)},
		{"", "", st, micros(l.Stock.P99), times(q.RTTP99WarrenOverStock)},
	}
}

func gbps(bps float64) string       { return fmt.Sprintf("%8.3f Gbit/s", bps/1e9) }
func micros(d time.Duration) string { return fmt.Sprintf("%8.1f µs", float64(d)/1e3) }
func times(x float64) string        { return fmt.Sprintf("%7.3fx", x) }

func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
