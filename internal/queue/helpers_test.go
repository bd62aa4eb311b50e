package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// waitLong bounds every wait in the tests; generous so slow machines pass.
const waitLong = 30 * time.Second

func startServer(t testing.TB, dir string) *Embedded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	e, err := StartEmbedded(ctx, EmbeddedConfig{Dir: dir})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

func connect(t testing.TB, e *Embedded) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(e.ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func openQueue(t testing.TB, nc *nats.Conn, cfg Config) *Queue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	q, err := Open(ctx, nc, cfg)
	if err != nil {
		t.Fatalf("open queue: %v", err)
	}
	return q
}

// newQueue is a fresh server, connection and queue.
func newQueue(t testing.TB, cfg Config) (*Queue, *Embedded) {
	t.Helper()
	e := startServer(t, t.TempDir())
	return openQueue(t, connect(t, e), cfg), e
}

// consume runs Consume in the background and returns a stop function that
// cancels it and waits for it to return.
func consume(t *testing.T, q *Queue, workers int, h Handler, opts ...ConsumeOption) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- q.Consume(ctx, workers, h, append([]ConsumeOption{WithFetchWait(200 * time.Millisecond)}, opts...)...)
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("consume: %v", err)
			}
		case <-time.After(waitLong):
			t.Errorf("consume did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

// eventually polls cond until it holds or waitLong passes.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last error: %v)", what, err)
		}
		time.Sleep(20 * time.Millisecond) // polling an external server, not synchronising goroutines
	}
}

func consumerInfo(t *testing.T, q *Queue) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	info, err := q.cons.Info(ctx)
	if err != nil {
		t.Fatalf("consumer info: %v", err)
	}
	return info
}

func streamMsgs(t *testing.T, q *Queue) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	s, err := q.js.Stream(ctx, q.cfg.Stream)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	return info.State.Msgs
}

// settled waits until nothing is pending or awaiting an ack.
func settled(t *testing.T, q *Queue) {
	t.Helper()
	eventually(t, "consumer to settle", func() (bool, error) {
		info := consumerInfo(t, q)
		return info.NumPending == 0 && info.NumAckPending == 0, nil
	})
}

func publish(t *testing.T, q *Queue, msgs ...Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := q.Publish(ctx, msgs); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func deadLetters(t *testing.T, q *Queue, n int) []DeadLetter {
	t.Helper()
	var got []DeadLetter
	eventually(t, "dead letters", func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		var err error
		got, err = q.DeadLetters(ctx)
		return err == nil && len(got) >= n, err
	})
	return got
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func isUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
