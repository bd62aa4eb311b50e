package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

func msg(i int) Message {
	return Message{
		Subject: fmt.Sprintf("promobot.intents.acme_2Fgitops.svc%d.dev", i%7),
		ID:      fmt.Sprintf("delivery-%d:0", i),
		Data:    []byte(fmt.Sprintf(`{"n":%d}`, i)),
	}
}

func TestPublishConsumeAllOnceWithDuplicates(t *testing.T) {
	reg := prometheus.NewRegistry()
	q, _ := newQueue(t, Config{Registerer: reg})

	const n = 200
	var batch []Message
	for i := range n {
		batch = append(batch, msg(i))
	}
	batch = append(batch, msg(0), msg(1)) // same id twice in one publish
	publish(t, q, batch...)
	publish(t, q, msg(2), msg(3)) // a redelivered webhook
	if got := streamMsgs(t, q); got != n {
		t.Fatalf("stream holds %d messages, want %d", got, n)
	}

	var mu sync.Mutex
	seen := map[string]int{}
	all := make(chan struct{})
	stop := consume(t, q, 4, func(_ context.Context, d *Delivery) Outcome {
		mu.Lock()
		defer mu.Unlock()
		seen[d.MsgID()]++
		want := msg(0)
		if d.MsgID() == want.ID && (!bytes.Equal(d.Data(), want.Data) || d.Subject() != want.Subject) {
			t.Errorf("delivery %s: subject %q data %q", d.MsgID(), d.Subject(), d.Data())
		}
		if d.Stamp().IsZero() || d.NumDelivered() != 1 {
			t.Errorf("delivery %s: stamp %v, delivered %d", d.MsgID(), d.Stamp(), d.NumDelivered())
		}
		if len(seen) == n {
			select {
			case <-all:
			default:
				close(all)
			}
		}
		return Outcome{Action: Ack}
	})
	select {
	case <-all:
	case <-time.After(waitLong):
		t.Fatalf("consumed %d of %d", len(seen), n)
	}
	settled(t, q)
	stop()

	for i := range n {
		if c := seen[msg(i).ID]; c != 1 {
			t.Errorf("%s delivered %d times", msg(i).ID, c)
		}
	}
	info := consumerInfo(t, q)
	if info.Delivered.Consumer != n || info.NumRedelivered != 0 {
		t.Errorf("consumer delivered %d (redelivered %d), want %d once each", info.Delivered.Consumer, info.NumRedelivered, n)
	}
	if got := streamMsgs(t, q); got != 0 {
		t.Errorf("work queue still holds %d acked messages", got)
	}
	if got := counter(t, reg, "promobot_queue_published_total"); got != n {
		t.Errorf("published_total = %v, want %d", got, n)
	}
	if got := counter(t, reg, "promobot_queue_duplicates_total"); got != 4 {
		t.Errorf("duplicates_total = %v, want 4", got)
	}
	if got := counter(t, reg, "promobot_queue_acked_total"); got != n {
		t.Errorf("acked_total = %v, want %d", got, n)
	}
}

func TestPublishUnavailable(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(e *Embedded)
		msg     Message
	}{
		{name: "server shut down", breakIt: func(e *Embedded) { e.Shutdown() }, msg: msg(1)},
		{name: "subject bound to no stream", breakIt: func(*Embedded) {}, msg: Message{Subject: "elsewhere.x", ID: "x", Data: []byte("{}")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, e := newQueue(t, Config{PublishTimeout: 500 * time.Millisecond})
			publish(t, q, msg(0))
			tt.breakIt(e)

			done := make(chan error, 1)
			go func() { done <- q.Publish(context.Background(), []Message{tt.msg, msg(2)}) }()
			select {
			case err := <-done:
				if !isUnavailable(err) {
					t.Fatalf("Publish error = %v, want ErrUnavailable", err)
				}
			case <-time.After(waitLong):
				t.Fatal("Publish did not return")
			}
		})
	}
}

