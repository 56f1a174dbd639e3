package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/warrenhq/warren/agent"
	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/api/attach"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/protocols/stream"
)

const benchOrg = "bench"

// sessionPath is what a browser's terminal goes through: an engine in this
// process with an organization, a member and her API token, and a real
// agent in a child process (agentproc.go) whose device has an SSH service
// to the bench's sshd and a stored key for it.
type sessionPath struct {
	*warrenPath // the engine (its agent fields stay unused)
	agent       *agentProc
	client      *api.V1Client
	org         string
}

// startSessionPath starts and provisions the path. Close stops it.
func startSessionPath(ctx context.Context, sshd *benchSSHD, cfg sessionConfig, log *slog.Logger) (_ *sessionPath, err error) {
	dir, err := os.MkdirTemp("", "warren-bench-*")
	if err != nil {
		return nil, err
	}
	engCtx, stopEngine := context.WithCancel(ctx)
	p := &sessionPath{warrenPath: &warrenPath{dir: dir, stopEngine: stopEngine, stopAgent: func() {}}}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.Close())
		}
	}()
	if err := p.startEngine(engCtx, log.With("who", "engine")); err != nil {
		return nil, err
	}
	folder, err := p.provision(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := p.startAgent(ctx, folder, cfg.Verbose); err != nil {
		return nil, err
	}
	if _, err := p.admin().AddService(ctx, benchDevice, api.Service{Name: "ssh", Protocol: "ssh", Port: 22, Target: sshd.Addr}); err != nil {
		return nil, fmt.Errorf("adding the ssh service: %w", err)
	}
	_, err = p.client.CreateCredential(ctx, p.org, api.NewCredential{ScopeType: "folder", ScopeID: folder,
		Name: "bench", Username: sshd.User, Kind: "private_key", Secret: string(sshd.KeyPEM)})
	if err != nil {
		return nil, fmt.Errorf("storing the ssh key: %w", err)
	}
	return p, nil
}

// provision makes the organization and its admin, as a first sign-in would,
// and the folder the device enrolls into; it returns the folder's id.
func (p *sessionPath) provision(ctx context.Context, cfg sessionConfig) (string, error) {
	st := p.eng.Store()
	org, err := st.CreateOrg(ctx, store.Org{Name: "Bench", Slug: benchOrg})
	if err != nil {
		return "", fmt.Errorf("creating the organization: %w", err)
	}
	u, _, err := st.UpsertUserIdentity(ctx, "https://bench.invalid", "bench", "bench@bench.invalid", "Bench")
	if err != nil {
		return "", err
	}
	if _, err := st.AddMember(ctx, store.Membership{OrgID: org.ID, UserID: u.ID, Role: store.RoleAdmin}); err != nil {
		return "", err
	}
	if _, err := p.admin().SyncOpenFGA(ctx); err != nil {
		return "", fmt.Errorf("syncing openfga: %w", err)
	}
	tok, err := p.admin().CreateUserToken(ctx, api.UserTokenRequest{Org: benchOrg, User: u.Email, TTL: "1h", Name: "bench"})
	if err != nil {
		return "", fmt.Errorf("minting an API token: %w", err)
	}
	p.client, p.org = api.NewV1Client("http://"+p.eng.Addr().String(), tok.Token), org.ID
	// Room for the idle sessions, the keystroke session and one more.
	limit := min(cfg.IdleSessions+2, store.MaxSessionsLimit)
	req := api.UpdateSessionSettingsRequest{MaxUserSessions: &limit, MaxDeviceSessions: &limit}
	if cfg.BufferSize > 0 {
		req.BufferSize = &cfg.BufferSize
	}
	if _, err := p.client.UpdateSessionSettings(ctx, p.org, req); err != nil {
		return "", fmt.Errorf("raising the session limits: %w", err)
	}
	f, err := p.client.CreateFolder(ctx, p.org, api.CreateFolderRequest{Name: "bench"})
	if err != nil {
		return "", fmt.Errorf("creating a folder: %w", err)
	}
	return f.ID, nil
}

// startAgent enrolls the agent into folder and starts its process.
func (p *sessionPath) startAgent(ctx context.Context, folder string, verbose bool) error {
	et, err := p.client.CreateEnrollmentToken(ctx, p.org, api.CreateEnrollmentTokenRequest{FolderID: folder})
	if err != nil {
		return fmt.Errorf("creating an enrollment token: %w", err)
	}
	stateDir := filepath.Join(p.dir, "agent")
	if _, err := agent.Enroll(ctx, agent.EnrollConfig{Server: p.client.Server, Token: et.Token, StateDir: stateDir,
		Name: benchDevice, Version: "bench"}); err != nil {
		return fmt.Errorf("enrolling the agent: %w", err)
	}
	if p.agent, err = startAgentProc(stateDir, verbose); err != nil {
		return err
	}
	return p.waitOnline(ctx)
}

