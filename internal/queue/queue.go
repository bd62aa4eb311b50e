// Package queue is the durable queue of promotion intents over NATS
// JetStream. It moves opaque messages: one work-queue stream, one durable pull
// consumer shared by all workers, a dead-letter stream, and two key-value
// buckets (per-target leases and the PR writer's state). It knows nothing
// about promotion.
package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Defaults applied by Open to zero Config fields. AckWait and LeaseTTL bound
// how long the work of a worker that died comes back to another one: live
// workers heartbeat their deliveries every AckWait/3 and refresh their leases
// every LeaseTTL/3, so a short value costs a few small writes, not retries.
// A process restarted on its Instance takes its predecessor's work back at
// once instead.
const (
	DefaultStream          = "PROMOBOT_INTENTS"
	DefaultSubject         = "promobot.intents.>"
	DefaultConsumer        = "promobot-planner"
	DefaultDeadLetter      = "promobot.dead"
	DeadLetterStream       = "PROMOBOT_DEAD"
	LeaseBucket            = "promobot-leases"
	StateBucket            = "promobot-state"
	DefaultDuplicateWindow = 24 * time.Hour
	DefaultAckWait         = 20 * time.Second
	DefaultMaxDeliver      = 10
	DefaultLeaseTTL        = 20 * time.Second
	DefaultPublishTimeout  = 5 * time.Second
	DefaultDeadLetterAge   = 30 * 24 * time.Hour
)

// DefaultBackoff is the redelivery delay schedule for a Retry without an
// explicit delay; the last step repeats.
var DefaultBackoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}

// Config configures the queue. Zero fields take the defaults above.
type Config struct {
	Stream          string
	Subjects        []string
	Consumer        string        // durable consumer name
	DeadLetter      string        // subject prefix of the dead-letter stream PROMOBOT_DEAD
	DeadLetterAge   time.Duration // how long dead letters are kept
	DuplicateWindow time.Duration // a message id seen within it is stored once
	Replicas        int           // 1, or 3 on a cluster
	AckWait         time.Duration // workers heartbeat every AckWait/3; a dead worker's intent returns after it
	MaxDeliver      int           // deliveries before a message is dead-lettered
	Backoff         []time.Duration
	LeaseTTL        time.Duration // lease expiry when the holder stops refreshing
	PublishTimeout  time.Duration // bound on Publish waiting for acks
	// Instance, when set, is this worker process's directory across
	// restarts (OpenInstance): Open takes back at once the leases and
	// in-flight deliveries of a previous process on it that died, and
	// Consume records the deliveries in flight there.
	Instance *Instance
	// DeadLettered, when set, is called once a message is stored in the
	// dead-letter stream, whatever gave it up: the handler's Terminal, the
	// delivery limit, or a last delivery that died with its worker. It
	// runs on the consuming goroutine, after the message left the queue;
	// whoever recorded the message's progress forgets it there.
	DeadLettered func(DeadLetter)
	Registerer   prometheus.Registerer
	Logger       zerolog.Logger // zero value: no logs
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if len(c.Subjects) == 0 {
		c.Subjects = []string{DefaultSubject}
	}
	if c.Consumer == "" {
		c.Consumer = DefaultConsumer
	}
	if c.DeadLetter == "" {
		c.DeadLetter = DefaultDeadLetter
	}
	if c.DeadLetterAge == 0 {
		c.DeadLetterAge = DefaultDeadLetterAge
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.Backoff == nil {
		c.Backoff = DefaultBackoff
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	return c
}

// Queue is an open intent queue. It is safe for concurrent use.
type Queue struct {
	cfg    Config
	nc     *nats.Conn
	js     jetstream.JetStream
	cons   jetstream.Consumer
	leases jetstream.KeyValue
	state  jetstream.KeyValue
	m      *metrics
	log    zerolog.Logger

	boot     string // this process's boot id in leases; "" without a usable Instance
	recovery Recovery
}

// Open creates or updates the intent stream, the dead-letter stream, the
// durable consumer and the KV buckets, so every process may call it at
// start. Transient JetStream unavailability (a cluster still electing its
// leader) is retried until ctx ends.
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Queue, error) {
	cfg = cfg.withDefaults()
	if nc == nil {
		return nil, errors.New("queue: nil connection")
	}
	if cfg.MaxDeliver < 1 || cfg.Replicas < 1 || cfg.AckWait < 0 || cfg.LeaseTTL < 100*time.Millisecond {
		return nil, errors.New("queue: invalid config (MaxDeliver, Replicas >= 1, LeaseTTL >= 100ms)")
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout))
	if err != nil {
		return nil, fmt.Errorf("queue: jetstream: %w", err)
	}
	q := &Queue{cfg: cfg, nc: nc, js: js, m: m, log: cfg.Logger}
	for {
		// Each attempt is bounded so a request lost while a cluster
		// elects its leader is retried instead of waiting out ctx.
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = q.setup(actx)
		cancel()
		if err == nil {
			if err := q.registerDepth(cfg.Registerer); err != nil {
				return nil, err
			}
			if cfg.Instance != nil {
				q.recover(ctx)
			}
			return q, nil
		}
		if !transient(err) {
			return nil, err
		}
		q.log.Debug().Err(err).Msg("queue setup: jetstream not ready, retrying")
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (q *Queue) setup(ctx context.Context) error {
	cfg := q.cfg
	_, err := q.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "promobot promotion intents",
		Subjects:    cfg.Subjects,
		Retention:   jetstream.WorkQueuePolicy, // an acked intent is done
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Duplicates:  cfg.DuplicateWindow,
		Discard:     jetstream.DiscardOld,
	})
	if err != nil {
		return fmt.Errorf("queue: stream %s: %w", cfg.Stream, err)
	}
	_, err = q.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        DeadLetterStream,
		Description: "promobot intents that will not be retried",
		Subjects:    []string{cfg.DeadLetter + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		MaxAge:      cfg.DeadLetterAge,
		Duplicates:  time.Hour,
	})
	if err != nil {
		return fmt.Errorf("queue: stream %s: %w", DeadLetterStream, err)
	}
	// MaxDeliver is left unlimited on the server: the worker dead-letters a
	// message itself once NumDelivered passes Config.MaxDeliver, so even a
	// message whose last delivery died with its worker is not dropped.
	q.cons, err = q.js.CreateOrUpdateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
		Durable:       cfg.Consumer,
		Description:   "promobot planner workers",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 10000,
		Replicas:      cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("queue: consumer %s: %w", cfg.Consumer, err)
	}
	// Bucket TTL (stream MaxAge), not per-key TTL: Update, which Refresh
	// uses, writes a new revision without a per-key TTL, while MaxAge ages
	// every revision from its own write, so a refresh restarts the clock.
	q.leases, err = q.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      LeaseBucket,
		Description: "promobot per-target leases",
		TTL:         cfg.LeaseTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("queue: bucket %s: %w", LeaseBucket, err)
	}
	q.state, err = q.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      StateBucket,
		Description: "promobot PR writer state",
		History:     5,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("queue: bucket %s: %w", StateBucket, err)
	}
	return nil
}