func TestPublishHonoursContext(t *testing.T) {
	q, _ := newQueue(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.Publish(ctx, []Message{msg(1)}); !isUnavailable(err) {
		t.Fatalf("Publish with cancelled ctx = %v, want ErrUnavailable", err)
	}
	if err := q.Publish(context.Background(), []Message{{ID: "x"}}); err == nil || isUnavailable(err) {
		t.Fatalf("Publish without subject = %v, want a caller error", err)
	}
	if err := q.Publish(context.Background(), nil); err != nil {
		t.Fatalf("Publish of nothing = %v", err)
	}
}

func TestRetryRedelivers(t *testing.T) {
	tests := []struct {
		name  string
		first func() Outcome
	}{
		{"explicit delay", func() Outcome { return Outcome{Action: Retry, Delay: 100 * time.Millisecond, Reason: "gate closed"} }},
		{"backoff", func() Outcome { return Outcome{Action: Retry, Reason: "github 502"} }},
		{"handler panic", func() Outcome { panic("boom") }},
		{"unknown action", func() Outcome { return Outcome{Action: Action(42)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			q, _ := newQueue(t, Config{Backoff: []time.Duration{50 * time.Millisecond}, Registerer: reg})
			publish(t, q, msg(1))
			deliveries := make(chan uint64, 10)
			consume(t, q, 2, func(_ context.Context, d *Delivery) Outcome {
				deliveries <- d.NumDelivered()
				if d.NumDelivered() == 1 {
					return tt.first()
				}
				return Outcome{Action: Ack}
			})
			for want := uint64(1); want <= 2; want++ {
				select {
				case got := <-deliveries:
					if got != want {
						t.Fatalf("delivery %d reports NumDelivered %d", want, got)
					}
				case <-time.After(waitLong):
					t.Fatalf("no delivery %d", want)
				}
			}
			settled(t, q)
			if got := counter(t, reg, "promobot_queue_retried_total"); got != 1 {
				t.Errorf("retried_total = %v, want 1", got)
			}
			if got := counter(t, reg, "promobot_queue_redelivered_total"); got != 1 {
				t.Errorf("redelivered_total = %v, want 1", got)
			}
		})
	}
}

func TestTerminalDeadLetters(t *testing.T) {
	reg := prometheus.NewRegistry()
	q, _ := newQueue(t, Config{Registerer: reg})
	m := msg(5)
	publish(t, q, m)
	calls := make(chan struct{}, 10)
	consume(t, q, 1, func(context.Context, *Delivery) Outcome {
		calls <- struct{}{}
		return Outcome{Action: Terminal, Reason: "404 apps/x/kustomization.yaml\r\nX-Injected: yes"}
	})
	got := deadLetters(t, q, 1)
	settled(t, q)
	if len(got) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(got))
	}
	dl := got[0]
	if dl.Subject != m.Subject || dl.MsgID != m.ID || !bytes.Equal(dl.Data, m.Data) || dl.NumDelivered != 1 {
		t.Errorf("dead letter = %+v, want subject %s id %s", dl, m.Subject, m.ID)
	}
	if dl.Reason != "404 apps/x/kustomization.yaml  X-Injected: yes" {
		t.Errorf("reason = %q", dl.Reason)
	}
	if dl.Time.IsZero() {
		t.Error("dead letter without time")
	}
	if n := streamMsgs(t, q); n != 0 {
		t.Errorf("intent stream still holds %d messages", n)
	}
	if len(calls) != 1 {
		t.Errorf("handler called %d times, want 1", len(calls))
	}
	if v := counter(t, reg, "promobot_queue_dead_lettered_total"); v != 1 {
		t.Errorf("dead_lettered_total = %v", v)
	}
}

func TestMaxDeliverDeadLetters(t *testing.T) {
	q, _ := newQueue(t, Config{MaxDeliver: 3})
	m := msg(9)
	publish(t, q, m)
	deliveries := make(chan uint64, 10)
	consume(t, q, 2, func(_ context.Context, d *Delivery) Outcome {
		deliveries <- d.NumDelivered()
		return Outcome{Action: Retry, Delay: 10 * time.Millisecond, Reason: "github 503"}
	})
	got := deadLetters(t, q, 1)
	settled(t, q)
	if got[0].MsgID != m.ID || got[0].NumDelivered != 3 || !strings.Contains(got[0].Reason, "github 503") {
		t.Errorf("dead letter = %+v", got[0])
	}
	close(deliveries)
	var seen []uint64
	for n := range deliveries {
		seen = append(seen, n)
	}
	if fmt.Sprint(seen) != "[1 2 3]" {
		t.Errorf("handler saw deliveries %v, want [1 2 3]", seen)
	}
}

