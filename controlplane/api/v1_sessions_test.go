package api_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/store/storetest"
	"github.com/warrenhq/warren/protocols/stream"
)

// Sessions here are records made as the broker makes them, on a device
// whose agent is offline (this API has no overlay): the ticket and access
// rules hold before any agent is involved. Package controlplane's e2e
// tests cover the same routes through a real agent and sshd.

// ticket mints a ticket as tok.
func (e *env) ticket(tok string, tn *tenant, id, role string) api.Ticket {
	e.t.Helper()
	r := e.must(http.StatusCreated, tok, http.MethodPost, "/api/v1/orgs/"+tn.org.ID+"/sessions/"+id+"/tickets",
		map[string]any{"role": role})
	var t api.Ticket
	r.decode(e.t, &t)
	return t
}

// dialAttach opens the attach WebSocket at path (with its query), with
// header. It returns the stream, or the HTTP status of a refusal.
func (e *env) dialAttach(path string, header http.Header) (stream.Conn, int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 30*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.url, "http")+path, &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		if resp == nil {
			e.t.Fatalf("dialing %s: %v", path, err)
		}
		return nil, resp.StatusCode
	}
	conn := stream.WebSocketConn(c)
	e.t.Cleanup(func() { conn.Close() })
	return conn, http.StatusSwitchingProtocols
}

// readUntil reads frames until one satisfies ok.
func readUntil(t *testing.T, c stream.Conn, what string, ok func(stream.Frame) bool) stream.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		f, err := c.ReadFrame(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok(f) {
			return f
		}
	}
}

func isState(state string) func(stream.Frame) bool {
	return func(f stream.Frame) bool {
		c, ok := f.(stream.Control)
		return ok && c.Type == stream.ControlState && c.State == state
	}
}

