package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/netstack"
)

var errNoRedirect = errors.New("server redirected the enrollment request; give its final URL as --server")

// maxEnrollResponse caps an enrollment answer (success or error envelope).
const maxEnrollResponse = 64 << 10

// EnrollConfig configures Enroll. Zero values are the documented defaults.
type EnrollConfig struct {
	// Server is the engine's base URL, e.g. https://warren.example.com.
	// Plain http:// is refused unless the host is loopback or Insecure is set.
	Server string
	// Token is the single-use registration token.
	Token string
	// StateDir is where the enrollment is stored ("" = DefaultStateDir()).
	StateDir string
	// Name is the device name to ask for ("" = let the engine choose).
	Name string
	// Insecure allows a plain http:// server on a non-loopback host. It does
	// not disable TLS certificate verification.
	Insecure bool
	// Force replaces an existing enrollment in StateDir.
	Force bool
	// Hostname, OS and Version are reported to the engine ("" = os.Hostname(),
	// runtime.GOOS, "dev").
	Hostname, OS, Version string
	// HTTPClient sends the request (nil = a client with a 30 s timeout that
	// refuses redirects).
	HTTPClient *http.Client
}

// EnrollError is an enrollment refused by the engine.
type EnrollError struct {
	StatusCode int    // HTTP status
	Code       string // the API error code, "" if the body was not an error envelope
	Message    string
}

func (e *EnrollError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("server answered HTTP %d", e.StatusCode)
	}
	return e.Code + ": " + e.Message
}

// Enroll registers this machine with the engine and stores the enrollment in
// cfg.StateDir. Nothing is written unless the engine accepts the token.
func Enroll(ctx context.Context, cfg EnrollConfig) (State, error) {
	cfg.setDefaults()
	base, err := checkServerURL(cfg.Server, cfg.Insecure)
	if err != nil {
		return State{}, err
	}
	if cfg.Token == "" {
		return State{}, errors.New("missing enrollment token")
	}
	if err := checkNotEnrolled(cfg.StateDir, cfg.Force); err != nil {
		return State{}, err
	}
	key, err := netstack.GenerateKey()
	if err != nil {
		return State{}, fmt.Errorf("generating key: %w", err)
	}
	req := wire.EnrollRequest{
		Token:       cfg.Token,
		WGPublicKey: key.Public().String(),
		Name:        cfg.Name,
		Hostname:    cfg.Hostname,
		OS:          cfg.OS,
		Version:     cfg.Version,
	}
	if err := req.Validate(); err != nil {
		return State{}, err
	}
	resp, err := postEnroll(ctx, cfg.HTTPClient, base+wire.EnrollPath, req)
	if err != nil {
		return State{}, err
	}
	st := State{
		ServerURL:  base,
		DeviceID:   resp.DeviceID,
		Name:       resp.Name,
		PrivateKey: PrivateKey(key),
		Engines:    resp.Engines,
		Insecure:   cfg.Insecure,
	}
	st.OverlayIP, _ = netip.ParseAddr(resp.OverlayIP)
	st.Prefix, _ = netip.ParsePrefix(resp.Prefix)
	if err := SaveState(cfg.StateDir, st); err != nil {
		return State{}, err
	}
	// What the previous enrollment learned belongs to another device.
	os.Remove(filepath.Join(cfg.StateDir, netmapFile))
	os.Remove(filepath.Join(cfg.StateDir, statusFile))
	return st, nil
}

func (cfg *EnrollConfig) setDefaults() {
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir()
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	if cfg.OS == "" {
		cfg.OS = runtime.GOOS
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout: 30 * time.Second,
			// A redirect could carry the token to another host or to plain
			// HTTP: the enrollment endpoint has no reason to redirect.
			CheckRedirect: func(*http.Request, []*http.Request) error { return errNoRedirect },
		}
	}
}

// checkServerURL validates the server URL and returns it without a trailing
// slash. Plain HTTP would expose the token and let anyone on the path hand
// us their own engine key, so it is allowed only to loopback unless insecure.
func checkServerURL(server string, insecure bool) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("server URL: %w", err)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("server URL %q: want https://host[:port][/path]", server)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !insecure && !isLoopback(u.Hostname()) {
			return "", fmt.Errorf("refusing plain http:// to %s: use https://, or --insecure if you really mean it", u.Host)
		}
	default:
		return "", fmt.Errorf("server URL %q: scheme must be https", server)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// checkNotEnrolled refuses to overwrite an existing enrollment unless forced.
func checkNotEnrolled(dir string, force bool) error {
	path := filepath.Join(dir, stateFile)
	_, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("checking state directory: %w", err)
	case force:
		return nil
	}
	return fmt.Errorf("already enrolled (%s exists); to re-enroll, pass --force or remove %s", path, dir)
}

func postEnroll(ctx context.Context, client *http.Client, u string, req wire.EnrollRequest) (wire.EnrollResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return wire.EnrollResponse{}, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return wire.EnrollResponse{}, fmt.Errorf("enrolling: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hresp, err := client.Do(hreq)
	if err != nil {
		return wire.EnrollResponse{}, fmt.Errorf("enrolling: %w", err)
	}
	defer hresp.Body.Close()
	if hresp.StatusCode/100 != 2 {
		return wire.EnrollResponse{}, decodeEnrollError(hresp.StatusCode, hresp.Body)
	}
	resp, err := decodeEnrollResponse(hresp.Body)
	if err != nil {
		return wire.EnrollResponse{}, fmt.Errorf("enrolling: bad answer from server: %w", err)
	}
	return resp, nil
}

func decodeEnrollError(status int, r io.Reader) error {
	var eb wire.ErrorBody
	if err := decodeStrict(r, maxEnrollResponse, &eb); err != nil || eb.Error.Code == "" {
		return &EnrollError{StatusCode: status}
	}
	return &EnrollError{StatusCode: status, Code: eb.Error.Code, Message: eb.Error.Message}
}

// decodeEnrollResponse reads and validates a successful enrollment answer.
func decodeEnrollResponse(r io.Reader) (wire.EnrollResponse, error) {
	var resp wire.EnrollResponse
	if err := decodeStrict(r, maxEnrollResponse, &resp); err != nil {
		return wire.EnrollResponse{}, err
	}
	if resp.DeviceID == "" {
		return wire.EnrollResponse{}, &wire.FieldError{Field: "device_id", Reason: "missing"}
	}
	ip, err := netip.ParseAddr(resp.OverlayIP)
	if err != nil {
		return wire.EnrollResponse{}, &wire.FieldError{Field: "overlay_ip", Reason: "not an IP address"}
	}
	if p, err := netip.ParsePrefix(resp.Prefix); err != nil || !p.Contains(ip) {
		return wire.EnrollResponse{}, &wire.FieldError{Field: "prefix", Reason: "not a prefix holding overlay_ip"}
	}
	if len(resp.Engines) == 0 {
		return wire.EnrollResponse{}, &wire.FieldError{Field: "engines", Reason: "empty"}
	}
	for i, e := range resp.Engines {
		if err := validEngine(e); err != nil {
			return wire.EnrollResponse{}, &wire.FieldError{Field: fmt.Sprintf("engines[%d]", i), Reason: err.Error()}
		}
	}
	return resp, nil
}

// decodeStrict decodes exactly one JSON value of at most limit bytes from r
// into v, rejecting unknown fields and trailing data.
func decodeStrict(r io.Reader, limit int64, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	if int64(len(data)) > limit {
		return wire.ErrTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", wire.ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data", wire.ErrMalformed)
	}
	return nil
}