// transient reports whether err may clear up by itself (no responders while
// JetStream starts, a cluster without a leader yet, a request timeout).
func transient(err error) bool {
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 503 || apiErr.Code == 408
	}
	return false
}

// Publish stores every message in the intent stream, with m.ID as the
// JetStream message id, and returns nil only when JetStream acknowledged all
// of them; an ack that reports a duplicate counts as stored. The messages
// are published asynchronously and the acks awaited together. Any failure,
// or no answer within Config.PublishTimeout (or before ctx ends), returns an
// error wrapping ErrUnavailable.
func (q *Queue) Publish(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, q.cfg.PublishTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		if m.Subject == "" {
			return errors.New("queue: publish: empty subject")
		}
		// The headers WithExpectStream and WithMsgID would set, written
		// directly: one map per message instead of option closures.
		hdr := nats.Header{jetstream.ExpectedStreamHeader: {q.cfg.Stream}}
		if m.ID != "" {
			hdr[jetstream.MsgIDHeader] = []string{m.ID}
		}
		nm := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: hdr}
		// Every request's messages are in flight on the shared JetStream
		// context at once (acks are matched by reply subject); the stall
		// wait lets a burst beyond PublishAsyncMaxPending queue until the
		// deadline instead of failing after the default 200 ms.
		f, err := q.js.PublishMsgAsync(nm, jetstream.WithStallWait(max(time.Until(deadline), time.Millisecond)))
		if err != nil {
			return fmt.Errorf("%w: publish %s: %w", ErrUnavailable, m.Subject, err)
		}
		futures = append(futures, f)
	}
	stored := 0
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				q.m.duplicates.Inc()
			} else {
				stored++
			}
		case err := <-f.Err():
			q.m.published.Add(float64(stored))
			return fmt.Errorf("%w: publish %s: %w", ErrUnavailable, f.Msg().Subject, err)
		case <-ctx.Done():
			q.m.published.Add(float64(stored))
			return fmt.Errorf("%w: waiting for acks: %w", ErrUnavailable, ctx.Err())
		}
	}
	q.m.published.Add(float64(stored))
	return nil
}

// Ready reports whether the connection is up and the intent stream answers,
// for /readyz.
func (q *Queue) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, q.cfg.PublishTimeout)
	defer cancel()
	if st := q.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("%w: connection %s", ErrUnavailable, st)
	}
	s, err := q.js.Stream(ctx, q.cfg.Stream)
	if err != nil {
		return fmt.Errorf("%w: stream %s: %w", ErrUnavailable, q.cfg.Stream, err)
	}
	if _, err := s.Info(ctx); err != nil {
		return fmt.Errorf("%w: stream %s: %w", ErrUnavailable, q.cfg.Stream, err)
	}
	return nil
}

// State is the "promobot-state" bucket for the PR writer (e.g. target → PR
// number). Keys must be passed through EscapeKey; values are opaque. The
// bucket keeps five revisions per key and never expires entries.
func (q *Queue) State() jetstream.KeyValue { return q.state }

// metrics are the queue's Prometheus counters; unregistered when the
// Config has no Registerer.
type metrics struct {
	published, duplicates, acked, retried, redelivered, deadLettered prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "promobot", Subsystem: "queue", Name: name, Help: help})
	}
	m := &metrics{
		published:    c("published_total", "Intents stored by JetStream."),
		duplicates:   c("duplicates_total", "Publishes JetStream dropped as duplicates within the window."),
		acked:        c("acked_total", "Intents acknowledged by a worker."),
		retried:      c("retried_total", "Intents handed back for a later retry."),
		redelivered:  c("redelivered_total", "Deliveries of an intent that had been delivered before."),
		deadLettered: c("dead_lettered_total", "Intents moved to the dead-letter stream."),
	}
	if reg == nil {
		return m, nil
	}
	for _, p := range []*prometheus.Counter{&m.published, &m.duplicates, &m.acked, &m.retried, &m.redelivered, &m.deadLettered} {
		if err := reg.Register(*p); err != nil {
			// A second Queue in one process shares the first one's counters.
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("queue: metrics: %w", err)
			}
			existing, ok := are.ExistingCollector.(prometheus.Counter)
			if !ok {
				return nil, fmt.Errorf("queue: metrics: %w", err)
			}
			*p = existing
		}
	}
	return m, nil
}
