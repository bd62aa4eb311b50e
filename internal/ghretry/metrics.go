package ghretry

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

type metrics struct {
	retries   *prometheus.CounterVec
	waits     *prometheus.HistogramVec
	deferrals *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, log zerolog.Logger) *metrics {
	m := &metrics{
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promobot_github_retries_total", Help: "GitHub API requests retried, by reason.",
		}, []string{"reason"}),
		waits: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "promobot_github_wait_seconds", Help: "Waits before GitHub API requests (backoff, rate limits, content pacing), by reason.",
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 120},
		}, []string{"reason"}),
		deferrals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promobot_github_rate_limit_deferrals_total", Help: "GitHub API requests given up with a retry time because the rate-limit wait was too long.",
		}, []string{"reason"}),
	}
	m.retries = register(reg, log, m.retries)
	m.waits = register(reg, log, m.waits)
	m.deferrals = register(reg, log, m.deferrals)
	return m
}

// register shares an already registered collector, so several transports
// (one per process is usual, tests make many) count into the same series.
func register[T prometheus.Collector](reg prometheus.Registerer, log zerolog.Logger, c T) T {
	if reg == nil {
		return c
	}
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if ex, ok := are.ExistingCollector.(T); ok {
			return ex
		}
	}
	log.Error().Err(err).Msg("ghretry metrics not registered")
	return c
}
