package agent

import (
	"cmp"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/netstack"
	"github.com/warrenhq/warren/protocols/tcp"
)

// ServiceStatus is one service as the running agent serves it.
type ServiceStatus struct {
	Name      string `json:"name"`
	Protocol  string `json:"protocol"`
	Port      uint16 `json:"port"`
	Target    string `json:"target"`
	Listening bool   `json:"listening"`
	Error     string `json:"error,omitempty"`
}

// services listens on the device's service ports and forwards every accepted
// connection to the service's target on the host. Ports that are not
// services have no listener, so the netstack refuses them. Safe for
// concurrent use; close ends everything it started.
type services struct {
	dev  *netstack.Device
	ip   netip.Addr
	dial DialFunc
	log  *slog.Logger

	ctx    context.Context // lifetime: cancelled by close, ends target dials
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loops, flows and retryLoop

	mu sync.Mutex
	// guarded by mu
	byPort map[uint16]*serviceListener
	flows  map[*flow]struct{}
	closed bool
}

// serviceListener is one service port. Its fields are guarded by services.mu.
type serviceListener struct {
	svc wire.Service
	ln  net.Listener // nil until Listen succeeds
	err error        // the last Listen error
}

// flow is one forwarded connection: the overlay side and the host side.
type flow struct {
	overlay, target net.Conn
}

// listenRetry is how often a service port that could not be listened on is
// tried again.
const listenRetry = 2 * time.Second

func newServices(dev *netstack.Device, ip netip.Addr, dial DialFunc, log *slog.Logger) *services {
	ctx, cancel := context.WithCancel(context.Background())
	s := &services{
		dev: dev, ip: ip, dial: dial, log: log,
		ctx: ctx, cancel: cancel,
		byPort: make(map[uint16]*serviceListener),
		flows:  make(map[*flow]struct{}),
	}
	s.wg.Go(s.retryLoop)
	return s
}

// apply makes list the set of served services. A removed service's listener
// is closed; its live flows are left alone. A changed target applies to new
// connections: the listener stays, so the port is never refused in between.
// A service that failed to listen is retried now and every listenRetry.
func (s *services) apply(list []wire.Service) {
	want := make(map[uint16]wire.Service, len(list))
	for _, svc := range list {
		want[svc.Port] = svc
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	for port, l := range s.byPort {
		if _, ok := want[port]; !ok {
			s.stopLocked(port, l)
		}
	}
	for _, svc := range list {
		l, ok := s.byPort[svc.Port]
		if !ok {
			l = &serviceListener{}
			s.byPort[svc.Port] = l
		}
		if ok && l.svc.Target != svc.Target {
			s.log.Info("service target changed", keyService, svc.Name, keyPort, svc.Port, keyTarget, svc.Target)
		}
		l.svc = svc
		if l.ln == nil {
			s.listenLocked(l)
		}
	}
}

func (s *services) stopLocked(port uint16, l *serviceListener) {
	if l.ln != nil {
		l.ln.Close()
		s.log.Info("service stopped", keyService, l.svc.Name, keyPort, port)
	}
	delete(s.byPort, port)
}

// listenLocked opens l's listener. It fails while connections of an earlier
// listener on the port linger (live or in TIME-WAIT); retryLoop tries again.
func (s *services) listenLocked(l *serviceListener) {
	addr := netip.AddrPortFrom(s.ip, l.svc.Port).String()
	ln, err := s.dev.Listen("tcp", addr)
	if err != nil {
		if l.err == nil {
			s.log.Warn("service cannot listen yet", keyService, l.svc.Name, keyPort, l.svc.Port, "err", err)
		}
		l.err = err
		return
	}
	l.ln, l.err = ln, nil
	s.log.Info("service listening", keyService, l.svc.Name, keyPort, l.svc.Port, keyTarget, l.svc.Target)
	s.wg.Go(func() { s.accept(ln, l) })
}

// retryLoop retries failed listeners until close.
func (s *services) retryLoop() {
	t := time.NewTicker(listenRetry)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		for _, l := range s.byPort {
			if l.ln == nil && !s.closed {
				s.listenLocked(l)
			}
		}
		s.mu.Unlock()
	}
}

// accept serves one listener until it is closed.
func (s *services) accept(ln net.Listener, l *serviceListener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed by apply or close
		}
		f := &flow{overlay: c}
		svc, ok := s.track(f, l)
		if !ok {
			c.Close()
			return
		}
		s.wg.Go(func() { s.forward(f, svc) })
	}
}

// track registers a flow so close can end it, and returns the service as
// it is now; false once closed.
func (s *services) track(f *flow, l *serviceListener) (wire.Service, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return wire.Service{}, false
	}
	s.flows[f] = struct{}{}
	return l.svc, true
}

func (s *services) untrack(f *flow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.flows, f)
}

// forward dials the target before reading anything from the client; if the
// target is down the client's connection is closed at once.
func (s *services) forward(f *flow, svc wire.Service) {
	defer s.untrack(f)
	log := s.log.With(keyService, svc.Name, "remote", f.overlay.RemoteAddr())
	t, err := s.dial(s.ctx, "tcp", svc.Target)
	if err != nil {
		f.overlay.Close()
		log.Warn("service target unreachable", keyTarget, svc.Target, "err", err)
		return
	}
	if !s.setTarget(f, t) {
		t.Close()
		f.overlay.Close()
		return
	}
	up, down, err := tcp.Join(f.overlay, t)
	log.Debug("flow ended", "bytes_in", up, "bytes_out", down, "err", err)
}

// setTarget records the flow's host side, unless close already ran (then
// nobody would close it).
func (s *services) setTarget(f *flow, t net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	f.target = t
	return true
}

// close stops every listener, ends every flow and waits for their goroutines.
func (s *services) close() {
	s.mu.Lock()
	s.closed = true
	for port, l := range s.byPort {
		s.stopLocked(port, l)
	}
	for f := range s.flows {
		f.overlay.Close()
		if f.target != nil {
			f.target.Close()
		}
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// status lists the services by port.
func (s *services) status() []ServiceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ServiceStatus, 0, len(s.byPort))
	for _, l := range s.byPort {
		st := ServiceStatus{
			Name: l.svc.Name, Protocol: l.svc.Protocol, Port: l.svc.Port, Target: l.svc.Target,
			Listening: l.ln != nil,
		}
		if l.err != nil {
			st.Error = l.err.Error()
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b ServiceStatus) int { return cmp.Compare(a.Port, b.Port) })
	return out
}
