package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/warrenhq/warren/controlplane/api"
)

// TestV1ClientRefusesPlainHTTP: the token never goes in clear text to
// another machine unless Insecure says so.
func TestV1ClientRefusesPlainHTTP(t *testing.T) {
	for _, tc := range []struct {
		server   string
		insecure bool
		refused  bool
	}{
		{"http://warren.example.com", false, true},
		{"http://10.0.0.1:8080", false, true},
		{"ftp://warren.example.com", true, true},
		{"warren.example.com", false, true},
		{"http://warren.example.com", true, false},
		{"http://127.0.0.1:1", false, false},
		{"http://localhost:1", false, false},
		{"http://[::1]:1", false, false},
		{"https://warren.invalid", false, false},
	} {
		t.Run(tc.server, func(t *testing.T) {
			c := api.NewV1Client(tc.server, "wrn_pat_x")
			c.Insecure = tc.insecure
			ctx, cancel := context.WithCancel(t.Context())
			cancel() // no request leaves: only the refusal matters
			_, err := c.ListOrgs(ctx)
			refused := err != nil && !errors.Is(err, context.Canceled)
			if refused != tc.refused {
				t.Errorf("ListOrgs(%s, insecure=%v) = %v, want refused %v", tc.server, tc.insecure, err, tc.refused)
			}
		})
	}
}

// TestV1ClientDecodesEnvelope: API errors come back as *api.Error with the
// envelope's code and message, and the bearer token is sent.
func TestV1ClientDecodesEnvelope(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer wrn_pat_x" {
			t.Errorf("Authorization = %q", got)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"error":{"code":"forbidden","message":"you may not do this","trace_id":"abc"}}`))
	}))
	defer srv.Close()
	_, err := api.NewV1Client(srv.URL, "wrn_pat_x").ListGrants(t.Context(), "acme")
	var e *api.Error
	if !errors.As(err, &e) || e.Status != 403 || e.Code != "forbidden" || !strings.Contains(e.Message, "you may not do this") {
		t.Errorf("ListGrants error = %#v, want *api.Error forbidden", err)
	}
}