// TestAttachTickets: a ticket attaches once; reuse, expiry, another
// user's ticket and another session's ticket are refused with 403
// bad_ticket before the upgrade, and audited. A viewer whose agent is
// offline is accepted and told so.
func TestAttachTickets(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.newTenant("alpha")
	other := e.remoteSession(a, a.admin, false)
	o := "/api/v1/orgs/" + a.org.ID

	tk := e.ticket(a.adminTok, a, a.session.ID, "driver")
	if tk.Role != "driver" || !strings.HasPrefix(tk.Ticket, "wrn_tkt_") || time.Until(tk.ExpiresAt) > 31*time.Second {
		t.Errorf("ticket = %+v, want a driver wrn_tkt_ ticket valid <= 30s", tk)
	}
	if want := o + "/sessions/" + a.session.ID + "/attach?ticket=" + url.QueryEscape(tk.Ticket); tk.AttachPath != want {
		t.Errorf("attach_path = %q, want %q", tk.AttachPath, want)
	}
	c, status := e.dialAttach(tk.AttachPath, nil)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("attach = %d, want 101", status)
	}
	readUntil(t, c, "agent_offline", isState(stream.StateAgentOffline))
	// An Origin other than the engine's is refused.
	if _, status := e.dialAttach(e.ticket(a.adminTok, a, a.session.ID, "driver").AttachPath,
		http.Header{"Origin": {"https://evil.example"}}); status != http.StatusForbidden {
		t.Errorf("attach from another origin = %d, want 403", status)
	}

	expired := e.ticket(a.adminTok, a, a.session.ID, "driver")
	e.skew.Store(int64(31 * time.Second))
	_, expStatus := e.dialAttach(expired.AttachPath, nil)
	e.skew.Store(0)
	otherUser := e.ticket(a.memberTok, a, a.session.ID, "observer")
	wrongSession := e.ticket(a.adminTok, a, other.ID, "driver")
	cases := []struct {
		name   string
		path   string
		header http.Header
		status int
	}{
		{"reuse", tk.AttachPath, nil, http.StatusForbidden},
		{"no ticket", o + "/sessions/" + a.session.ID + "/attach", nil, http.StatusForbidden},
		{"garbage", o + "/sessions/" + a.session.ID + "/attach?ticket=wrn_tkt_nope", nil, http.StatusForbidden},
		{"another user's (the member's, with the admin's token)", otherUser.AttachPath,
			http.Header{"Authorization": {"Bearer " + a.adminTok}}, http.StatusForbidden},
		{"another session's", strings.Replace(wrongSession.AttachPath, other.ID, a.session.ID, 1), nil, http.StatusForbidden},
		{"bad offset", e.ticket(a.adminTok, a, a.session.ID, "driver").AttachPath + "&offset=-1", nil, http.StatusBadRequest},
		{"unknown session", o + "/sessions/rs_nope/attach?ticket=" + url.QueryEscape(tk.Ticket), nil, http.StatusNotFound},
	}
	if expStatus != http.StatusForbidden {
		t.Errorf("expired ticket = %d, want 403", expStatus)
	}
	for _, c := range cases {
		_, status := e.dialAttach(c.path, c.header)
		if status != c.status {
			t.Errorf("%s: attach = %d, want %d", c.name, status, c.status)
		}
	}
	r := e.do("", http.MethodGet, o+"/sessions/"+a.session.ID+"/attach?ticket="+url.QueryEscape(tk.Ticket), nil)
	if r.status != http.StatusForbidden || r.code() != "bad_ticket" {
		t.Errorf("reused ticket over plain HTTP = %d %s, want 403 bad_ticket", r.status, r.body)
	}
	if strings.Contains(e.logs.String(), strings.TrimPrefix(tk.Ticket, "wrn_tkt_")) {
		t.Errorf("a ticket secret reached the log")
	}
	events, _, err := e.st.ListAudit(t.Context(), store.AuditFilter{OrgID: a.org.ID, Action: "session.attach"})
	if err != nil {
		t.Fatal(err)
	}
	denied := 0
	for _, ev := range events {
		if ev.Result == store.AuditDenied {
			denied++
		}
	}
	if denied < 5 || !slices.ContainsFunc(events, func(ev store.AuditEvent) bool { return ev.Result == store.AuditAllowed }) {
		t.Errorf("session.attach audit: %d denied, want >= 5, and one allowed: %+v", denied, events)
	}
}

// TestObserverRejectedAtEngine: an observer's Input, Resize and takeover
// are refused by the engine itself (Control error not_driver), even with
// no agent to ask.
func TestObserverRejectedAtEngine(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.newTenant("alpha")
	tk := e.ticket(a.memberTok, a, a.session.ID, "observer") // the member observes through its group
	c, status := e.dialAttach(tk.AttachPath, nil)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("attach = %d", status)
	}
	readUntil(t, c, "agent_offline", isState(stream.StateAgentOffline))
	for _, f := range []stream.Frame{stream.Input{Data: []byte("rm -rf /\r")}, stream.Resize{Cols: 10, Rows: 10},
		stream.Control{Type: stream.ControlTakeover}} {
		if err := c.WriteFrame(t.Context(), f); err != nil {
			t.Fatal(err)
		}
		readUntil(t, c, "not_driver", func(f stream.Frame) bool {
			ctl, ok := f.(stream.Control)
			return ok && ctl.Type == stream.ControlError && ctl.Code == stream.CodeNotDriver
		})
	}
	// A driver ticket is the owner's only.
	r := e.do(a.memberTok, http.MethodPost, "/api/v1/orgs/"+a.org.ID+"/sessions/"+a.session.ID+"/tickets", map[string]any{"role": "driver"})
	if r.status != http.StatusForbidden {
		t.Errorf("driver ticket for an observer = %d %s, want 403", r.status, r.body)
	}
}

