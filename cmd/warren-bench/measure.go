package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"
)

// dialFunc is the network seam every measured path is reached through: the
// kernel, the stock netstack pair or Warren's overlay.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Operations of the bench protocol. A client sends one op byte and an 8-byte
// big-endian count, then:
//   - opSink: the client sends count bytes; the server reads them all and
//     answers with the 8-byte count it received, so the client times
//     delivered bytes, not bytes sitting in buffers;
//   - opSource: the server sends count bytes;
//   - opEcho: the server echoes whatever arrives until EOF (count unused).
const (
	opSink   byte = 'S'
	opSource byte = 'P'
	opEcho   byte = 'E'
)

const (
	headerLen = 9
	chunkLen  = 64 << 10
)

// benchServer serves the bench protocol on a listener. Close stops it and
// returns once every connection handler has exited.
type benchServer struct {
	ln net.Listener
	wg sync.WaitGroup

	mu sync.Mutex
	// guarded by mu
	conns  map[net.Conn]struct{}
	closed bool
}

func serveBench(ln net.Listener) *benchServer {
	s := &benchServer{ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Go(s.acceptLoop)
	return s
}

// Addr is the address clients dial.
func (s *benchServer) Addr() string { return s.ln.Addr().String() }

func (s *benchServer) acceptLoop() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		if !s.track(c) {
			c.Close()
			return
		}
		s.wg.Go(func() {
			defer s.untrack(c)
			s.handle(c)
		})
	}
}

func (s *benchServer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *benchServer) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// Close is idempotent.
func (s *benchServer) Close() error {
	s.mu.Lock()
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *benchServer) handle(c net.Conn) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	n := int64(binary.BigEndian.Uint64(hdr[1:]))
	switch hdr[0] {
	case opSink:
		got, _ := discard(c, n)
		c.Write(binary.BigEndian.AppendUint64(nil, uint64(got)))
	case opSource:
		push(c, n)
	case opEcho:
		echoLoop(c)
	}
}

// discard reads up to n bytes from r into a reused buffer.
func discard(r io.Reader, n int64) (int64, error) {
	buf := make([]byte, chunkLen)
	var got int64
	for got < n {
		m, err := r.Read(buf[:min(int64(len(buf)), n-got)])
		got += int64(m)
		if err != nil {
			return got, err
		}
	}
	return got, nil
}

// push writes n bytes to w in chunks.
func push(w io.Writer, n int64) error {
	buf := make([]byte, chunkLen)
	for n > 0 {
		m, err := w.Write(buf[:min(int64(len(buf)), n)])
		n -= int64(m)
		if err != nil {
			return err
		}
	}
	return nil
}

func echoLoop(c net.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func header(op byte, n int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{op}, uint64(n))
}

// open dials addr and ties the conn to ctx: it is closed when ctx ends, so
// a stalled path cannot hang the benchmark. The caller closes it too.
func open(ctx context.Context, dial dialFunc, addr string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	return &boundConn{Conn: c, stop: stop}, nil
}

// boundConn is a conn closed when its context ends.
type boundConn struct {
	net.Conn
	stop func() bool
}

func (c *boundConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// upload sends n bytes to a sink at addr and returns the rate at which they
// were delivered, in bits per second.
func upload(ctx context.Context, dial dialFunc, addr string, n int64) (float64, error) {
	c, err := open(ctx, dial, addr)
	if err != nil {
		return 0, fmt.Errorf("dialing %s: %w", addr, err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write(header(opSink, n)); err != nil {
		return 0, fmt.Errorf("sending header: %w", err)
	}
	if err := push(c, n); err != nil {
		return 0, fmt.Errorf("sending: %w", err)
	}
	var ack [8]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		return 0, fmt.Errorf("reading the sink's count: %w", err)
	}
	elapsed := time.Since(start)
	if got := int64(binary.BigEndian.Uint64(ack[:])); got != n {
		return 0, fmt.Errorf("sink received %d bytes, want %d", got, n)
	}
	return bitsPerSecond(n, elapsed), nil
}

// download asks the server at addr for n bytes and returns the rate at which
// they arrived, in bits per second.
func download(ctx context.Context, dial dialFunc, addr string, n int64) (float64, error) {
	c, err := open(ctx, dial, addr)
	if err != nil {
		return 0, fmt.Errorf("dialing %s: %w", addr, err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write(header(opSource, n)); err != nil {
		return 0, fmt.Errorf("sending header: %w", err)
	}
	got, err := discard(c, n)
	if err != nil {
		return 0, fmt.Errorf("received %d of %d bytes: %w", got, n, err)
	}
	return bitsPerSecond(n, time.Since(start)), nil
}

func bitsPerSecond(n int64, d time.Duration) float64 {
	return float64(n) * 8 / max(d.Seconds(), 1e-9)
}

// latency is a round-trip time distribution.
type latency struct {
	P50 time.Duration
	P99 time.Duration
}

// roundTrips sends 1 byte at a time to an echo at addr and waits for it to
// come back: warmup untimed rounds, then samples timed ones.
func roundTrips(ctx context.Context, dial dialFunc, addr string, warmup, samples int) (latency, error) {
	c, err := open(ctx, dial, addr)
	if err != nil {
		return latency{}, fmt.Errorf("dialing %s: %w", addr, err)
	}
	defer c.Close()
	if _, err := c.Write(header(opEcho, 0)); err != nil {
		return latency{}, fmt.Errorf("sending header: %w", err)
	}
	for range warmup {
		if err := pingPong(c); err != nil {
			return latency{}, err
		}
	}
	rtts := make([]time.Duration, samples)
	for i := range rtts {
		start := time.Now()
		if err := pingPong(c); err != nil {
			return latency{}, err
		}
		rtts[i] = time.Since(start)
	}
	return percentiles(rtts), nil
}

func pingPong(c net.Conn) error {
	b := []byte{'x'}
	if _, err := c.Write(b); err != nil {
		return fmt.Errorf("sending ping: %w", err)
	}
	if _, err := io.ReadFull(c, b); err != nil {
		return fmt.Errorf("reading echo: %w", err)
	}
	return nil
}

// percentiles uses the nearest-rank method.
func percentiles(rtts []time.Duration) latency {
	if len(rtts) == 0 {
		return latency{}
	}
	slices.Sort(rtts)
	rank := func(p int) time.Duration { return rtts[(len(rtts)*p+99)/100-1] }
	return latency{P50: rank(50), P99: rank(99)}
}

// waitReady polls addr until an echo round trip succeeds: the path is up
// end to end (handshake done, listener in place), not just dialable.
func waitReady(ctx context.Context, dial dialFunc, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond) // polling interval
	defer tick.Stop()
	var last error
	for {
		if last = probe(ctx, dial, addr); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not reachable after %v: %w", addr, timeout, errors.Join(last, ctx.Err()))
		case <-tick.C:
		}
	}
}

// probe tries one round trip. It gives up well before gVisor's 1 s SYN
// retransmit: a SYN dropped while the path was being configured is cheaper
// to replace with a fresh dial than to wait for.
func probe(ctx context.Context, dial dialFunc, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err := roundTrips(ctx, dial, addr, 1, 0)
	return err
}
