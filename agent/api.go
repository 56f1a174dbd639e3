package agent

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/warrenhq/warren/controlplane/wire"
)

// HealthResponse answers GET /v1/health on the agent API.
type HealthResponse struct {
	Version  string `json:"version"`
	Hostname string `json:"hostname"`
	DeviceID string `json:"device_id"`
}

// apiServer serves the agent API. It listens only on the overlay address,
// and the device's peers are the engines alone, so only engines reach it.
func (a *Agent) apiServer(sess *sessions) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", a.handleHealth)
	sess.routes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
}

func (a *Agent) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSONResponse(w, http.StatusOK, HealthResponse{
		Version:  a.cfg.Version,
		Hostname: a.cfg.Hostname,
		DeviceID: a.State().DeviceID,
	})
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSONResponse(w, status, wire.ErrorBody{Error: wire.ErrorDetail{Code: code, Message: msg}})
}

func writeJSONResponse(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