// TestSilentViewerDropped: the engine pings viewers; one that never
// answers is dropped after three periods (500 ms each here), one that
// answers stays.
func TestSilentViewerDropped(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.newTenant("alpha")
	silent, _ := e.dialAttach(e.ticket(a.adminTok, a, a.session.ID, "driver").AttachPath, nil)
	live, _ := e.dialAttach(e.ticket(a.memberTok, a, a.session.ID, "observer").AttachPath, nil)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		for {
			f, err := live.ReadFrame(ctx)
			if err != nil {
				done <- err
				return
			}
			if p, ok := f.(stream.Ping); ok {
				live.WriteFrame(ctx, stream.Pong{Nonce: p.Nonce})
			}
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	pings := 0
	for {
		f, err := silent.ReadFrame(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("the silent viewer was not dropped")
			}
			break
		}
		if _, ok := f.(stream.Ping); ok {
			pings++
		}
	}
	if pings < 2 {
		t.Errorf("the silent viewer got %d pings before being dropped, want several", pings)
	}
	select {
	case err := <-done:
		t.Errorf("the viewer that answers pings was dropped too: %v", err)
	default:
	}
}

// TestSessionSharing: only the owner (or an org admin) shares; a user
// without a share cannot see the session; sharing and unsharing take
// effect at once.
func TestSessionSharing(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		a := e.newTenant("alpha")
		mine := e.remoteSession(a, a.member, false) // the member's own session
		o := "/api/v1/orgs/" + a.org.ID
		s := o + "/sessions/" + mine.ID

		// The loner (no grant, not shared) sees nothing of it.
		for _, c := range []struct{ method, path string }{
			{http.MethodGet, s}, {http.MethodPost, s + "/tickets"}, {http.MethodDelete, s}, {http.MethodGet, s + "/recording"},
		} {
			var body any
			if c.method == http.MethodPost {
				body = map[string]any{"role": "observer"}
			}
			if r := e.do(a.lonerTok, c.method, c.path, body); r.status != http.StatusNotFound {
				t.Errorf("loner %s %s = %d %s, want 404", c.method, c.path, r.status, r.body)
			}
		}
		var list []api.Session
		e.must(http.StatusOK, a.lonerTok, http.MethodGet, o+"/sessions", nil).decode(t, &list)
		if len(list) != 0 {
			t.Errorf("loner's sessions = %+v, want none", list)
		}
		if r := e.do(a.lonerTok, http.MethodGet, o+"/sessions?scope=all", nil); r.status != http.StatusForbidden {
			t.Errorf("scope=all as a member = %d, want 403", r.status)
		}
		// The loner cannot share itself in, nor can a viewer of the device who is not the owner.
		if r := e.do(a.lonerTok, http.MethodPost, s+"/observers", map[string]any{"user_id": a.loner.ID}); r.status != http.StatusNotFound {
			t.Errorf("loner shares with itself = %d, want 404", r.status)
		}
		as := o + "/sessions/" + a.session.ID // the admin's, which the member observes through its group
		if r := e.do(a.memberTok, http.MethodPost, as+"/observers", map[string]any{"user_id": a.loner.ID}); r.status != http.StatusForbidden {
			t.Errorf("observer re-shares = %d %s, want 403", r.status, r.body)
		}
		// The owner shares with the loner: it sees it and may observe, not drive.
		e.must(http.StatusCreated, a.memberTok, http.MethodPost, s+"/observers", map[string]any{"user_id": a.loner.ID})
		var got api.Session
		e.must(http.StatusOK, a.lonerTok, http.MethodGet, s, nil).decode(t, &got)
		if got.ID != mine.ID || got.CanDrive || got.State != "agent_offline" || got.OwnerID != a.member.ID {
			t.Errorf("shared session as the loner = %+v", got)
		}
		e.must(http.StatusOK, a.lonerTok, http.MethodGet, o+"/sessions", nil).decode(t, &list)
		if len(list) != 1 || list[0].ID != mine.ID {
			t.Errorf("loner's sessions after the share = %+v", list)
		}
		e.ticket(a.lonerTok, a, mine.ID, "observer")
		if r := e.do(a.lonerTok, http.MethodPost, s+"/tickets", map[string]any{"role": "driver"}); r.status != http.StatusForbidden {
			t.Errorf("driver ticket for the loner = %d, want 403", r.status)
		}
		var obs []api.SessionObserver
		e.must(http.StatusOK, a.memberTok, http.MethodGet, s+"/observers", nil).decode(t, &obs)
		if len(obs) != 1 || obs[0] != (api.SessionObserver{SubjectType: "user", SubjectID: a.loner.ID}) {
			t.Errorf("observers = %+v", obs)
		}
		e.must(http.StatusNoContent, a.memberTok, http.MethodDelete, s+"/observers/"+a.loner.ID, nil)
		if r := e.do(a.lonerTok, http.MethodGet, s, nil); r.status != http.StatusNotFound {
			t.Errorf("loner after unshare = %d, want 404", r.status)
		}
		if r := e.do(a.memberTok, http.MethodDelete, s+"/observers/"+a.loner.ID, nil); r.status != http.StatusNotFound {
			t.Errorf("unshare again = %d, want 404", r.status)
		}
		if r := e.do(a.memberTok, http.MethodPost, s+"/observers", map[string]any{"user_id": a.loner.ID, "group_id": a.group.ID}); r.status != http.StatusBadRequest {
			t.Errorf("share with both = %d, want 400", r.status)
		}
		// Terminating: the owner may; a device viewer who is not the owner may not.
		if r := e.do(a.memberTok, http.MethodDelete, as, nil); r.status != http.StatusForbidden {
			t.Errorf("member terminates the admin's session = %d %s, want 403", r.status, r.body)
		}
		e.must(http.StatusNoContent, a.memberTok, http.MethodDelete, s, nil)
		e.must(http.StatusOK, a.memberTok, http.MethodGet, s, nil).decode(t, &got)
		if got.State != "ended" || got.EndReason != "terminated" || got.EndedAt == nil {
			t.Errorf("terminated session = %+v", got)
		}
		if r := e.do(a.memberTok, http.MethodPost, s+"/tickets", map[string]any{"role": "driver"}); r.status != http.StatusConflict {
			t.Errorf("ticket for an ended session = %d, want 409", r.status)
		}
		events, _, _ := e.st.ListAudit(t.Context(), store.AuditFilter{OrgID: a.org.ID, ObjectID: mine.ID})
		for _, action := range []string{"session.share", "session.unshare", "session.terminate", "session.end"} {
			if !slices.ContainsFunc(events, func(ev store.AuditEvent) bool { return ev.Action == action && ev.Result == store.AuditAllowed }) {
				t.Errorf("no allowed %s audit event", action)
			}
		}
	})
}

