package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Action is what the queue does with a message once its handler returns.
type Action int

const (
	// Ack: done, the message leaves the queue.
	Ack Action = iota
	// Retry: redeliver after Outcome.Delay, or after the next Config.Backoff
	// step when Delay is 0. Past MaxDeliver it becomes Terminal.
	Retry
	// Terminal: never retry; the message is copied to the dead-letter
	// stream with Outcome.Reason, then terminated.
	Terminal
	// Release: hand the message back at once (e.g. on shutdown).
	Release
)

func (a Action) String() string {
	switch a {
	case Ack:
		return "ack"
	case Retry:
		return "retry"
	case Terminal:
		return "terminal"
	case Release:
		return "release"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Outcome is a handler's verdict on one delivery.
type Outcome struct {
	Action Action
	Delay  time.Duration // Retry only
	Reason string        // Retry and Terminal: why, for logs and dead letters
}

// Handler processes one delivery. ctx is cancelled only once the consumer
// has been stopped and the grace period has passed.
type Handler func(ctx context.Context, d *Delivery) Outcome

// Delivery is one delivery of a message to a handler. While the handler
// runs, the queue sends InProgress heartbeats every AckWait/3 by itself.
type Delivery struct {
	msg    jetstream.Msg
	meta   *jetstream.MsgMetadata
	mu     sync.Mutex // serialises heartbeats with the final ack
	record string     // its in-flight record in the Instance directory; "" without one
}

// Data is the message body.
func (d *Delivery) Data() []byte { return d.msg.Data() }

// Subject is the subject the message was published to.
func (d *Delivery) Subject() string { return d.msg.Subject() }

// MsgID is the message's Nats-Msg-Id ("" when published without one).
func (d *Delivery) MsgID() string { return d.msg.Headers().Get(jetstream.MsgIDHeader) }

// NumDelivered counts this delivery: 1 the first time.
func (d *Delivery) NumDelivered() uint64 { return d.meta.NumDelivered }

// Stamp is when JetStream stored the message.
func (d *Delivery) Stamp() time.Time { return d.meta.Timestamp }

// Sequence is the message's sequence number in the stream.
func (d *Delivery) Sequence() uint64 { return d.meta.Sequence.Stream }

// InProgress tells JetStream the handler is still working, resetting the
// ack timer. Handlers rarely need it: the queue heartbeats by itself.
func (d *Delivery) InProgress() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.msg.InProgress()
}

// ConsumeOption tunes Consume.
type ConsumeOption func(*consumeOptions)

type consumeOptions struct {
	grace     time.Duration
	fetchWait time.Duration
}

// DefaultGrace is how long in-flight handlers may keep running after Consume's
// context ends before their own context is cancelled.
const DefaultGrace = 30 * time.Second

// WithGrace sets how long in-flight handlers may run after Consume's ctx ends.
func WithGrace(d time.Duration) ConsumeOption {
	return func(o *consumeOptions) { o.grace = d }
}

// WithFetchWait sets how long one idle pull waits for a message; it bounds
// how long Consume takes to notice its ctx ended while idle.
func WithFetchWait(d time.Duration) ConsumeOption {
	return func(o *consumeOptions) {
		if d > 0 {
			o.fetchWait = d
		}
	}
}

// Consume runs workers goroutines that pull from the durable consumer, one
// message at a time each, until ctx is done. It then stops pulling, lets
// in-flight handlers finish (their context is cancelled after the grace
// period) and returns nil. Messages pulled after ctx ended are released.
func (q *Queue) Consume(ctx context.Context, workers int, h Handler, opts ...ConsumeOption) error {
	if workers < 1 {
		return errors.New("queue: consume: workers must be >= 1")
	}
	if h == nil {
		return errors.New("queue: consume: nil handler")
	}
	o := consumeOptions{grace: DefaultGrace, fetchWait: time.Second}
	for _, opt := range opts {
		opt(&o)
	}

	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(o.grace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			hcancel()
		}
	}()

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { q.work(ctx, hctx, h, o) })
	}
	wg.Wait()
	return nil
}

