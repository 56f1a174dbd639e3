package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/warrenhq/warren/netstack"
)

// Defaults of tunnelConfig's zero values.
const (
	DefaultBytes      = 256 << 20
	DefaultRTTSamples = 2000
	DefaultRTTWarmup  = 100
)

// readyTimeout bounds the wait for a path to come up (handshake, netmap).
const readyTimeout = 30 * time.Second

// tunnelConfig configures `warren-bench tunnel`. Zero values are the
// documented defaults.
type tunnelConfig struct {
	Bytes      int64 // bytes per throughput transfer; 0 = DefaultBytes
	RTTSamples int   // timed round trips per path; 0 = DefaultRTTSamples
	RTTWarmup  int   // untimed round trips first; 0 = DefaultRTTWarmup
	JSON       bool  // print one JSON object instead of a table
	Verbose    bool  // engine, agent and wireguard-go logs to stderr
}

func (c tunnelConfig) withDefaults() tunnelConfig {
	if c.Bytes == 0 {
		c.Bytes = DefaultBytes
	}
	if c.RTTSamples == 0 {
		c.RTTSamples = DefaultRTTSamples
	}
	if c.RTTWarmup == 0 {
		c.RTTWarmup = DefaultRTTWarmup
	}
	return c
}

// runTunnel measures, prints the report to out and returns the exit code.
func runTunnel(ctx context.Context, cfg tunnelConfig, log *slog.Logger, out io.Writer) int {
	r, err := measureTunnel(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "warren-bench tunnel: %v\n", err)
		return 1
	}
	if cfg.JSON {
		err = writeJSON(out, r)
	} else {
		err = writeTable(out, r)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "warren-bench tunnel: writing report: %v\n", err)
		return 1
	}
	return 0
}

// measureTunnel runs every measurement in turn, one path at a time so they
// do not compete for the CPUs, and closes everything it started.
func measureTunnel(ctx context.Context, cfg tunnelConfig, log *slog.Logger) (_ Report, err error) {
	cfg = cfg.withDefaults()
	start := time.Now()
	r := Report{
		Machine: thisMachine(), Bytes: cfg.Bytes, RTTSamples: cfg.RTTSamples, RTTWarmup: cfg.RTTWarmup,
		StockMTU: stockMTU, WarrenMTU: netstack.DefaultMTU,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	host := serveBench(ln)
	defer func() { err = errors.Join(err, host.Close()) }()

	if err := measureLoopback(ctx, cfg, host.Addr(), log, &r); err != nil {
		return r, fmt.Errorf("loopback: %w", err)
	}
	drops := udpRcvbufErrors()
	if err := measureStock(ctx, cfg, log, &r); err != nil {
		return r, fmt.Errorf("stock netstack: %w", err)
	}
	r.UDPDrops.Stock, drops = since(drops)
	if err := measureWarren(ctx, cfg, host.Addr(), log, &r); err != nil {
		return r, fmt.Errorf("warren: %w", err)
	}
	r.UDPDrops.Warren, _ = since(drops)
	r.Ratios = ratiosOf(r)
	r.Elapsed = time.Since(start)
	return r, nil
}

var kernelDial dialFunc = (&net.Dialer{}).DialContext

func measureLoopback(ctx context.Context, cfg tunnelConfig, addr string, log *slog.Logger, r *Report) (err error) {
	log.Info("measuring loopback TCP", "addr", addr)
	if r.Throughput.Loopback, err = timedUpload(ctx, cfg, kernelDial, addr); err != nil {
		return err
	}
	r.RTT.Direct, err = timedRoundTrips(ctx, cfg, kernelDial, addr)
	return err
}

func measureStock(ctx context.Context, cfg tunnelConfig, log *slog.Logger, r *Report) (err error) {
	log.Info("measuring stock wireguard-go netstack pair")
	p, err := newStockPair(log.With("who", "stock"))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	if err := waitReady(ctx, p.Dial, p.Addr(), readyTimeout); err != nil {
		return err
	}
	if r.Throughput.Stock, err = timedUpload(ctx, cfg, p.Dial, p.Addr()); err != nil {
		return err
	}
	r.RTT.Stock, err = timedRoundTrips(ctx, cfg, p.Dial, p.Addr())
	return err
}

func measureWarren(ctx context.Context, cfg tunnelConfig, target string, log *slog.Logger, r *Report) (err error) {
	log.Info("starting warren engine and agent")
	w, err := startWarren(ctx, target, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, w.Close()) }()
	log.Info("measuring warren engine->agent", "addr", w.Addr())
	if r.Throughput.WarrenUp, err = timedUpload(ctx, cfg, w.Dial, w.Addr()); err != nil {
		return fmt.Errorf("engine->agent: %w", err)
	}
	if r.Throughput.WarrenDown, err = timedDownload(ctx, cfg, w.Dial, w.Addr()); err != nil {
		return fmt.Errorf("agent->engine: %w", err)
	}
	r.RTT.Warren, err = timedRoundTrips(ctx, cfg, w.Dial, w.Addr())
	return err
}

// transferTimeout bounds one transfer generously (2 min plus 10 Mbit/s), so
// a stalled path fails the run instead of hanging it. The floor is long
// because a lossy path may sit in TCP retransmit backoff for tens of seconds
// and still complete: that shows in the figure, not as a failure.
func transferTimeout(n int64) time.Duration {
	return 2*time.Minute + time.Duration(float64(n)*8/10e6*float64(time.Second))
}

func timedUpload(ctx context.Context, cfg tunnelConfig, dial dialFunc, addr string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, transferTimeout(cfg.Bytes))
	defer cancel()
	return upload(ctx, dial, addr, cfg.Bytes)
}

func timedDownload(ctx context.Context, cfg tunnelConfig, dial dialFunc, addr string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, transferTimeout(cfg.Bytes))
	defer cancel()
	return download(ctx, dial, addr, cfg.Bytes)
}

func timedRoundTrips(ctx context.Context, cfg tunnelConfig, dial dialFunc, addr string) (latency, error) {
	// A round trip slower than 10 ms each on average is a broken path.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second+time.Duration(cfg.RTTWarmup+cfg.RTTSamples)*10*time.Millisecond)
	defer cancel()
	return roundTrips(ctx, dial, addr, cfg.RTTWarmup, cfg.RTTSamples)
}

func thisMachine() Machine {
	return Machine{
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, NumCPU: runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), LoadAvg: loadAvg(),
	}
}

// udpRcvbufErrors is the kernel's count of UDP datagrams dropped for a full
// socket receive buffer (Linux, whole machine; 0 elsewhere). Each drop is
// a lost WireGuard packet, which the tunnelled TCP pays for in retransmits.
func udpRcvbufErrors() uint64 {
	data, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if name == "RcvbufErrors" && i < len(f) {
				n, _ := strconv.ParseUint(f[i], 10, 64)
				return n
			}
		}
	}
	return 0
}

// since returns how many drops happened since before, and the count now.
func since(before uint64) (delta, now uint64) {
	now = udpRcvbufErrors()
	if now < before {
		return 0, now
	}
	return now - before, now
}

// loadAvg is the 1, 5 and 15 minute load average on Linux, "" elsewhere.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// byteSize is a flag value: a byte count with an optional KiB, MiB or GiB
// suffix.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return errors.New("want a byte count such as 1048576 or 256MiB")
	}
	*b = byteSize(n * mult)
	return nil
}
