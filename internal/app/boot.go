package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// listen binds the HTTP port at the start of Start, before NATS is reached:
// until Start has built the full mux, /healthz answers ok (the process is
// alive), /readyz answers 503 "starting" and everything else 503, so a pod
// that starts before NATS waits unready instead of crash-looping.
func (a *App) listen(cfg Config) error {
	a.ln = cfg.Listener
	if a.ln == nil {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return fmt.Errorf("listen %s: %w", cfg.Listen, err)
		}
		a.ln = ln
	}
	a.http = &http.Server{Handler: http.HandlerFunc(a.serve), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.http.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error().Err(err).Msg("http server stopped")
		}
	}()
	return nil
}

func (a *App) serve(w http.ResponseWriter, r *http.Request) {
	if h := a.handler.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	switch r.URL.Path {
	case "/healthz":
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	case "/readyz":
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting", "error": "waiting for nats"})
	default:
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
	}
}

// readyCheck is /readyz's question: NATS and the queue answer, and rules
// are loaded.
func (a *App) readyCheck(ctx context.Context) error {
	if err := a.q.Ready(ctx); err != nil {
		return err
	}
	if a.rules.Current() == nil {
		return errors.New("no rules")
	}
	return nil
}

// registerReady exports readiness as promobot_ready, asked at each scrape.
func (a *App) registerReady(reg prometheus.Registerer) error {
	err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "promobot_ready",
		Help: "1 when this process is ready (NATS and the queue answer, rules loaded), as /readyz says; 0 otherwise.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if a.readyCheck(ctx) != nil {
			return 0
		}
		return 1
	}))
	if err != nil {
		return fmt.Errorf("readiness metric: %w", err)
	}
	return nil
}
