package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"github.com/warrenhq/warren/agent"
	"github.com/warrenhq/warren/controlplane"
	"github.com/warrenhq/warren/controlplane/api"
)

// benchPort is the service port the bench server is published on, on the
// overlay (Warren) and on the stock netstack.
const benchPort = 9000

const benchDevice = "bench"

// warrenPath is a real engine and a real enrolled agent in this process,
// with the agent host's bench server published as a TCP service. The engine
// dials it over the overlay: engine -> WireGuard -> agent -> host target.
type warrenPath struct {
	dir  string
	eng  *controlplane.Engine
	addr string // the service's overlay address, ip:port

	// The agent's context is a child of the engine's, so an early exit of
	// either cancels both; Close stops the agent first.
	stopEngine, stopAgent context.CancelFunc
	engErr, agtErr        chan error // Run's result; nil if Run never started
}

// startWarren starts the engine and the agent and returns once the engine
// can reach target through the agent. Run of either ends when ctx does.
func startWarren(ctx context.Context, target string, log *slog.Logger) (_ *warrenPath, err error) {
	dir, err := os.MkdirTemp("", "warren-bench-*")
	if err != nil {
		return nil, err
	}
	engCtx, stopEngine := context.WithCancel(ctx)
	agtCtx, stopAgent := context.WithCancel(engCtx)
	w := &warrenPath{dir: dir, stopEngine: stopEngine, stopAgent: stopAgent}
	ctx = agtCtx
	defer func() {
		if err != nil {
			err = errors.Join(err, w.Close())
		}
	}()
	if err := w.startEngine(engCtx, log.With("who", "engine")); err != nil {
		return nil, err
	}
	if err := w.startAgent(ctx, log.With("who", "agent")); err != nil {
		return nil, err
	}
	if err := w.publish(ctx, target); err != nil {
		return nil, err
	}
	if err := waitReady(ctx, w.Dial, w.addr, readyTimeout); err != nil {
		return nil, fmt.Errorf("waiting for the agent's service: %w", err)
	}
	return w, nil
}

func (w *warrenPath) startEngine(ctx context.Context, log *slog.Logger) error {
	eng, err := controlplane.New(ctx, controlplane.Config{
		DataDir:  filepath.Join(w.dir, "engine"),
		Listen:   "127.0.0.1:0",
		WGListen: "127.0.0.1:0",
		Logger:   log,
	})
	if err != nil {
		return fmt.Errorf("starting engine: %w", err)
	}
	w.eng = eng
	w.engErr = w.run(ctx, eng.Run)
	return nil
}

// run starts fn and cancels the whole path if it returns early, so a
// failing engine or agent ends the wait for readiness at once.
func (w *warrenPath) run(ctx context.Context, fn func(context.Context) error) chan error {
	done := make(chan error, 1)
	go func() {
		err := fn(ctx)
		w.stopEngine()
		done <- err
	}()
	return done
}

func (w *warrenPath) startAgent(ctx context.Context, log *slog.Logger) error {
	tok, err := w.admin().CreateToken(ctx, "")
	if err != nil {
		return fmt.Errorf("creating enrollment token: %w", err)
	}
	stateDir := filepath.Join(w.dir, "agent")
	_, err = agent.Enroll(ctx, agent.EnrollConfig{
		Server: "http://" + w.eng.Addr().String(), Token: tok.Token,
		StateDir: stateDir, Name: benchDevice, Version: "bench",
	})
	if err != nil {
		return fmt.Errorf("enrolling agent: %w", err)
	}
	a, err := agent.New(agent.Config{
		StateDir:   stateDir,
		Logger:     log,
		Version:    "bench",
		ListenAddr: netip.MustParseAddrPort("127.0.0.1:0"),
	})
	if err != nil {
		return fmt.Errorf("starting agent: %w", err)
	}
	w.agtErr = w.run(ctx, a.Run)
	return nil
}

// publish adds target as the device's TCP service and learns its overlay
// address.
func (w *warrenPath) publish(ctx context.Context, target string) error {
	svc := api.Service{Name: "sink", Protocol: "tcp", Port: benchPort, Target: target}
	if _, err := w.admin().AddService(ctx, benchDevice, svc); err != nil {
		return fmt.Errorf("adding service: %w", err)
	}
	devices, err := w.admin().ListDevices(ctx)
	if err != nil {
		return fmt.Errorf("listing devices: %w", err)
	}
	for _, d := range devices {
		if d.Name == benchDevice {
			w.addr = net.JoinHostPort(d.OverlayIP, strconv.Itoa(benchPort))
			return nil
		}
	}
	return fmt.Errorf("device %q is not listed after enrolling", benchDevice)
}

func (w *warrenPath) admin() *api.Client { return api.NewClient(w.eng.DataDir()) }

// Addr is the service's overlay address.
func (w *warrenPath) Addr() string { return w.addr }

// Dial dials from the engine's overlay device. It has the shape of a dialFunc.
func (w *warrenPath) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return w.eng.Overlay().Device().DialContext(ctx, network, addr)
}

// Close stops the agent, then the engine, waits for both Runs to return and
// removes the temporary directory. Safe on a partly started path.
func (w *warrenPath) Close() error {
	var errs []error
	w.stopAgent()
	if w.agtErr != nil {
		errs = append(errs, <-w.agtErr)
	}
	w.stopEngine()
	if w.engErr != nil {
		errs = append(errs, <-w.engErr)
	}
	errs = append(errs, os.RemoveAll(w.dir))
	return errors.Join(errs...)
}
