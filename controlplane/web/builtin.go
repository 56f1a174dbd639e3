package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/warrenhq/warren/controlplane/auth"
	"github.com/warrenhq/warren/controlplane/auth/idp"
	"github.com/warrenhq/warren/controlplane/secrets"
	"github.com/warrenhq/warren/controlplane/store"
)

// KeyFile is the built-in IdP's signing key in Config.DataDir, sealed under
// the KEK (mode 0600). The store has no table for it.
const KeyFile = "idp-key.sealed"

// BuiltinClientID is the engine's client id at its built-in IdP.
const BuiltinClientID = "warren-engine"

// keyAAD binds the sealed key file to its purpose.
var keyAAD = secrets.AAD{OrgID: "platform", RecordID: "builtin-idp", Kind: "idp_signing_key", Version: 1}

func (a *Authn) initBuiltin() error {
	keyPEM, err := loadOrCreateKey(a.cfg.DataDir, a.cfg.Keyring)
	if err != nil {
		return err
	}
	defer clear(keyPEM)
	// The engine is the built-in IdP's only client and reaches it in
	// process, so the client secret never leaves this process.
	client := idp.Client{ID: BuiltinClientID, Secret: string(newSecret()), RedirectURIs: []string{a.callbackURL}}
	p, err := idp.New(idp.Config{
		Issuer:  a.origin + strings.TrimSuffix(IdPPath, "/"),
		KeyPEM:  keyPEM,
		Clients: []idp.Client{client},
		Users:   localUsers{a.cfg.Store},
		Now:     a.cfg.Now,
		Logger:  a.log.With("component", "idp"),
	})
	if err != nil {
		return err
	}
	a.idp = p
	a.builtin = auth.IdPConfig{Issuer: p.Issuer(), ClientID: client.ID, ClientSecret: client.Secret}
	return nil
}

// loadOrCreateKey returns the built-in IdP's signing key as PEM: the one
// sealed in dir, or a new one it seals there first. With dir "" the key
// lives in memory only. A key that does not open (wrong KEK, tampering) is
// an error, never a reason to make a new one.
func loadOrCreateKey(dir string, kr *secrets.Keyring) ([]byte, error) {
	if dir == "" {
		return idp.GenerateKey()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("built-in IdP key: %w", err)
	}
	path := filepath.Join(dir, KeyFile)
	for attempt := 1; ; attempt++ {
		key, err := readKey(path, kr)
		if !errors.Is(err, fs.ErrNotExist) || attempt == 3 {
			return key, err
		}
		if err := createKey(path, kr); err != nil {
			return nil, err
		}
	}
}

// ResealKeyFile re-seals the built-in IdP's key file in dataDir under kr's
// current KEK if a previous KEK of kr sealed it, and reports whether it did.
// `warren kek rotate` calls it beside re-sealing the database's secrets;
// New does the same on every start. A missing file is not an error.
func ResealKeyFile(dataDir string, kr *secrets.Keyring) (bool, error) {
	path := filepath.Join(dataDir, KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading built-in IdP key: %w", err)
	}
	var s secrets.Sealed
	if err := s.UnmarshalBinary(b); err == nil && s.KEKID == kr.Current().ID() {
		return false, nil
	}
	key, err := readKey(path, kr)
	clear(key)
	return err == nil, err
}

func readKey(path string, kr *secrets.Keyring) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading built-in IdP key: %w", err)
	}
	var s secrets.Sealed
	if err := s.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("built-in IdP key %s: %w", path, err)
	}
	key, err := kr.Open(keyAAD, s)
	if err != nil {
		return nil, fmt.Errorf("opening built-in IdP key %s: %w", path, err)
	}
	if s.KEKID != kr.Current().ID() {
		// Sealed under a previous KEK: move it to the current one.
		if err := writeKey(path, kr, key, true); err != nil {
			clear(key)
			return nil, err
		}
	}
	return key, nil
}