// A worker that dies holding the last allowed delivery must not make the
// message vanish: the next delivery goes straight to the dead letters.
func TestCrashedLastDeliveryDeadLetters(t *testing.T) {
	q, _ := newQueue(t, Config{MaxDeliver: 1, AckWait: time.Second})
	m := msg(3)
	publish(t, q, m)

	// The "crashed worker": takes the message and never settles it.
	batch, err := q.cons.Fetch(1, jetstream.FetchMaxWait(waitLong))
	if err != nil {
		t.Fatal(err)
	}
	if got := <-batch.Messages(); got == nil {
		t.Fatal("no message fetched")
	}

	var called atomic.Int32
	consume(t, q, 1, func(context.Context, *Delivery) Outcome {
		called.Add(1)
		return Outcome{Action: Ack}
	})
	got := deadLetters(t, q, 1)
	if got[0].MsgID != m.ID || got[0].NumDelivered != 2 || !strings.Contains(got[0].Reason, "limit 1") {
		t.Errorf("dead letter = %+v", got[0])
	}
	if called.Load() != 0 {
		t.Errorf("handler ran %d times on an exhausted message", called.Load())
	}
}

func TestMessagesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	e := startServer(t, dir)
	nc := connect(t, e)
	q := openQueue(t, nc, Config{})
	const n = 20
	var batch []Message
	for i := range n {
		batch = append(batch, msg(i))
	}
	publish(t, q, batch...)
	nc.Close()
	e.Shutdown()

	e2 := startServer(t, dir)
	q2 := openQueue(t, connect(t, e2), Config{})
	got := make(chan string, n)
	stop := consume(t, q2, 3, func(_ context.Context, d *Delivery) Outcome {
		got <- d.MsgID()
		return Outcome{Action: Ack}
	})
	seen := map[string]bool{}
	for len(seen) < n {
		select {
		case id := <-got:
			seen[id] = true
		case <-time.After(waitLong):
			t.Fatalf("after restart consumed %d of %d", len(seen), n)
		}
	}
	stop()
	// The duplicate window survives too: republishing is a no-op.
	publish(t, q2, batch[0])
	if m := streamMsgs(t, q2); m != 0 {
		t.Errorf("republish after restart stored %d messages, want 0 (duplicate)", m)
	}
}

func TestConsumeWaitsForInFlightHandler(t *testing.T) {
	q, _ := newQueue(t, Config{})
	publish(t, q, msg(1))
	started := make(chan struct{})
	release := make(chan struct{})
	var finished atomic.Bool
	var ctxErrAtRelease atomic.Value
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- q.Consume(ctx, 2, func(hctx context.Context, _ *Delivery) Outcome {
			close(started)
			<-release
			ctxErrAtRelease.Store(fmt.Sprint(hctx.Err()))
			finished.Store(true)
			return Outcome{Action: Ack}
		}, WithGrace(time.Minute), WithFetchWait(100*time.Millisecond))
	}()
	select {
	case <-started:
	case <-time.After(waitLong):
		t.Fatal("handler not started")
	}
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Consume returned (%v) while a handler was running", err)
	case <-time.After(300 * time.Millisecond): // a negative check: a slow machine only makes it pass
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLong):
		t.Fatal("Consume did not return")
	}
	if !finished.Load() {
		t.Fatal("Consume returned before the handler finished")
	}
	if got := ctxErrAtRelease.Load(); got != "<nil>" {
		t.Errorf("handler context cancelled within grace: %v", got)
	}
	settled(t, q)
	if n := streamMsgs(t, q); n != 0 {
		t.Errorf("in-flight message not acked: %d left", n)
	}
}

