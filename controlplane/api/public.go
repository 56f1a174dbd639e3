package api

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/warrenhq/warren/controlplane/enroll"
	"github.com/warrenhq/warren/controlplane/wire"
)

// Public returns the handler of the engine's public listener: GET /healthz,
// GET /metrics and POST /api/v1/enroll, plus whatever each of more registers
// (the login and session routes, the REST API).
func Public(enr *enroll.Service, reg *prometheus.Registry, log *slog.Logger, more ...func(*http.ServeMux)) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	for _, register := range more {
		register(mux)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("POST "+wire.EnrollPath, handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := wire.DecodeEnrollRequest(http.MaxBytesReader(w, r.Body, wire.MaxEnrollBody))
		if err != nil {
			return err
		}
		resp, err := enr.Enroll(r.Context(), req)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, resp)
		return nil
	}))
	mux.Handle("/", handle(log, func(w http.ResponseWriter, r *http.Request) error {
		return &Error{http.StatusNotFound, "route_not_found", "no such route"}
	}))
	return mux
}