func (p *sessionPath) waitOnline(ctx context.Context) error {
	return poll(ctx, "the agent online", func() (bool, error) {
		ds, err := p.admin().ListDevices(ctx)
		return err == nil && len(ds) == 1 && ds[0].Online, nil
	})
}

// open opens a session to the bench device's SSH service, retrying while
// the agent has not yet received the service in its netmap.
func (p *sessionPath) open(ctx context.Context) (api.OpenedSession, error) {
	var o api.OpenedSession
	var last error
	err := poll(ctx, "a session opened", func() (bool, error) {
		o, last = p.client.OpenSession(ctx, p.org, api.OpenSessionRequest{Device: benchDevice, Service: "ssh"})
		var apiErr *api.Error
		if errors.As(last, &apiErr) && apiErr.Code == "session_limit" {
			return false, last
		}
		return last == nil, nil
	})
	return o, errors.Join(err, last)
}

// keystrokes measures keystroke round trips through a browser's path: a
// stream.Viewer attached with a ticket over the engine's WebSocket.
func (p *sessionPath) keystrokes(ctx context.Context, warmup, samples int) (_ latency, err error) {
	o, err := p.open(ctx)
	if err != nil {
		return latency{}, err
	}
	defer func() {
		err = errors.Join(err, p.client.TerminateSession(context.WithoutCancel(ctx), p.org, o.Session.ID))
	}()
	d := &attach.Dialer{Client: p.client, Org: p.org, Session: o.Session.ID}
	d.UseTicket(o.Ticket)
	out := make(chan []byte, 1024)
	vctx, stop := context.WithCancel(ctx)
	v := stream.NewViewer(stream.ViewerConfig{
		Dial: func(ctx context.Context, offset uint64, resume bool) (stream.Conn, error) {
			return d.Dial(ctx, offset, resume, false)
		},
		OnOutput: func(b []byte) {
			select {
			case out <- append([]byte(nil), b...):
			case <-vctx.Done():
			}
		},
		OnSnapshot: func(b []byte) {},
	})
	done := make(chan error, 1)
	go func() { done <- v.Run(vctx) }()
	defer func() {
		stop()
		<-done
	}()
	send := func(b []byte) error { return v.Send(stream.Input{Data: b}) }
	return keystrokes(ctx, ttyPipe{send: send, out: out}, warmup, samples)
}

// memory opens n idle sessions (each a shell, nobody attached) and
// returns each side's memory before and after.
func (p *sessionPath) memory(ctx context.Context, n int) (engine, agent [2]memSample, err error) {
	engine[0] = readMem()
	if agent[0], err = p.agent.Mem(); err != nil {
		return engine, agent, err
	}
	ids := make([]string, 0, n)
	defer func() {
		for _, id := range ids {
			err = errors.Join(err, p.client.TerminateSession(context.WithoutCancel(ctx), p.org, id))
		}
	}()
	for range n {
		o, err := p.open(ctx)
		if err != nil {
			return engine, agent, fmt.Errorf("opening idle session %d: %w", len(ids)+1, err)
		}
		ids = append(ids, o.Session.ID)
	}
	// Every session is live on the agent (OpenSession returns once the
	// shell is started; the agent's reports make the engine's view).
	err = poll(ctx, "every idle session listed as running", func() (bool, error) {
		ss, err := p.client.ListSessions(ctx, p.org, "mine", "live")
		if err != nil {
			return false, err
		}
		running := 0
		for _, s := range ss {
			if s.State == "running" {
				running++
			}
		}
		return running >= n, nil
	})
	if err != nil {
		return engine, agent, err
	}
	engine[1] = readMem()
	agent[1], err = p.agent.Mem()
	return engine, agent, err
}

// Close stops the agent process, then the engine.
func (p *sessionPath) Close() error {
	var errs []error
	if p.agent != nil {
		errs = append(errs, p.agent.Close())
	}
	return errors.Join(append(errs, p.warrenPath.Close())...)
}

// poll calls cond every 50 ms until it holds, fails, or readyTimeout passes.
func poll(ctx context.Context, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		ok, err := cond()
		switch {
		case err != nil:
			return fmt.Errorf("waiting for %s: %w", what, err)
		case ok:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond): // polling interval
		}
	}
}
