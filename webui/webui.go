// Package webui serves the browser console: the Vite build of this
// directory (dist/, made by `npm ci && npm run build`, which `make build`
// runs), embedded in the engine binary. A build without the console (a plain
// `go build` on a fresh clone) serves a page that says how to build it.
//
// The console is a single page with hash routes, so the handler serves only
// "/" and the files of the build; every other request goes to the engine's
// own handler. It imports only the standard library and must never import
// engine packages: the engine imports it.
package webui

import (
	"bytes"
	"compress/gzip"
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed all:dist
var embedded embed.FS

// Security headers of every console response. The console talks only to
// its own origin (REST and WebSocket); xterm.js sets inline styles.
const csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler returns a handler that answers GET and HEAD for "/" (the
// console's index.html) and for the files of the build, and passes every
// other request to next. Hashed assets are cached for a year; index.html is
// revalidated on every load. Text assets are sent gzip-compressed to clients
// that accept it.
func Handler(next http.Handler) http.Handler {
	return newServer(embedded, next)
}

// Built reports whether the embedded build holds the console (false: only
// the "how to build it" page is served).
func Built() bool {
	_, err := fs.Stat(embedded, "dist/index.html")
	return err == nil
}

type server struct {
	files fs.FS
	next  http.Handler
	built bool

	mu sync.Mutex
	gz map[string][]byte // guarded by mu; compressed assets by name
}

func newServer(fsys fs.FS, next http.Handler) *server {
	sub, err := fs.Sub(fsys, "dist")
	if err != nil {
		panic(err) // "dist" is a valid path; fs.Sub fails only on invalid ones
	}
	_, err = fs.Stat(sub, "index.html")
	return &server{files: sub, next: next, built: err == nil, gz: map[string][]byte{}}
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.next.ServeHTTP(w, r)
		return
	}
	if r.URL.Path == "/" || r.URL.Path == "/index.html" {
		s.serveIndex(w, r)
		return
	}
	name, ok := s.asset(r.URL.Path)
	if !ok {
		s.next.ServeHTTP(w, r)
		return
	}
	s.serveAsset(w, r, name)
}

// asset maps a URL path to a file of the build. Only regular files are
// served; index.html only at "/", README.md (the committed placeholder of
// dist/) never.
func (s *server) asset(p string) (string, bool) {
	name := strings.TrimPrefix(path.Clean(p), "/")
	if name == "" || name == "index.html" || name == "README.md" || !fs.ValidPath(name) {
		return "", false
	}
	st, err := fs.Stat(s.files, name)
	if err != nil || !st.Mode().IsRegular() {
		return "", false
	}
	return name, true
}

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
}

func (s *server) serveIndex(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	setSecurityHeaders(h)
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Type", "text/html; charset=utf-8")
	if !s.built {
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write([]byte(notBuiltPage))
		}
		return
	}
	s.serveAsset(w, r, "index.html")
}

func (s *server) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	data, err := fs.ReadFile(s.files, name)
	if err != nil {
		http.Error(w, "console file unreadable", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	setSecurityHeaders(h)
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		h.Set("Content-Type", ct)
	}
	if strings.HasPrefix(name, "assets/") {
		// Vite puts a content hash in every asset's name.
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else if name != "index.html" {
		h.Set("Cache-Control", "public, max-age=3600")
	}
	h.Add("Vary", "Accept-Encoding")
	if compressible(name) && acceptsGzip(r) {
		data = s.gzipped(name, data)
		h.Set("Content-Encoding", "gzip")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// gzipped returns name's data compressed, compressing it once per process.
func (s *server) gzipped(name string, data []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if z, ok := s.gz[name]; ok {
		return z
	}
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression) // the level is valid
	zw.Write(data)
	zw.Close()
	s.gz[name] = b.Bytes()
	return s.gz[name]
}

func compressible(name string) bool {
	switch path.Ext(name) {
	case ".js", ".css", ".html", ".svg", ".json", ".wasm", ".map":
		return true
	}
	return false
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// notBuiltPage is served at "/" by an engine built without the console.
const notBuiltPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Warren · console not built</title>
<style>
body{font-family:system-ui,sans-serif;background:#181a1f;color:#d6dae0;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{max-width:36rem;padding:2rem}
code,pre{background:#111318;padding:.15rem .35rem;border-radius:4px}
pre{padding:.75rem}
</style>
</head>
<body>
<main>
<h1>The browser console is not built into this engine</h1>
<p>This <code>warren</code> binary was built without the console's web assets. The engine and its REST API
(<code>/api/v1</code>, described at <code>/api/v1/openapi.json</code>) work as usual.</p>
<p>To build the console into the binary (needs Node.js 20 or newer and npm):</p>
<pre>make build</pre>
<p>or by hand:</p>
<pre>cd webui &amp;&amp; npm ci &amp;&amp; npm run build &amp;&amp; cd .. &amp;&amp; go build ./cmd/warren</pre>
</main>
</body>
</html>
`
