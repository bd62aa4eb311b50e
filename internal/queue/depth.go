package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// The queue's depth, read from JetStream when Prometheus scrapes: every
// process reports the same numbers (dashboards take the max).
var (
	pendingDesc = prometheus.NewDesc("promobot_queue_pending",
		"Intents stored and not yet delivered to a worker (the consumer's num_pending).", nil, nil)
	ackPendingDesc = prometheus.NewDesc("promobot_queue_ack_pending",
		"Intents delivered to a worker and not yet settled (the consumer's num_ack_pending).", nil, nil)
	oldestDesc = prometheus.NewDesc("promobot_queue_oldest_intent_age_seconds",
		"Age of the oldest intent not yet done, pending or in a worker's hands (0: none).", nil, nil)
	deadDesc = prometheus.NewDesc("promobot_queue_dead_letters",
		"Intents in the dead-letter stream PROMOBOT_DEAD.", nil, nil)
)

// depthTimeout bounds the JetStream requests of one scrape.
const depthTimeout = 2 * time.Second

type depthCollector struct {
	q   *Queue
	now func() time.Time
}

// Depth is the queue's depth at one moment.
type Depth struct {
	Pending, AckPending uint64
	DeadLetters         uint64
	Oldest              time.Time // zero: no intent waits
}

// Depth reads the consumer's and the streams' state. In a work-queue stream
// an acknowledged intent is removed, so the stream's first message is the
// oldest intent not yet done.
func (q *Queue) Depth(ctx context.Context) (Depth, error) {
	var d Depth
	ci, err := q.cons.Info(ctx)
	if err != nil {
		return d, fmt.Errorf("queue depth: consumer: %w", err)
	}
	d.Pending, d.AckPending = ci.NumPending, uint64(ci.NumAckPending)
	si, err := q.streamInfo(ctx, q.cfg.Stream)
	if err != nil {
		return d, err
	}
	if si.State.Msgs > 0 {
		d.Oldest = si.State.FirstTime
	}
	di, err := q.streamInfo(ctx, DeadLetterStream)
	if err != nil {
		return d, err
	}
	d.DeadLetters = di.State.Msgs
	return d, nil
}

func (q *Queue) streamInfo(ctx context.Context, name string) (*jetstream.StreamInfo, error) {
	s, err := q.js.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("queue depth: stream %s: %w", name, err)
	}
	si, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue depth: stream %s: %w", name, err)
	}
	return si, nil
}

func (c depthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- ackPendingDesc
	ch <- oldestDesc
	ch <- deadDesc
}

// Collect reports nothing when JetStream does not answer (readiness says
// so); the scrape's other metrics still go out.
func (c depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), depthTimeout)
	defer cancel()
	d, err := c.q.Depth(ctx)
	if err != nil {
		c.q.log.Warn().Err(err).Msg("queue depth not reported in this scrape")
		return
	}
	age := 0.0
	if !d.Oldest.IsZero() {
		age = max(c.now().Sub(d.Oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(d.Pending))
	ch <- prometheus.MustNewConstMetric(ackPendingDesc, prometheus.GaugeValue, float64(d.AckPending))
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(deadDesc, prometheus.GaugeValue, float64(d.DeadLetters))
}

// registerDepth adds the depth gauges to reg; a second Queue in one process
// leaves the first one's in place.
func (q *Queue) registerDepth(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	err := reg.Register(depthCollector{q: q, now: time.Now})
	var are prometheus.AlreadyRegisteredError
	if err != nil && !errors.As(err, &are) {
		return fmt.Errorf("queue: metrics: %w", err)
	}
	return nil
}