// createKey writes a new sealed key to path unless a concurrent start has
// already done so.
func createKey(path string, kr *secrets.Keyring) error {
	key, err := idp.GenerateKey()
	if err != nil {
		return err
	}
	defer clear(key)
	return writeKey(path, kr, key, false)
}

// writeKey seals key into a temporary file beside path, then links it into
// place (replace false: an existing file wins) or renames it over path.
func writeKey(path string, kr *secrets.Keyring, key []byte, replace bool) error {
	s, err := kr.Seal(keyAAD, key)
	if err != nil {
		return fmt.Errorf("sealing built-in IdP key: %w", err)
	}
	b, err := s.MarshalBinary()
	if err != nil {
		return fmt.Errorf("sealing built-in IdP key: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".idp-key-*") // mode 0600
	if err != nil {
		return fmt.Errorf("writing built-in IdP key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if err := errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("writing built-in IdP key: %w", err)
	}
	if replace {
		err = os.Rename(tmp, path)
	} else if err = os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("writing built-in IdP key: %w", err)
	}
	return nil
}

// localUsers adapts the store to idp.LocalUsers.
type localUsers struct{ s LocalUserStore }

func (l localUsers) LocalUserByEmail(ctx context.Context, email string) (idp.LocalUser, error) {
	u, err := l.s.GetLocalUserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return idp.LocalUser{}, idp.ErrNoUser
	}
	if err != nil {
		return idp.LocalUser{}, err
	}
	return idp.LocalUser{ID: u.ID, Email: u.Email, PasswordHash: u.PasswordHash}, nil
}

// idpClient is the RP's HTTP client: requests to the engine's own origin
// (the built-in IdP's discovery, JWKS and token endpoints) are served in
// process, so they work even where the public URL does not resolve or
// route from the engine itself; everything else goes out through
// Config.Transport.
func (a *Authn) idpClient() *http.Client {
	t := &localTransport{origin: a.origin, next: a.cfg.Transport, h: http.NotFoundHandler()}
	if a.idp != nil {
		t.h = a.idp
	}
	return &http.Client{Transport: t, Timeout: auth.DefaultHTTPTimeout}
}

// maxLocalResponse bounds what an in-process response may hold.
const maxLocalResponse = 1 << 20

// localTransport serves requests for origin with h and sends the rest to
// next.
type localTransport struct {
	origin string
	h      http.Handler
	next   http.RoundTripper
}

func (t *localTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if originOf(req.URL) != t.origin {
		return t.next.RoundTrip(req)
	}
	if req.Body != nil {
		defer req.Body.Close()
	}
	sreq := req.Clone(req.Context())
	sreq.RequestURI = req.URL.RequestURI()
	sreq.Host = req.URL.Host
	sreq.RemoteAddr = "127.0.0.1:0"
	if sreq.Body == nil {
		sreq.Body = http.NoBody
	}
	rec := &recorder{header: make(http.Header)}
	t.h.ServeHTTP(rec, sreq)
	if rec.overflow {
		return nil, fmt.Errorf("in-process response from %s exceeds %d bytes", req.URL.Path, maxLocalResponse)
	}
	return rec.response(req), nil
}

// recorder is the http.ResponseWriter of an in-process request.
type recorder struct {
	header   http.Header
	sent     http.Header // header as of WriteHeader
	status   int
	body     bytes.Buffer
	overflow bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status != 0 {
		return
	}
	r.status = status
	r.sent = r.header.Clone()
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	if r.body.Len()+len(b) > maxLocalResponse {
		r.overflow = true
		return 0, errors.New("response too large")
	}
	return r.body.Write(b)
}

func (r *recorder) response(req *http.Request) *http.Response {
	r.WriteHeader(http.StatusOK)
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", r.status, http.StatusText(r.status)),
		StatusCode:    r.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        r.sent,
		Body:          io.NopCloser(bytes.NewReader(r.body.Bytes())),
		ContentLength: int64(r.body.Len()),
		Request:       req,
	}
}