// TestHostKeyAndSettings: a connect-only member reads the host key but
// cannot accept one nor change settings; the admin can.
func TestHostKeyAndSettings(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.newTenant("alpha")
	o := "/api/v1/orgs/" + a.org.ID
	hk := o + "/devices/" + a.device.ID + "/services/" + a.service.Name + "/host-key"
	var k api.HostKey
	e.must(http.StatusOK, a.memberTok, http.MethodGet, hk, nil).decode(t, &k)
	if k.Fingerprint != a.hostKey.Fingerprint || k.Pending != a.hostKey.Pending {
		t.Errorf("host key = %+v, want %+v", k, a.hostKey)
	}
	if r := e.do(a.memberTok, http.MethodPost, hk+"/accept", map[string]any{"fingerprint": a.hostKey.Pending}); r.status != http.StatusForbidden {
		t.Errorf("member accepts = %d %s, want 403", r.status, r.body)
	}
	if r := e.do(a.lonerTok, http.MethodGet, hk, nil); r.status != http.StatusNotFound {
		t.Errorf("loner reads = %d, want 404", r.status)
	}
	if r := e.do(a.adminTok, http.MethodPost, hk+"/accept", map[string]any{"fingerprint": "SHA256:notTheOneThatIsPending"}); r.status != http.StatusConflict {
		t.Errorf("accept the wrong fingerprint = %d %s, want 409", r.status, r.body)
	}
	k = api.HostKey{}
	e.must(http.StatusCreated, a.adminTok, http.MethodPost, hk+"/accept", map[string]any{"fingerprint": a.hostKey.Pending}).decode(t, &k)
	if k.Fingerprint != a.hostKey.Pending || k.Pending != "" || k.AcceptedBy != a.admin.ID {
		t.Errorf("accepted = %+v", k)
	}

	set := o + "/settings/sessions"
	var s api.SessionSettings
	e.must(http.StatusOK, a.memberTok, http.MethodGet, set, nil).decode(t, &s)
	if s != (api.SessionSettings{DetachedTimeoutSec: 1800, IdleTimeoutSec: 8 * 3600, BufferSize: 4 << 20, MaxUserSessions: 10, MaxDeviceSessions: 20}) {
		t.Errorf("default settings = %+v", s)
	}
	if r := e.do(a.memberTok, http.MethodPatch, set, map[string]any{"max_user_sessions": 100}); r.status != http.StatusForbidden {
		t.Errorf("member changes settings = %d, want 403", r.status)
	}
	for _, bad := range []map[string]any{{"max_user_sessions": 0}, {"buffer_size": 1}, {"detached_timeout_sec": -5},
		{"idle_timeout_sec": int64(1) << 62}} {
		if r := e.do(a.adminTok, http.MethodPatch, set, bad); r.status != http.StatusBadRequest {
			t.Errorf("PATCH %v = %d %s, want 400", bad, r.status, r.body)
		}
	}
	e.must(http.StatusOK, a.adminTok, http.MethodPatch, set, map[string]any{"detached_timeout_sec": 60, "max_device_sessions": 2}).decode(t, &s)
	if s.DetachedTimeoutSec != 60 || s.MaxDeviceSessions != 2 || s.MaxUserSessions != 10 {
		t.Errorf("after PATCH = %+v", s)
	}
}

