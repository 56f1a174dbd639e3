package webui

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

// next stands for the engine's API handler behind the console.
var next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Next", "1")
	w.WriteHeader(http.StatusTeapot)
})

func built() fstest.MapFS {
	return fstest.MapFS{
		"dist/README.md":           {Data: []byte("committed placeholder")},
		"dist/index.html":          {Data: []byte("<!doctype html><title>Warren</title>")},
		"dist/favicon.svg":         {Data: []byte("<svg/>")},
		"dist/assets/index-abc.js": {Data: []byte(strings.Repeat("console.log(1);", 100))},
		"dist/assets/sub/x.css":    {Data: []byte("body{}")},
	}
}

func get(t *testing.T, h http.Handler, method, path string, hdr ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestServesTheBuild(t *testing.T) {
	h := newServer(built(), next)
	resp := get(t, h, http.MethodGet, "/")
	if resp.StatusCode != 200 || !strings.Contains(body(t, resp), "<title>Warren</title>") {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("index Cache-Control = %q, want no-cache", got)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q", csp)
	}

	resp = get(t, h, http.MethodGet, "/assets/index-abc.js")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("asset = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if got := resp.Header.Get("Cache-Control"); !strings.Contains(got, "immutable") {
		t.Errorf("asset Cache-Control = %q", got)
	}
	if resp := get(t, h, http.MethodGet, "/assets/sub/x.css"); resp.StatusCode != 200 || body(t, resp) != "body{}" {
		t.Errorf("nested asset = %d", resp.StatusCode)
	}
	if resp := get(t, h, http.MethodHead, "/favicon.svg"); resp.StatusCode != 200 || body(t, resp) != "" {
		t.Errorf("HEAD favicon = %d", resp.StatusCode)
	}
}

func TestGzip(t *testing.T) {
	h := newServer(built(), next)
	for range 2 { // the second answer comes from the cache
		resp := get(t, h, http.MethodGet, "/assets/index-abc.js", "Accept-Encoding", "br, gzip")
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding = %q, want gzip", resp.Header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := io.ReadAll(zr)
		if string(plain) != strings.Repeat("console.log(1);", 100) {
			t.Fatalf("gunzipped body differs")
		}
	}
	if resp := get(t, h, http.MethodGet, "/assets/index-abc.js", "Accept-Encoding", "gzip;q=0"); resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip sent to a client that refused it")
	}
}

// Everything that is not the console reaches the engine's handler: the API,
// unknown paths, the placeholder README, non-GET methods, traversal.
func TestPassesEverythingElse(t *testing.T) {
	h := newServer(built(), next)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/auth/me"},
		{http.MethodGet, "/healthz"},
		{http.MethodGet, "/idp/authorize"},
		{http.MethodGet, "/setup"},
		{http.MethodGet, "/nope"},
		{http.MethodGet, "/README.md"},
		{http.MethodGet, "/assets"},
		{http.MethodGet, "/assets/"},
		{http.MethodGet, "/../dist/index.html/x"},
		{http.MethodPost, "/"},
		{http.MethodPost, "/assets/index-abc.js"},
		{http.MethodDelete, "/favicon.svg"},
	} {
		resp := get(t, h, tc.method, tc.path)
		if resp.Header.Get("X-Next") != "1" {
			t.Errorf("%s %s = %d, served by the console; want it passed on", tc.method, tc.path, resp.StatusCode)
		}
	}
}

func TestNotBuilt(t *testing.T) {
	h := newServer(fstest.MapFS{"dist/README.md": {Data: []byte("placeholder")}}, next)
	resp := get(t, h, http.MethodGet, "/")
	b := body(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(b, "make build") || !strings.Contains(b, "npm ci") {
		t.Fatalf("GET / without a build = %d %q", resp.StatusCode, b)
	}
	if resp := get(t, h, http.MethodGet, "/api/v1/orgs"); resp.Header.Get("X-Next") != "1" {
		t.Error("API not passed on without a build")
	}
}

// The real embedded directory always exists (dist/README.md is committed),
// so a plain go build works; Built tells whether the console is in it.
func TestEmbedded(t *testing.T) {
	resp := get(t, Handler(next), http.MethodGet, "/")
	if resp.StatusCode != 200 {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
	b := body(t, resp)
	if Built() != !strings.Contains(b, "not built") {
		t.Errorf("Built() = %v but the page says otherwise", Built())
	}
}
