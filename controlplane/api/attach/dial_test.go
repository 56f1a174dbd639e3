package attach

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/protocols/stream"
)

// TestClassify: refusals that retrying cannot change stop the Viewer; an
// engine restarting or a limit do not; an ended session is an EndedError.
func TestClassify(t *testing.T) {
	// No engine listens here: the end reason lookup fails quietly.
	d := &Dialer{Client: api.NewV1Client("http://127.0.0.1:1", "wrn_pat_x"), Org: "o", Session: "rs_1"}
	tests := []struct {
		err       error
		permanent bool
		ended     bool
	}{
		{errors.New("connection refused"), false, false},
		{&api.Error{Status: 503, Code: "agent_offline"}, false, false},
		{&api.Error{Status: 502, Code: "agent_error"}, false, false},
		{&api.Error{Status: 429, Code: "rate_limited"}, false, false},
		{&api.Error{Status: 403, Code: "bad_ticket"}, true, false},
		{&api.Error{Status: 404, Code: "session_not_found"}, true, false},
		{&api.Error{Status: 401, Code: "unauthenticated"}, true, false},
		{&api.Error{Status: 409, Code: "session_ended"}, true, true},
		{&api.Error{Status: 410, Code: "session_ended"}, true, true},
	}
	for _, tt := range tests {
		err := d.classify(t.Context(), fmt.Errorf("attaching: %w", tt.err))
		if stream.IsPermanent(err) != tt.permanent || errors.Is(err, stream.ErrSessionEnded) != tt.ended {
			t.Errorf("classify(%v) = %v: permanent %v, ended %v; want %v, %v", tt.err, err,
				stream.IsPermanent(err), errors.Is(err, stream.ErrSessionEnded), tt.permanent, tt.ended)
		}
		if !errors.Is(err, tt.err) {
			t.Errorf("classify(%v) = %v: lost the cause", tt.err, err)
		}
	}
}

// FuzzResponseError: any refused upgrade's body decodes to an API error
// with a code, or to nothing; never a panic.
func FuzzResponseError(f *testing.F) {
	f.Add(403, []byte(`{"error":{"code":"bad_ticket","message":"ticket refused"}}`))
	f.Add(502, []byte(`<html>bad gateway</html>`))
	f.Add(404, []byte(`{"error":{"code":""}}`))
	f.Add(410, []byte(`{"error":"x"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		resp := &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(string(body)))}
		if e := responseError(resp); e != nil && (e.Code == "" || e.Status != status) {
			t.Fatalf("responseError = %+v", e)
		}
	})
}

// TestDialErrorHidesTicket: a failed attach names the server, never the
// attach URL, which carries the ticket.
func TestDialErrorHidesTicket(t *testing.T) {
	d := &Dialer{Client: api.NewV1Client("http://127.0.0.1:1", "wrn_pat_x"), Org: "o", Session: "rs_1"}
	d.UseTicket(api.Ticket{Ticket: "wrn_tkt_SECRET", AttachPath: "/api/v1/orgs/o/sessions/rs_1/attach"})
	_, err := d.Dial(t.Context(), 0, false, false)
	if err == nil || strings.Contains(err.Error(), "wrn_tkt_SECRET") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("Dial = %v; want an error naming the server without the ticket", err)
	}
	if stream.IsPermanent(err) {
		t.Errorf("Dial = %v: a refused connection is worth retrying", err)
	}
}
