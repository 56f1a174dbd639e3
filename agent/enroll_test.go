package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/netstack"
)

func TestCheckServerURL(t *testing.T) {
	tests := []struct {
		url      string
		insecure bool
		ok       bool
	}{
		{"http://127.0.0.1:8080", false, true},
		{"http://127.1.2.3", false, true},
		{"http://localhost:8080", false, true},
		{"http://LOCALHOST", false, true},
		{"http://[::1]:8080", false, true},
		{"http://[::ffff:127.0.0.1]", false, true},
		{"http://10.0.0.1", false, false},
		{"http://warren.example.com", false, false},
		{"http://localhost.example.com", false, false},
		{"http://10.0.0.1", true, true},
		{"https://10.0.0.1", false, true},
		{"https://warren.example.com/base/", false, true},
		{"ftp://warren.example.com", true, false},
		{"warren.example.com", false, false},
		{"https://user:pw@warren.example.com", false, false},
		{"https://warren.example.com/?x=1", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		_, err := checkServerURL(tt.url, tt.insecure)
		if (err == nil) != tt.ok {
			t.Errorf("checkServerURL(%q, insecure=%v) = %v, want ok=%v", tt.url, tt.insecure, err, tt.ok)
		}
	}
}

// enrollServer is an engine's enrollment endpoint: it checks the request
// with the engine's own decoder and answers with respond.
func enrollServer(t *testing.T, respond func(w http.ResponseWriter, req wire.EnrollRequest)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != wire.EnrollPath {
			http.NotFound(w, r)
			return
		}
		req, err := wire.DecodeEnrollRequest(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(wire.ErrorBody{Error: wire.ErrorDetail{Code: "bad_request", Message: err.Error()}})
			return
		}
		respond(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func engineEntry(t *testing.T) wire.Engine {
	t.Helper()
	k, err := netstack.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return wire.Engine{PublicKey: k.Public().String(), Endpoint: "127.0.0.1:51820", OverlayIP: "100.96.0.1"}
}

func TestEnroll(t *testing.T) {
	engine := engineEntry(t)
	var got wire.EnrollRequest
	srv := enrollServer(t, func(w http.ResponseWriter, req wire.EnrollRequest) {
		got = req
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(wire.EnrollResponse{
			DeviceID: "dev_1", Name: "web-1", OverlayIP: "100.96.0.9", Prefix: "100.96.0.0/12",
			Engines: []wire.Engine{engine},
		})
	})
	dir := filepath.Join(t.TempDir(), "state")
	st, err := Enroll(context.Background(), EnrollConfig{
		Server: srv.URL + "/", Token: "tok", StateDir: dir, Name: "web-1",
		Hostname: "host-a", OS: "linux", Version: "1.2.3",
	})
	if err != nil {
		t.Fatalf("Enroll: %v", err)
	}
	if got.Token != "tok" || got.Name != "web-1" || got.Hostname != "host-a" || got.OS != "linux" || got.Version != "1.2.3" {
		t.Errorf("engine got request %+v", got)
	}
	if got.WGPublicKey != st.PrivateKey.Public().String() {
		t.Errorf("engine got key %s, want the public half of the stored key %s", got.WGPublicKey, st.PrivateKey.Public())
	}
	loaded, err := LoadState(dir)
	if err != nil {
		t.Fatalf("LoadState after Enroll: %v", err)
	}
	if loaded.PrivateKey != st.PrivateKey || loaded.DeviceID != "dev_1" || loaded.OverlayIP.String() != "100.96.0.9" ||
		loaded.ServerURL != srv.URL || len(loaded.Engines) != 1 || loaded.Engines[0] != engine {
		t.Errorf("LoadState() = %+v, want the enrollment", loaded)
	}
	assertMode(t, filepath.Join(dir, stateFile), 0o600)
	assertMode(t, dir, 0o700)
}

func TestEnrollRefusesExistingEnrollment(t *testing.T) {
	engine := engineEntry(t)
	calls := 0
	srv := enrollServer(t, func(w http.ResponseWriter, req wire.EnrollRequest) {
		calls++
		json.NewEncoder(w).Encode(wire.EnrollResponse{
			DeviceID: "dev_" + req.Token, OverlayIP: "100.96.0.9", Prefix: "100.96.0.0/12", Engines: []wire.Engine{engine},
		})
	})
	dir := t.TempDir()
	first, err := Enroll(context.Background(), EnrollConfig{Server: srv.URL, Token: "1", StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, netmapFile), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Enroll(context.Background(), EnrollConfig{Server: srv.URL, Token: "2", StateDir: dir})
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second Enroll = %v, want an error naming --force", err)
	}
	if calls != 1 {
		t.Errorf("engine called %d times, want 1 (refuse before sending the token)", calls)
	}
	if st, _ := LoadState(dir); st.PrivateKey != first.PrivateKey {
		t.Errorf("refused Enroll changed the stored key")
	}
	second, err := Enroll(context.Background(), EnrollConfig{Server: srv.URL, Token: "2", StateDir: dir, Force: true})
	if err != nil {
		t.Fatalf("Enroll with Force: %v", err)
	}
	if st, _ := LoadState(dir); st.DeviceID != "dev_2" || st.PrivateKey != second.PrivateKey || st.PrivateKey == first.PrivateKey {
		t.Errorf("after Force, state = %s, want dev_2 with a new key", st.DeviceID)
	}
	if _, err := os.Stat(filepath.Join(dir, netmapFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old netmap.json survived re-enrollment: %v", err)
	}
}

func TestEnrollFailureWritesNothing(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr string
	}{
		{"error envelope", 403, `{"error":{"code":"token_invalid","message":"token expired or already used"}}`, "token_invalid: token expired or already used"},
		{"plain error", 502, `Bad Gateway`, "HTTP 502"},
		{"unknown field", 200, `{"device_id":"d","overlay_ip":"100.96.0.2","prefix":"100.96.0.0/12","engines":[],"evil":1}`, "malformed"},
		{"trailing data", 200, `{"device_id":"d"} {}`, "malformed"},
		{"no engines", 200, `{"device_id":"d","name":"n","overlay_ip":"100.96.0.2","prefix":"100.96.0.0/12","engines":[]}`, "engines"},
		{"ip outside prefix", 200, `{"device_id":"d","name":"n","overlay_ip":"10.0.0.2","prefix":"100.96.0.0/12","engines":[]}`, "prefix"},
		{"bad engine key", 200, `{"device_id":"d","name":"n","overlay_ip":"100.96.0.2","prefix":"100.96.0.0/12","engines":[{"public_key":"x","endpoint":"a:1","overlay_ip":"100.96.0.1"}]}`, "public_key"},
		{"too large", 200, `{"device_id":"` + strings.Repeat("a", maxEnrollResponse) + `"}`, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := enrollServer(t, func(w http.ResponseWriter, req wire.EnrollRequest) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			})
			dir := filepath.Join(t.TempDir(), "state")
			_, err := Enroll(context.Background(), EnrollConfig{Server: srv.URL, Token: "t", StateDir: dir})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Enroll() = %v, want an error containing %q", err, tt.wantErr)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("failed Enroll left %s behind (stat: %v)", dir, err)
			}
		})
	}
}