func (q *Queue) work(ctx, hctx context.Context, h Handler, o consumeOptions) {
	pause := func() {
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	for ctx.Err() == nil {
		// A bounded pull rather than a cancellable one: a message already
		// on its way when ctx ends is released, not stranded until AckWait.
		// JetStream delivers no earlier than it gets the pull request, so
		// its redelivery timer for what comes starts after this instant.
		pulled := time.Now()
		batch, err := q.cons.Fetch(1, jetstream.FetchMaxWait(o.fetchWait))
		if err != nil {
			q.log.Warn().Err(err).Str("consumer", q.cfg.Consumer).Msg("queue fetch failed")
			pause()
			continue
		}
		for msg := range batch.Messages() {
			if ctx.Err() != nil {
				q.settle(msg, nil, Outcome{Action: Release, Reason: "shutting down"})
				continue
			}
			q.handle(hctx, msg, h, pulled)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			q.log.Warn().Err(err).Str("consumer", q.cfg.Consumer).Msg("queue fetch failed")
			pause()
		}
	}
}

func (q *Queue) handle(ctx context.Context, msg jetstream.Msg, h Handler, pulled time.Time) {
	meta, err := msg.Metadata()
	if err != nil {
		// Not a JetStream delivery: nothing to ack, nothing to retry.
		q.log.Error().Err(err).Str("subject", msg.Subject()).Msg("queue message without metadata")
		return
	}
	d := &Delivery{msg: msg, meta: meta}
	if meta.NumDelivered > 1 {
		q.m.redelivered.Inc()
	}
	limit := uint64(q.cfg.MaxDeliver)
	var out Outcome
	if meta.NumDelivered > limit {
		// The previous delivery never settled (worker died): do not try again.
		out = Outcome{Action: Terminal, Reason: fmt.Sprintf("delivered %d times, limit %d", meta.NumDelivered, limit)}
	} else {
		q.track(d, pulled)
		out = q.run(ctx, d, h)
		q.untrack(d)
		if out.Action == Retry && meta.NumDelivered >= limit {
			out = Outcome{Action: Terminal, Reason: fmt.Sprintf("gave up after %d deliveries: %s", meta.NumDelivered, out.Reason)}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	q.settle(msg, meta, out)
}

// run calls the handler with heartbeats going, and turns a panic into a Retry.
func (q *Queue) run(ctx context.Context, d *Delivery, h Handler) (out Outcome) {
	stop := make(chan struct{})
	var hb sync.WaitGroup
	hb.Go(func() {
		t := time.NewTicker(max(q.cfg.AckWait/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := q.beat(d); err != nil {
					q.log.Warn().Err(err).Str("subject", d.Subject()).Msg("queue heartbeat failed")
				}
			}
		}
	})
	defer func() {
		close(stop)
		hb.Wait()
		if r := recover(); r != nil {
			out = Outcome{Action: Retry, Reason: fmt.Sprintf("handler panic: %v", r)}
		}
	}()
	return h(ctx, d)
}

// beat sends a heartbeat and waits for JetStream to confirm it; with an
// Instance, the delivery's in-flight record then notes when it was sent
// (JetStream redelivers no earlier than AckWait after that).
func (q *Queue) beat(d *Delivery) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	timeout := min(max(q.cfg.AckWait/3, 100*time.Millisecond), q.cfg.PublishTimeout)
	sent := time.Now()
	if _, err := q.nc.Request(d.msg.Reply(), []byte("+WPI"), timeout); err != nil {
		return err
	}
	if d.record != "" {
		q.record(d, sent)
	}
	return nil
}

// track records d as in flight in the Instance directory, so that a process
// restarted on it after a crash hands d back at once. The record must never
// claim a later redelivery time than JetStream's: it starts from when the
// pull that brought d was sent, and each confirmed heartbeat moves it on.
func (q *Queue) track(d *Delivery, pulled time.Time) {
	if d.record = q.journalPath(d.meta); d.record == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	q.record(d, pulled)
}

// untrack removes d's in-flight record once its handler returned.
func (q *Queue) untrack(d *Delivery) {
	if d.record == "" {
		return
	}
	if err := os.Remove(d.record); err != nil && !errors.Is(err, os.ErrNotExist) {
		q.log.Warn().Err(err).Str("subject", d.Subject()).Msg("queue in-flight record not removed")
	}
}

// settle applies an outcome. meta is nil for a message released unread.
func (q *Queue) settle(msg jetstream.Msg, meta *jetstream.MsgMetadata, out Outcome) {
	ev := q.log.With().Str("subject", msg.Subject()).Str("msg_id", msg.Headers().Get(jetstream.MsgIDHeader)).
		Str("action", out.Action.String()).Str("reason", out.Reason).Logger()
	var n uint64 = 1
	if meta != nil {
		n = meta.NumDelivered
	}
	switch out.Action {
	case Ack:
		ctx, cancel := context.WithTimeout(context.Background(), q.cfg.PublishTimeout)
		defer cancel()
		if err := msg.DoubleAck(ctx); err != nil {
			ev.Warn().Err(err).Msg("queue ack failed; message will be redelivered")
			return
		}
		q.m.acked.Inc()
	case Terminal:
		dl, err := q.deadLetter(msg, n, out.Reason)
		if err != nil {
			// Never drop: keep the message in the queue and try again later.
			ev.Error().Err(err).Msg("queue dead-letter publish failed; message kept")
			if err := msg.NakWithDelay(q.backoff(n)); err != nil {
				ev.Warn().Err(err).Msg("queue nak failed")
			}
			return
		}
		q.m.deadLettered.Inc()
		if err := msg.TermWithReason(headerValue(out.Reason)); err != nil {
			ev.Warn().Err(err).Msg("queue term failed; a redelivery will be dead-lettered again and deduplicated")
		}
		ev.Warn().Msg("queue message dead-lettered")
		if q.cfg.DeadLettered != nil {
			q.cfg.DeadLettered(dl)
		}
	case Release:
		if err := msg.Nak(); err != nil {
			ev.Warn().Err(err).Msg("queue release failed; message returns after AckWait")
		}
	default: // Retry, and anything unknown, which must not lose the message
		delay := out.Delay
		if delay <= 0 {
			delay = q.backoff(n)
		}
		var err error
		if delay > 0 {
			err = msg.NakWithDelay(delay)
		} else {
			err = msg.Nak()
		}
		if err != nil {
			ev.Warn().Err(err).Msg("queue nak failed; message returns after AckWait")
			return
		}
		q.m.retried.Inc()
	}
}

// backoff is the delay before delivery n+1 of a Retry without explicit delay.
func (q *Queue) backoff(n uint64) time.Duration {
	b := q.cfg.Backoff
	if len(b) == 0 {
		return 0
	}
	i := int(min(n, uint64(len(b)))) - 1
	return b[max(i, 0)]
}
