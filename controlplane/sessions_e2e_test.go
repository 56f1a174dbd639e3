package controlplane_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/broker"
	"github.com/warrenhq/warren/controlplane/controlplanetest"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/protocols/stream"
)

// sessEnv is an engine, a real agent on device "dev1" in org acme's folder
// prod, a real sshd behind the device's service "ssh" (port 22 on the
// overlay), its key stored as the service's credential, an org admin and a
// member (connect on the folder), each with an API client.
type sessEnv struct {
	e       *controlplanetest.Engine
	sshd    *controlplanetest.SSHD
	agent   *controlplanetest.Agent
	org     store.Org
	folder  store.Folder
	admin   store.User
	member  store.User
	adminC  *api.V1Client
	memberC *api.V1Client
	device  string // the device's ID
}

func newSessEnv(t *testing.T, record bool) *sessEnv {
	t.Helper()
	sshd := controlplanetest.StartSSHD(t)
	ctx := context.Background()
	e := controlplanetest.NewEngine(t, controlplanetest.Options{})
	s := &sessEnv{e: e, sshd: sshd}
	s.org, s.folder = newOrg(t, e)
	s.admin = newMember(t, e, s.org, "alice", store.RoleAdmin)
	s.member = newMember(t, e, s.org, "bob", store.RoleMember)
	s.adminC, s.memberC = s.client(t, s.admin), s.client(t, s.member)
	tok, err := s.adminC.CreateEnrollmentToken(ctx, s.org.ID, api.CreateEnrollmentTokenRequest{FolderID: s.folder.ID})
	if err != nil {
		t.Fatal(err)
	}
	s.agent = e.EnrollAgent("dev1", tok.Token)
	s.device = e.Device("dev1").ID
	call := restCaller(t, e, s.adminC.Token)
	if st := call("POST", "/api/v1/orgs/"+s.org.ID+"/devices/dev1/services", api.CreateServiceRequest{Name: "ssh",
		Protocol: "ssh", Port: 22, Target: sshd.Addr, Record: record}, nil); st != http.StatusCreated {
		t.Fatalf("creating the ssh service: %d", st)
	}
	svcs, err := e.Store().ListServices(ctx, s.device)
	if err != nil || len(svcs) != 1 || svcs[0].Record != record {
		t.Fatalf("services = %+v, %v", svcs, err)
	}
	if _, err := s.adminC.CreateCredential(ctx, s.org.ID, api.NewCredential{ScopeType: "folder", ScopeID: s.folder.ID,
		Name: "root-key", Username: sshd.User, Kind: "private_key", Secret: string(sshd.KeyPEM)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.adminC.CreateGrant(ctx, s.org.ID, api.CreateGrantRequest{SubjectType: "user", SubjectID: s.member.ID,
		Relation: "connect", ObjectType: "folder", ObjectID: s.folder.ID}); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *sessEnv) client(t *testing.T, u store.User) *api.V1Client {
	t.Helper()
	secret, _, err := s.e.Authn().CreateAPIToken(context.Background(), s.org.ID, u.ID, "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return api.NewV1Client(s.e.URL, secret)
}

// open opens a session on dev1/ssh as c.
func (s *sessEnv) open(t *testing.T, c *api.V1Client) api.OpenedSession {
	t.Helper()
	o, err := c.OpenSession(context.Background(), s.org.ID, api.OpenSessionRequest{Device: "dev1", Service: "ssh", Cols: 100, Rows: 30})
	if err != nil {
		t.Fatalf("OpenSession() = %v", err)
	}
	return o
}

// term is a raw attach stream and everything it received.
type term struct {
	t    *testing.T
	c    stream.Conn
	out  bytes.Buffer // output and snapshots, in order
	ctl  []stream.Control
	end  uint64 // offset held
	have bool
}

// attach attaches with ticket tk (resume at offset when resume).
func attach(t *testing.T, c *api.V1Client, tk api.Ticket, offset uint64, resume, takeover bool) *term {
	t.Helper()
	u, err := c.AttachURL(tk, offset, resume, takeover)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatalf("attaching: %v", err)
	}
	tm := &term{t: t, c: stream.WebSocketConn(ws), end: offset, have: resume}
	t.Cleanup(func() { tm.c.Close() })
	return tm
}

// until reads frames until cond holds (or fails the test after 60 s).
func (tm *term) until(what string, cond func(tm *term) bool) {
	tm.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for !cond(tm) {
		f, err := tm.c.ReadFrame(ctx)
		if err != nil {
			tm.t.Fatalf("waiting for %s: %v; output so far %q; controls %+v", what, err, tail(tm.out.String()), tm.ctl)
		}
		switch f := f.(type) {
		case stream.Output:
			if tm.have && f.Offset > tm.end {
				tm.t.Fatalf("output at %d, held %d: a hole", f.Offset, tm.end)
			}
			skip := uint64(0)
			if tm.have && f.Offset < tm.end {
				skip = min(tm.end-f.Offset, uint64(len(f.Data)))
			}
			tm.out.Write(f.Data[skip:])
			tm.end, tm.have = max(tm.end, f.Offset+uint64(len(f.Data))), true
		case stream.Snapshot:
			tm.out.Write(f.Data)
			if f.Final {
				tm.end, tm.have = f.Offset, true
			}
		case stream.Control:
			tm.ctl = append(tm.ctl, f)
		case stream.Ping:
			tm.c.WriteFrame(ctx, stream.Pong{Nonce: f.Nonce})
		}
	}
}

func tail(s string) string {
	if len(s) > 400 {
		return "..." + s[len(s)-400:]
	}
	return s
}

func (tm *term) waitOutput(re string) []string {
	tm.t.Helper()
	rx := regexp.MustCompile(re)
	var m []string
	tm.until("output matching "+re, func(tm *term) bool {
		m = rx.FindStringSubmatch(tm.out.String())
		return m != nil
	})
	return m
}

func (tm *term) waitControl(what string, match func(stream.Control) bool) stream.Control {
	tm.t.Helper()
	var got stream.Control
	tm.until(what, func(tm *term) bool {
		i := slices.IndexFunc(tm.ctl, match)
		if i >= 0 {
			got = tm.ctl[i]
			tm.ctl = slices.Delete(tm.ctl, 0, i+1)
		}
		return i >= 0
	})
	return got
}

func (tm *term) send(f stream.Frame) {
	tm.t.Helper()
	if err := tm.c.WriteFrame(context.Background(), f); err != nil {
		tm.t.Fatalf("sending %T: %v", f, err)
	}
}

func (tm *term) typeLine(line string) { tm.send(stream.Input{Data: []byte(line + "\r")}) }

func isErr(code string) func(stream.Control) bool {
	return func(c stream.Control) bool { return c.Type == stream.ControlError && c.Code == code }
}

func isStateCtl(state string) func(stream.Control) bool {
	return func(c stream.Control) bool { return c.Type == stream.ControlState && c.State == state }
}

// TestSessionOpenAttachEcho is the real path: open through the REST API,
// attach with the ticket, type into the shell of a real sshd and read the
// echo; detach and resume by offset: the same shell; terminate. Every step
// is audited; the host key was trusted on first use.
func TestSessionOpenAttachEcho(t *testing.T) {
	s := newSessEnv(t, false)
	ctx := context.Background()
	o := s.open(t, s.adminC)
	if o.Session.State != "running" || o.Session.DeviceName != "dev1" || !o.Session.CanDrive || o.Ticket.Role != "driver" {
		t.Errorf("opened = %+v", o)
	}
	// The device page's facts: online, with the agent's WireGuard endpoint.
	var dev api.OrgDevice
	if st := restCaller(t, s.e, s.adminC.Token)("GET", "/api/v1/orgs/"+s.org.ID+"/devices/"+s.device, nil, &dev); st != http.StatusOK ||
		!dev.Online || dev.Endpoint == "" || dev.LastHandshake == nil {
		t.Errorf("GET device = %d %+v; want online with an endpoint and a handshake", st, dev)
	}
	tm := attach(t, s.adminC, o.Ticket, 0, false, false)
	tm.waitControl("attached as driver", func(c stream.Control) bool { return c.State == stream.StateAttached && c.Role == stream.RoleDriver })
	tm.typeLine("echo hel''lo-$((6*7)) pid=$$")
	pid := tm.waitOutput(`hello-42 pid=(\d+)`)[1]

	// The ticket was single use.
	if u, _ := s.adminC.AttachURL(o.Ticket, 0, false, false); u != "" {
		if _, resp, err := websocket.Dial(ctx, u, nil); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("reusing the ticket: %v, %v; want 403", err, resp)
		}
	}
	// The viewers come from the agent's reports, which trail the attach.
	controlplanetest.WaitFor(t, 20*time.Second, "the session listing one driver", func() bool {
		got, err := s.adminC.GetSession(ctx, s.org.ID, o.Session.ID)
		return err == nil && len(got.Viewers) == 1 && got.Viewers[0].Role == "driver"
	})

	// Detach, resume by offset from "another device": the same shell.
	held := tm.end
	tm.c.Close()
	tk, err := s.adminC.NewTicket(ctx, s.org.ID, o.Session.ID, "driver")
	if err != nil {
		t.Fatal(err)
	}
	tm2 := attach(t, s.adminC, tk, held, true, false)
	tm2.waitControl("attached again", isStateCtl(stream.StateAttached))
	tm2.typeLine("echo again pid=$$")
	if p := tm2.waitOutput(`again pid=(\d+)`)[1]; p != pid {
		t.Errorf("pid after re-attach = %s, want %s", p, pid)
	}

	k, err := s.adminC.GetHostKey(ctx, s.org.ID, "dev1", "ssh")
	if err != nil || k.Fingerprint != s.sshd.HostKeyFingerprint {
		t.Errorf("host key = %+v, %v; want %s trusted on first use", k, err, s.sshd.HostKeyFingerprint)
	}
	list, err := s.adminC.ListSessions(ctx, s.org.ID, "", "")
	if err != nil || len(list) != 1 || list[0].ID != o.Session.ID {
		t.Errorf("ListSessions() = %+v, %v", list, err)
	}
	if err := s.adminC.TerminateSession(ctx, s.org.ID, o.Session.ID); err != nil {
		t.Fatal(err)
	}
	c := tm2.waitControl("ended", isStateCtl(stream.StateEnded))
	if c.Reason != "terminated" {
		t.Errorf("ended reason = %q, want terminated", c.Reason)
	}
	controlplanetest.WaitFor(t, 20*time.Second, "the agent no longer runs the session", func() bool {
		got, err := s.adminC.GetSession(ctx, s.org.ID, o.Session.ID)
		return err == nil && got.State == "ended" && got.EndReason == "terminated"
	})
	events, _, err := s.e.Store().ListAudit(ctx, store.AuditFilter{OrgID: s.org.ID, ObjectID: o.Session.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"session.open", "session.attach", "session.terminate", "session.end"} {
		if !slices.ContainsFunc(events, func(ev store.AuditEvent) bool { return ev.Action == action && ev.Result == store.AuditAllowed }) {
			t.Errorf("no allowed %s audit event", action)
		}
	}
}

// TestSessionRolesAndSharing: an observer sees the output but its input,
// resize and takeover are refused by the engine; sharing needs the owner;
// a second driver ticket takes over and the first driver is told.
func TestSessionRolesAndSharing(t *testing.T) {
	s := newSessEnv(t, false)
	ctx := context.Background()
	o := s.open(t, s.adminC)
	drv := attach(t, s.adminC, o.Ticket, 0, false, false)
	drv.waitControl("driver", func(c stream.Control) bool { return c.Role == stream.RoleDriver })

	// Not shared yet: the member (who may connect to the device) sees it but gets no ticket.
	if _, err := s.memberC.NewTicket(ctx, s.org.ID, o.Session.ID, "observer"); !isAPI(err, http.StatusForbidden) {
		t.Errorf("observer ticket before sharing = %v, want 403", err)
	}
	if _, err := s.memberC.ShareSession(ctx, s.org.ID, o.Session.ID, s.member.ID, ""); !isAPI(err, http.StatusForbidden) {
		t.Errorf("member shares the admin's session = %v, want 403", err)
	}
	if _, err := s.adminC.ShareSession(ctx, s.org.ID, o.Session.ID, s.member.ID, ""); err != nil {
		t.Fatal(err)
	}
	tk, err := s.memberC.NewTicket(ctx, s.org.ID, o.Session.ID, "observer")
	if err != nil {
		t.Fatal(err)
	}
	obs := attach(t, s.memberC, tk, 0, false, false)
	obs.waitControl("observer", func(c stream.Control) bool { return c.Role == stream.RoleObserver })
	drv.typeLine("echo shared-$((40+2))")
	obs.waitOutput(`shared-42`)
	for _, f := range []stream.Frame{stream.Input{Data: []byte("echo evil\r")}, stream.Resize{Cols: 20, Rows: 5},
		stream.Control{Type: stream.ControlTakeover}} {
		obs.send(f)
		obs.waitControl("not_driver", isErr(stream.CodeNotDriver))
	}
	drv.typeLine("echo after-$((1+1))")
	drv.waitOutput(`after-2`)
	if strings.Contains(drv.out.String(), "evil") {
		t.Errorf("the observer's input reached the shell: %q", tail(drv.out.String()))
	}

	// Take-over by a second driver attachment of the owner.
	tk2, err := s.adminC.NewTicket(ctx, s.org.ID, o.Session.ID, "driver")
	if err != nil {
		t.Fatal(err)
	}
	drv2 := attach(t, s.adminC, tk2, 0, false, true)
	drv2.waitControl("driver after takeover", func(c stream.Control) bool { return c.Role == stream.RoleDriver })
	drv.waitControl("told it was taken over", func(c stream.Control) bool { return c.Type == stream.ControlState && c.Role == stream.RoleObserver })
	drv.typeLine("echo old-driver")
	drv.waitControl("old driver refused", isErr(stream.CodeNotDriver))
	events, _, _ := s.e.Store().ListAudit(ctx, store.AuditFilter{OrgID: s.org.ID, Action: "session.takeover"})
	if len(events) == 0 {
		t.Errorf("no session.takeover audit event")
	}

	// Unsharing cuts the observer.
	if err := s.adminC.UnshareSession(ctx, s.org.ID, o.Session.ID, s.member.ID); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if _, err := obs.c.ReadFrame(ctx2); err != nil {
			if ctx2.Err() != nil {
				t.Fatalf("the observer was not cut after unsharing")
			}
			break
		}
	}
}

func isAPI(err error, status int) bool {
	var e *api.Error
	return errors.As(err, &e) && e.Status == status
}

func apiCode(err error) string {
	var e *api.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// TestSessionLimitsAndErrors: the per-user limit gives 429 session_limit
// naming the limit; a non-ssh service is a clear 400; a service without a
// credential 400 no_credential; a user without connect 403; another org's
// admin 404 on everything.
func TestSessionLimitsAndErrors(t *testing.T) {
	s := newSessEnv(t, false)
	ctx := context.Background()
	max := 1
	if _, err := s.adminC.UpdateSessionSettings(ctx, s.org.ID, api.UpdateSessionSettingsRequest{MaxUserSessions: &max}); err != nil {
		t.Fatal(err)
	}
	o := s.open(t, s.memberC)
	_, err := s.memberC.OpenSession(ctx, s.org.ID, api.OpenSessionRequest{Device: "dev1", Service: "ssh"})
	if !isAPI(err, http.StatusTooManyRequests) || apiCode(err) != "session_limit" || !strings.Contains(err.Error(), "max_user_sessions") {
		t.Errorf("second session over the limit = %v, want 429 session_limit naming max_user_sessions", err)
	}
	// Another user is not limited by the member's sessions.
	s.open(t, s.adminC)
	if err := s.memberC.TerminateSession(ctx, s.org.ID, o.Session.ID); err != nil {
		t.Fatal(err)
	}
	s.open(t, s.memberC) // the ended one no longer counts

	call := restCaller(t, s.e, s.adminC.Token)
	call("POST", "/api/v1/orgs/"+s.org.ID+"/devices/dev1/services", api.CreateServiceRequest{Name: "web", Protocol: "http", Port: 8080}, nil)
	_, err = s.adminC.OpenSession(ctx, s.org.ID, api.OpenSessionRequest{Device: "dev1", Service: "web"})
	if !isAPI(err, http.StatusBadRequest) || apiCode(err) != "unsupported_protocol" {
		t.Errorf("open on an http service = %v, want 400 unsupported_protocol", err)
	}
	other := newMember(t, s.e, s.org, "carol", store.RoleMember)
	carol := s.client(t, other)
	if _, err := carol.OpenSession(ctx, s.org.ID, api.OpenSessionRequest{Device: "dev1", Service: "ssh"}); !isAPI(err, http.StatusNotFound) {
		t.Errorf("open without any grant = %v, want 404", err)
	}
	if _, err := carol.GetSession(ctx, s.org.ID, o.Session.ID); !isAPI(err, http.StatusNotFound) {
		t.Errorf("get without any grant = %v, want 404", err)
	}

	// Another organization's admin.
	org2, err := s.e.Store().CreateOrg(ctx, store.Org{Name: "Other", Slug: "other"})
	if err != nil {
		t.Fatal(err)
	}
	eve, _, err := s.e.Store().UpsertUserIdentity(ctx, "https://idp.test", "eve", "eve@other.test", "eve")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.e.Authz().AddMember(ctx, store.Membership{OrgID: org2.ID, UserID: eve.ID, Role: store.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	secret, _, err := s.e.Authn().CreateAPIToken(ctx, org2.ID, eve.ID, "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	eveC := api.NewV1Client(s.e.URL, secret)
	for name, err := range map[string]error{
		"get own org path":   func() error { _, err := eveC.GetSession(ctx, org2.ID, o.Session.ID); return err }(),
		"get other org path": func() error { _, err := eveC.GetSession(ctx, s.org.ID, o.Session.ID); return err }(),
		"ticket":             func() error { _, err := eveC.NewTicket(ctx, org2.ID, o.Session.ID, "observer"); return err }(),
		"terminate":          eveC.TerminateSession(ctx, org2.ID, o.Session.ID),
		"open": func() error {
			_, err := eveC.OpenSession(ctx, org2.ID, api.OpenSessionRequest{Device: s.device, Service: "ssh"})
			return err
		}(),
	} {
		if !isAPI(err, http.StatusNotFound) {
			t.Errorf("other org's admin, %s = %v, want 404", name, err)
		}
	}
}

// TestHostKeyChange: the first open trusts the server's key; after the
// server's key changes, opens are refused with 409 host_key_changed naming
// both fingerprints, until an admin accepts the new (pending) key.
func TestHostKeyChange(t *testing.T) {
	s := newSessEnv(t, false)
	ctx := context.Background()
	o := s.open(t, s.adminC)
	if err := s.adminC.TerminateSession(ctx, s.org.ID, o.Session.ID); err != nil {
		t.Fatal(err)
	}
	old := s.sshd.HostKeyFingerprint
	s.sshd.Stop()
	// A new server on the same address, with a new host key (and the same
	// client key, so that the stored credential still logs in).
	s2 := controlplanetest.StartSSHDWith(t, controlplanetest.SSHDOptions{Port: s.sshd.Port, ClientKeyPEM: s.sshd.KeyPEM})
	if s2.HostKeyFingerprint == old {
		t.Fatal("the new server has the old key")
	}
	_, err := s.adminC.OpenSession(ctx, s.org.ID, api.OpenSessionRequest{Device: "dev1", Service: "ssh"})
	if !isAPI(err, http.StatusConflict) || apiCode(err) != "host_key_changed" ||
		!strings.Contains(err.Error(), old) || !strings.Contains(err.Error(), s2.HostKeyFingerprint) {
		t.Fatalf("open after the key changed = %v, want 409 host_key_changed naming %s and %s", err, old, s2.HostKeyFingerprint)
	}
	k, err := s.adminC.GetHostKey(ctx, s.org.ID, "dev1", "ssh")
	if err != nil || k.Fingerprint != old || k.Pending != s2.HostKeyFingerprint {
		t.Fatalf("host key = %+v, %v; want %s trusted and %s pending", k, err, old, s2.HostKeyFingerprint)
	}
	if _, err := s.memberC.AcceptHostKey(ctx, s.org.ID, "dev1", "ssh", s2.HostKeyFingerprint); !isAPI(err, http.StatusForbidden) {
		t.Errorf("member accepts = %v, want 403", err)
	}
	if _, err := s.adminC.AcceptHostKey(ctx, s.org.ID, "dev1", "ssh", s2.HostKeyFingerprint); err != nil {
		t.Fatal(err)
	}
	o = s.open(t, s.adminC)
	tm := attach(t, s.adminC, o.Ticket, 0, false, false)
	tm.waitControl("driver", func(c stream.Control) bool { return c.Role == stream.RoleDriver })
	tm.typeLine("echo new-$((2*21))")
	tm.waitOutput(`new-42`)
	if k, err := s.adminC.GetHostKey(ctx, s.org.ID, "dev1", "ssh"); err != nil || k.Fingerprint != s2.HostKeyFingerprint || k.AcceptedBy != s.admin.ID {
		t.Errorf("host key after accepting = %+v, %v", k, err)
	}
}

// castLines returns the text of a recording's "o" events and its markers.
func castLines(t *testing.T, data []byte) (string, []string) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<24)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), `{"version":2`) {
		t.Fatalf("recording without a v2 header: %q", tail(string(data)))
	}
	var out strings.Builder
	var marks []string
	for sc.Scan() {
		var ev []any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || len(ev) != 3 {
			t.Fatalf("bad event %q: %v", sc.Text(), err)
		}
		s, _ := ev[2].(string)
		if ev[1] == "m" {
			marks = append(marks, s)
		} else {
			out.WriteString(s)
		}
	}
	return out.String(), marks
}

// TestRecordingAcrossEngineCrash: a recorded session streams output while
// the engine dies with its recorder behind (the recording's file holds
// bytes past its last durable point, as after kill -9 between two
// flushes); after the restart the recorder resumes at the durable point:
// the downloaded recording holds every line once, in order, no marker.
func TestRecordingAcrossEngineCrash(t *testing.T) {
	s := newSessEnv(t, true)
	ctx := context.Background()
	o := s.open(t, s.adminC)
	if !o.Session.Recorded {
		t.Fatalf("session not recorded: %+v", o.Session)
	}
	path := broker.RecordingPath(s.e.DataDir, s.org.ID, o.Session.ID)
	pos := strings.TrimSuffix(path, ".cast") + ".pos"
	tm := attach(t, s.adminC, o.Ticket, 0, false, false)
	tm.waitControl("driver", func(c stream.Control) bool { return c.Role == stream.RoleDriver })
	const n = 400
	tm.typeLine("for i in $(seq 1 400); do echo rec-line-$i; sleep 0.01; done; echo rec-done")
	tm.waitOutput(`rec-line-100\r\n`)
	tm.c.Close()

	// A durable point in the middle, then more output written after it.
	var early []byte
	controlplanetest.WaitFor(t, 20*time.Second, "a durable point", func() bool {
		early, _ = os.ReadFile(pos)
		return len(early) > 0
	})
	var durable struct{ Length int64 }
	if err := json.Unmarshal(early, &durable); err != nil || durable.Length <= 0 {
		t.Fatalf("position file %q: %v", early, err)
	}
	controlplanetest.WaitFor(t, 20*time.Second, "the recording past that point", func() bool {
		fi, err := os.Stat(path)
		return err == nil && fi.Size() > durable.Length
	})
	s.e.Stop()
	// The crash: the last durable point is the early one; the file holds more.
	if err := os.WriteFile(pos, early, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`[1.0, "o", "torn write`)
	f.Close()
	s.e.Start()
	s.e.WaitOnline("dev1")

	controlplanetest.WaitFor(t, 60*time.Second, "the loop done", func() bool {
		got, err := s.adminC.GetSession(ctx, s.org.ID, o.Session.ID)
		return err == nil && got.State == "running" && got.Offset > 0 && recordingHas(s, o.Session.ID, "rec-done")
	})
	tk, err := s.adminC.NewTicket(ctx, s.org.ID, o.Session.ID, "driver")
	if err != nil {
		t.Fatal(err)
	}
	tm2 := attach(t, s.adminC, tk, 0, false, false)
	tm2.waitControl("driver", func(c stream.Control) bool { return c.Role == stream.RoleDriver })
	tm2.typeLine("exit")
	tm2.waitControl("ended", isStateCtl(stream.StateEnded))
	controlplanetest.WaitFor(t, 30*time.Second, "the recording complete", func() bool {
		_, err := os.Stat(pos)
		return os.IsNotExist(err)
	})
	var buf bytes.Buffer
	if _, err := s.adminC.DownloadRecording(ctx, s.org.ID, o.Session.ID, &buf); err != nil {
		t.Fatal(err)
	}
	text, marks := castLines(t, buf.Bytes())
	if len(marks) != 0 {
		t.Errorf("recording markers = %q, want none (no hole)", marks)
	}
	lines := regexp.MustCompile(`rec-line-(\d+)\r\n`).FindAllStringSubmatch(text, -1)
	if len(lines) != n {
		t.Fatalf("recording holds %d lines, want %d: %q", len(lines), n, tail(text))
	}
	for i, m := range lines {
		if m[1] != strconv.Itoa(i+1) {
			t.Fatalf("line %d of the recording is rec-line-%s: a hole or a duplicate", i+1, m[1])
		}
	}
	if strings.Contains(text, "torn write") {
		t.Errorf("the torn write survived")
	}
}

// recordingHas reports whether the session's recording file holds s.
func recordingHas(s *sessEnv, id, what string) bool {
	data, _ := os.ReadFile(broker.RecordingPath(s.e.DataDir, s.org.ID, id))
	return bytes.Contains(data, []byte(what))
}

// TestSessionsReconciledFromAgent: the agent is the source of truth. A
// session its report no longer lists ends (agent_lost), and since the
// agent in fact still runs it, the engine terminates it there; an agent
// that stops ends its sessions (agent_stopped) and the viewer is told.
func TestSessionsReconciledFromAgent(t *testing.T) {
	s := newSessEnv(t, false)
	ctx := context.Background()
	o := s.open(t, s.adminC)
	tm := attach(t, s.adminC, o.Ticket, 0, false, false)
	tm.waitControl("driver", func(c stream.Control) bool { return c.Role == stream.RoleDriver })
	controlplanetest.WaitFor(t, 30*time.Second, "the agent's report", func() bool {
		rs, err := s.e.Store().GetRemoteSession(ctx, s.org.ID, o.Session.ID)
		return err == nil && !rs.LastSeen.IsZero()
	})
	// A report without the session (as from an agent that restarted).
	s.e.Broker().AgentSessions(s.device, wire.SessionList{Sessions: []wire.SessionInfo{}})
	controlplanetest.WaitFor(t, 30*time.Second, "ended as agent_lost", func() bool {
		got, err := s.adminC.GetSession(ctx, s.org.ID, o.Session.ID)
		return err == nil && got.State == "ended" && got.EndReason == "agent_lost"
	})
	// The agent's next report still lists it: the engine terminates it there.
	// Opening another session makes the agent report (it reports on changes
	// only, and its report for the attach may have come before the one above).
	o2 := s.open(t, s.adminC)
	c := tm.waitControl("ended on the agent", isStateCtl(stream.StateEnded))
	if c.Reason != "terminated" {
		t.Errorf("ended reason on the agent = %q, want terminated", c.Reason)
	}
	events, _, _ := s.e.Store().ListAudit(ctx, store.AuditFilter{OrgID: s.org.ID, Action: "session.end", ObjectID: o.Session.ID})
	if len(events) != 1 || events[0].Reason != "agent_lost" || events[0].ActorID != "system" {
		t.Errorf("session.end audit = %+v", events)
	}

	tk2, err := s.adminC.NewTicket(ctx, s.org.ID, o2.Session.ID, "driver") // o2.Ticket may have expired by now
	if err != nil {
		t.Fatal(err)
	}
	tm2 := attach(t, s.adminC, tk2, 0, false, false)
	tm2.waitControl("driver", func(c stream.Control) bool { return c.Role == stream.RoleDriver })
	s.agent.Stop()
	if c := tm2.waitControl("ended", isStateCtl(stream.StateEnded)); c.Reason != "agent_stopped" {
		t.Errorf("ended reason = %q, want agent_stopped", c.Reason)
	}
	controlplanetest.WaitFor(t, 30*time.Second, "ended as agent_stopped", func() bool {
		got, err := s.adminC.GetSession(ctx, s.org.ID, o2.Session.ID)
		return err == nil && got.State == "ended" && got.EndReason == "agent_stopped"
	})
}

// TestRevocationEndsSessions: revoking the member's grant ends its live
// session within seconds.
func TestRevocationEndsSessions(t *testing.T) {
	s := newSessEnv(t, false)
	ctx := context.Background()
	o := s.open(t, s.memberC)
	grants, err := s.adminC.ListGrants(ctx, s.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range grants {
		if g.SubjectID == s.member.ID {
			if err := s.adminC.DeleteGrant(ctx, s.org.ID, g.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	controlplanetest.WaitFor(t, 5*time.Second, "the member's session ended", func() bool {
		rs, err := s.e.Store().GetRemoteSession(ctx, s.org.ID, o.Session.ID)
		return err == nil && !rs.Live() && rs.EndReason == "access_revoked"
	})
	if _, err := s.memberC.OpenSession(ctx, s.org.ID, api.OpenSessionRequest{Device: "dev1", Service: "ssh"}); err == nil {
		t.Errorf("open after revocation succeeded")
	}
}

// A viewer may type and resize before it saw the attached state: the frames
// wait for the agent link and the output comes.
func TestSessionEarlyInput(t *testing.T) {
	s := newSessEnv(t, false)
	o := s.open(t, s.adminC)
	tm := attach(t, s.adminC, o.Ticket, 0, false, false)
	tm.send(stream.Resize{Cols: 120, Rows: 40})
	tm.typeLine("echo ear''ly-$((6*7)) $(stty size)")
	tm.waitOutput(`early-42 40 120`)
}