func TestEnrollRefusesPlainHTTP(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	_, err := Enroll(context.Background(), EnrollConfig{Server: "http://10.0.0.1", Token: "t", StateDir: dir})
	if err == nil || !strings.Contains(err.Error(), "--insecure") {
		t.Errorf("Enroll(http://10.0.0.1) = %v, want a refusal naming --insecure", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused Enroll created %s", dir)
	}
}

func FuzzDecodeEnrollResponse(f *testing.F) {
	f.Add([]byte(`{"device_id":"d","name":"n","overlay_ip":"100.96.0.2","prefix":"100.96.0.0/12","engines":[{"public_key":"` + strings.Repeat("A", 43) + `=","endpoint":"e.example:51820","overlay_ip":"100.96.0.1"}]}`))
	f.Add([]byte(`{"device_id":"d"}`))
	f.Add([]byte(`{"error":{"code":"x","message":"y"}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"engines":[{}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := decodeEnrollResponse(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		if resp.DeviceID == "" || len(resp.Engines) == 0 {
			t.Errorf("decodeEnrollResponse accepted %q without device or engines", data)
		}
		for _, e := range resp.Engines {
			if err := validEngine(e); err != nil {
				t.Errorf("decodeEnrollResponse accepted invalid engine %+v: %v", e, err)
			}
		}
		decodeEnrollError(400, strings.NewReader(string(data)))
	})
}

func TestEnrollRefusesRedirect(t *testing.T) {
	sink := enrollServer(t, func(w http.ResponseWriter, req wire.EnrollRequest) {
		t.Errorf("the token followed a redirect to another server")
	})
	srv := enrollServer(t, func(w http.ResponseWriter, req wire.EnrollRequest) {
		http.Redirect(w, &http.Request{Method: http.MethodPost}, sink.URL+wire.EnrollPath, http.StatusTemporaryRedirect)
	})
	dir := filepath.Join(t.TempDir(), "state")
	_, err := Enroll(context.Background(), EnrollConfig{Server: srv.URL, Token: "t", StateDir: dir})
	if err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("Enroll(redirecting server) = %v, want a redirect error", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed Enroll left %s behind", dir)
	}
}
