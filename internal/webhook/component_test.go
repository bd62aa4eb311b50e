package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/rules"
)

// natsQueue starts a real embedded nats-server with file-backed JetStream
// and opens the intent queue on it.
func natsQueue(t testing.TB, cfg queue.Config) (*queue.Embedded, *nats.Conn, *queue.Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := queue.StartEmbedded(ctx, queue.EmbeddedConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	nc, err := nats.Connect(e.ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	q, err := queue.Open(ctx, nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, nc, q
}

func streamMsgs(t testing.TB, nc *nats.Conn) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, queue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestComponentEmbeddedJetStream(t *testing.T) {
	e, nc, q := natsQueue(t, queue.Config{PublishTimeout: 2 * time.Second})
	rs := loadRules(t)
	var log syncBuffer
	h, err := New(Config{
		Secret: testSecret, Rules: func() *rules.Rules { return rs }, Publisher: q,
		Log: zerolog.New(&log), Registerer: prometheus.NewRegistry(), Now: func() time.Time { return fixedNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(d delivery) int {
		t.Helper()
		r := d.request()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/webhook", r.Body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = r.Header
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode
	}

	// 202 only once the intents are in the stream: checked right after the
	// answer, with no waiting.
	wr := delivery{event: "workflow_run", id: deliveryID, body: payload(t, "workflow_run/completed.octokit.json")}
	if code := post(wr); code != 202 {
		t.Fatalf("status %d; log %s", code, log.String())
	}
	if n := streamMsgs(t, nc); n != 2 {
		t.Fatalf("stream holds %d messages after 202, want 2", n)
	}

	// The same delivery again: accepted, and JetStream's duplicate window
	// keeps one copy of each intent.
	if code := post(wr); code != 202 {
		t.Fatalf("redelivery status %d", code)
	}
	tag := delivery{event: "push", id: "tag-delivery-1", body: payload(t, "push/tag-create.drone.json")}
	for i := 0; i < 2; i++ {
		if code := post(tag); code != 202 {
			t.Fatalf("tag push status %d", code)
		}
	}
	if n := streamMsgs(t, nc); n != 3 {
		t.Fatalf("stream holds %d messages, want 3 (duplicates dropped)", n)
	}

	// Read them back through the durable consumer the workers use.
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan intent.Intent, 10)
	done := make(chan error, 1)
	go func() {
		done <- q.Consume(ctx, 1, func(_ context.Context, d *queue.Delivery) queue.Outcome {
			in, err := intent.Unmarshal(d.Data())
			if err != nil || d.MsgID() != in.ID || d.Subject() != in.Subject() {
				t.Errorf("delivered %q %q: %v", d.MsgID(), d.Subject(), err)
			}
			got <- in
			return queue.Outcome{Action: queue.Ack}
		}, queue.WithFetchWait(100*time.Millisecond), queue.WithGrace(time.Second))
	}()
	var ids []string
	deadline := time.After(30 * time.Second)
	for len(ids) < 3 {
		select {
		case in := <-got:
			ids = append(ids, in.ID+" "+in.Services[0]+" "+in.Tag)
		case <-deadline:
			t.Fatalf("read back %v", ids)
		}
	}
	cancel()
	if err := <-done; err != nil && err != context.Canceled {
		t.Logf("consume: %v", err)
	}
	sort.Strings(ids)
	want := []string{deliveryID + ":0 octo-app sha-3484a3f", deliveryID + ":1 octo-branch master-163", "tag-delivery-1:0 drone-app v0.0.1"}
	if strings.Join(ids, "|") != strings.Join(want, "|") {
		t.Errorf("read back %v, want %v", ids, want)
	}

	// NATS gone: 503, so GitHub records a failed delivery.
	e.Shutdown()
	if code := post(delivery{event: "push", id: "after-shutdown", body: payload(t, "push/tag-create.drone.json")}); code != 503 {
		t.Fatalf("status %d with NATS down, want 503", code)
	}
	if !strings.Contains(log.String(), `"outcome":"unavailable"`) {
		t.Errorf("unavailable not logged: %s", log.String())
	}
}
