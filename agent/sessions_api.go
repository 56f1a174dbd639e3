package agent

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/coder/websocket"

	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/protocols/stream"
)

// routes registers the session endpoints of wire/session.go on mux.
func (m *sessions) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+wire.SessionsPath, m.handleOpen)
	mux.HandleFunc("GET "+wire.SessionsPath, m.handleList)
	mux.HandleFunc("GET "+wire.SessionsPath+"/{id}", m.handleGet)
	mux.HandleFunc("DELETE "+wire.SessionsPath+"/{id}", m.handleTerminate)
	mux.HandleFunc("GET "+wire.SessionsPath+"/{id}/attach", m.handleAttach)
}

// handleOpen: POST /v1/sessions. The body carries a credential: it is read
// into a buffer that is zeroed once decoded, and the decoded copy is
// dropped once the SSH handshake is done.
func (m *sessions) handleOpen(w http.ResponseWriter, r *http.Request) {
	// The body is read before the handler counts in: shutdown must not
	// wait for a slow client (the server's Close cuts it).
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, wire.MaxSessionBody))
	defer clear(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "body too large or unreadable")
		return
	}
	if !m.enter() {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "agent is stopping")
		return
	}
	defer m.wg.Done()
	req, err := wire.DecodeOpenSession(bytes.NewReader(body))
	if err != nil {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, decodeMessage(err))
		return
	}
	s, err := m.open(r.Context(), req)
	req.Password, req.PrivateKey = "", ""
	var oe *openError
	if errors.As(err, &oe) {
		m.log.Warn("session open refused", keySession, req.ID, "request", req, "code", oe.code, "err", oe.err)
		writeError(w, oe.status, oe.code, oe.message)
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	writeJSONResponse(w, http.StatusCreated, s.info())
}

// decodeMessage is the client-facing text of a decoding error: field
// errors name the field; anything else is generic.
func decodeMessage(err error) string {
	var fe *wire.FieldError
	switch {
	case errors.As(err, &fe):
		return fe.Error()
	case errors.Is(err, wire.ErrTooLarge):
		return "body too large"
	}
	return "malformed JSON body"
}

func (m *sessions) handleList(w http.ResponseWriter, r *http.Request) {
	writeJSONResponse(w, http.StatusOK, m.list())
}

func (m *sessions) handleGet(w http.ResponseWriter, r *http.Request) {
	s := m.get(r.PathValue("id"))
	if s == nil {
		writeError(w, http.StatusNotFound, wire.CodeSessionNotFound, "no such session")
		return
	}
	writeJSONResponse(w, http.StatusOK, s.info())
}

func (m *sessions) handleTerminate(w http.ResponseWriter, r *http.Request) {
	if !m.terminate(r.Context(), r.PathValue("id")) {
		writeError(w, http.StatusNotFound, wire.CodeSessionNotFound, "no such session")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// attachQuery is an attach request's parameters.
type attachQuery struct {
	mayDrive, takeover, hidden bool
	offset                     uint64
	resume                     bool
	viewerID                   string
}

func parseAttachQuery(r *http.Request) (attachQuery, string) {
	q := r.URL.Query()
	var a attachQuery
	switch q.Get("role") {
	case "", stream.RoleObserver:
	case stream.RoleDriver:
		a.mayDrive = true
	default:
		return a, "role must be driver or observer"
	}
	if q.Has("offset") {
		off, err := strconv.ParseUint(q.Get("offset"), 10, 64)
		if err != nil {
			return a, "offset must be a decimal byte offset"
		}
		a.offset, a.resume = off, true
	}
	a.viewerID = q.Get("viewer")
	if len(a.viewerID) > wire.MaxSessionIDLen || !visibleASCII(a.viewerID) {
		return a, "viewer must be at most 64 visible ASCII characters"
	}
	a.takeover = q.Get("takeover") == "1"
	a.hidden = q.Get("hidden") == "1"
	return a, ""
}

func visibleASCII(s string) bool {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// handleAttach: GET /v1/sessions/{id}/attach, a WebSocket of stream
// frames. Only engines reach the agent API (it listens on the overlay
// alone), so there is no Origin to check.
func (m *sessions) handleAttach(w http.ResponseWriter, r *http.Request) {
	if !m.enter() {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "agent is stopping")
		return
	}
	defer m.wg.Done()
	s := m.get(r.PathValue("id"))
	if s == nil {
		writeError(w, http.StatusNotFound, wire.CodeSessionNotFound, "no such session")
		return
	}
	q, bad := parseAttachQuery(r)
	if bad != "" {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, bad)
		return
	}
	v := newViewer(q.viewerID, q.hidden, q.mayDrive)
	if err := s.addViewer(v, q.takeover); err != nil {
		writeError(w, http.StatusTooManyRequests, wire.CodeSessionLimit, err.Error())
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		v.cancel()
		s.removeViewer(v)
		return
	}
	m.log.Info("viewer attached", keySession, s.id, "viewer", v.id, "driver", q.mayDrive, "hidden", v.hidden,
		"offset", q.offset, "resume", q.resume)
	s.serveViewer(stream.WebSocketConn(c), v, q.offset, q.resume)
	m.log.Info("viewer detached", keySession, s.id, "viewer", v.id)
}
