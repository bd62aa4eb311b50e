package worker

import (
	"fmt"
	"time"

	"github.com/promobot/promobot/internal/promreg"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the worker's Prometheus series: every handled intent by
// outcome, and how long a promotion took from the webhook delivery that
// asked for it to its pull request (or direct commit).
type Metrics struct {
	intents *prometheus.CounterVec
	latency *prometheus.HistogramVec
	waits   prometheus.Counter
}

// LatencyBuckets span a promotion that is written at once (seconds) to one
// a gate held for a day.
var LatencyBuckets = []float64{1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600}

// NewMetrics registers the worker's series with reg (nil: unregistered).
// A second worker in one process shares the first one's.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		intents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "promobot", Subsystem: "worker", Name: "intents_total",
			Help: "Intents handled by the workers, by kind and outcome (committed, opened, updated, skipped, refused, delayed, failed).",
		}, []string{"kind", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "promobot", Name: "promotion_latency_seconds",
			Help:    "Time from the webhook delivery that asked for a promotion to its pull request opened or updated, or its direct commit, by outcome.",
			Buckets: LatencyBuckets,
		}, []string{"outcome"}),
		waits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "promobot", Subsystem: "worker", Name: "gate_waits_total",
			Help: "Promotions a gate held until a later time (deployment window, soak, health checks), each time it held one.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	if err := register(reg, &m.intents); err != nil {
		return nil, err
	}
	if err := register(reg, &m.latency); err != nil {
		return nil, err
	}
	if err := register(reg, &m.waits); err != nil {
		return nil, err
	}
	return m, nil
}

// register is promreg.Register, its error named.
func register[C prometheus.Collector](reg prometheus.Registerer, c *C) error {
	if err := promreg.Register(reg, c); err != nil {
		return fmt.Errorf("worker: metrics: %w", err)
	}
	return nil
}

// observe counts one handled intent; a promotion that reached GitHub also
// records its latency. A nil Metrics records nothing.
func (m *Metrics) observe(res Result, now time.Time) {
	if m == nil {
		return
	}
	m.intents.WithLabelValues(string(res.Intent.Kind), string(res.Outcome)).Inc()
	switch res.Outcome {
	case Refused:
		if !res.RetryAt.IsZero() {
			m.waits.Inc()
		}
	case Opened, Updated, Committed:
		if !res.Intent.CreatedAt.IsZero() {
			m.latency.WithLabelValues(string(res.Outcome)).Observe(max(now.Sub(res.Intent.CreatedAt).Seconds(), 0))
		}
	}
}