// TestRecordingDownload: the recording is served as an asciicast
// download to those who may see the session, and listed.
func TestRecordingDownload(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.newTenant("alpha")
	o := "/api/v1/orgs/" + a.org.ID
	r := e.must(http.StatusOK, a.memberTok, http.MethodGet, o+"/sessions/"+a.session.ID+"/recording", nil)
	if !strings.Contains(string(r.body), `"hello alpha\r\n"`) || !strings.HasPrefix(string(r.body), `{"version":2`) {
		t.Errorf("recording = %q", r.body)
	}
	var recs []api.Session
	e.must(http.StatusOK, a.memberTok, http.MethodGet, o+"/recordings", nil).decode(t, &recs)
	if len(recs) != 1 || recs[0].ID != a.session.ID || !recs[0].Recorded {
		t.Errorf("recordings = %+v", recs)
	}
	if r := e.do(a.lonerTok, http.MethodGet, o+"/sessions/"+a.session.ID+"/recording", nil); r.status != http.StatusNotFound {
		t.Errorf("loner downloads = %d, want 404", r.status)
	}
	plain := e.remoteSession(a, a.admin, false)
	if r := e.do(a.adminTok, http.MethodGet, o+"/sessions/"+plain.ID+"/recording", nil); r.status != http.StatusNotFound {
		t.Errorf("recording of an unrecorded session = %d, want 404", r.status)
	}
	// Through the Go client.
	cl := api.NewV1Client(e.url, a.memberTok)
	var buf strings.Builder
	if n, err := cl.DownloadRecording(t.Context(), a.org.ID, a.session.ID, &buf); err != nil || n == 0 || !strings.Contains(buf.String(), "hello alpha") {
		t.Errorf("DownloadRecording() = %d, %v, %q", n, err, buf.String())
	}
}