func TestConsumeGraceCancelsHandler(t *testing.T) {
	q, _ := newQueue(t, Config{})
	publish(t, q, msg(1))
	started := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- q.Consume(ctx, 1, func(hctx context.Context, _ *Delivery) Outcome {
			close(started)
			<-hctx.Done()
			return Outcome{Action: Release}
		}, WithGrace(50*time.Millisecond), WithFetchWait(100*time.Millisecond))
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLong):
		t.Fatal("Consume did not return after the grace period")
	}
	// Released, not lost: the next worker gets it at once, not after the
	// 2-minute AckWait.
	again := make(chan uint64, 1)
	consume(t, q, 1, func(_ context.Context, d *Delivery) Outcome {
		again <- d.NumDelivered()
		return Outcome{Action: Ack}
	})
	select {
	case n := <-again:
		if n != 2 {
			t.Errorf("redelivery NumDelivered = %d, want 2", n)
		}
	case <-time.After(waitLong):
		t.Fatal("released message not redelivered")
	}
}

func TestHeartbeatsPreventRedelivery(t *testing.T) {
	reg := prometheus.NewRegistry()
	q, _ := newQueue(t, Config{AckWait: time.Second, Registerer: reg})
	publish(t, q, msg(1))
	var calls atomic.Int32
	acked := make(chan struct{})
	stop := consume(t, q, 2, func(_ context.Context, d *Delivery) Outcome {
		if calls.Add(1) > 1 {
			return Outcome{Action: Ack}
		}
		<-time.After(3 * time.Second) // three AckWaits of work
		close(acked)
		return Outcome{Action: Ack}
	})
	select {
	case <-acked:
	case <-time.After(waitLong):
		t.Fatal("handler did not finish")
	}
	settled(t, q)
	stop()
	info := consumerInfo(t, q)
	if calls.Load() != 1 || info.NumRedelivered != 0 || info.Delivered.Consumer != 1 {
		t.Errorf("handler ran %d times, consumer delivered %d, redelivered %d; want one delivery",
			calls.Load(), info.Delivered.Consumer, info.NumRedelivered)
	}
	if v := counter(t, reg, "promobot_queue_redelivered_total"); v != 0 {
		t.Errorf("redelivered_total = %v", v)
	}
}

func TestOpenIdempotentAndReady(t *testing.T) {
	e := startServer(t, t.TempDir())
	nc := connect(t, e)
	reg := prometheus.NewRegistry()
	q1 := openQueue(t, nc, Config{Registerer: reg, PublishTimeout: time.Second})
	q2 := openQueue(t, nc, Config{Registerer: reg, AckWait: time.Minute}) // a second process, newer config
	ctx := context.Background()
	for _, q := range []*Queue{q1, q2} {
		if err := q.Ready(ctx); err != nil {
			t.Fatalf("Ready = %v", err)
		}
	}
	if got := consumerInfo(t, q1).Config.AckWait; got != time.Minute {
		t.Errorf("consumer AckWait = %v, want the updated 1m", got)
	}
	publish(t, q1, msg(1))
	publish(t, q2, msg(2))
	if v := counter(t, reg, "promobot_queue_published_total"); v != 2 {
		t.Errorf("shared published_total = %v, want 2", v)
	}
	e.Shutdown()
	if err := q1.Ready(ctx); !isUnavailable(err) {
		t.Fatalf("Ready after shutdown = %v, want ErrUnavailable", err)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	e := startServer(t, t.TempDir())
	nc := connect(t, e)
	ctx := context.Background()
	for _, cfg := range []Config{{MaxDeliver: -1}, {Replicas: -2}, {LeaseTTL: time.Millisecond}} {
		if _, err := Open(ctx, nc, cfg); err == nil {
			t.Errorf("Open(%+v) accepted", cfg)
		}
	}
	if _, err := Open(ctx, nil, Config{}); err == nil {
		t.Error("Open(nil conn) accepted")
	}
	if err := (&Queue{}).Consume(ctx, 0, func(context.Context, *Delivery) Outcome { return Outcome{} }); err == nil {
		t.Error("Consume with 0 workers accepted")
	}
}

func TestStateBucket(t *testing.T) {
	q, _ := newQueue(t, Config{})
	ctx := context.Background()
	key := EscapeKey("acme/gitops/payment-service/prod")
	if _, err := q.State().Put(ctx, key, []byte("123")); err != nil {
		t.Fatal(err)
	}
	e, err := q.State().Get(ctx, key)
	if err != nil || string(e.Value()) != "123" {
		t.Fatalf("Get = %v, %v", e, err)
	}
	if _, err := q.State().Get(ctx, EscapeKey("acme/gitops/payment-service/staging")); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("Get of another key = %v, want not found", err)
	}
}
