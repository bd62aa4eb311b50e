package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/rules"
)

// benchParallelism is goroutines per GOMAXPROCS: GitHub delivers
// concurrently, and a handler spends most of its time waiting for an ack.
const benchParallelism = 64

// BenchmarkServeHTTPPush7KB drives signed ~8 KB tag-push deliveries (one
// update intent each) through the whole handler into a real embedded
// JetStream with file storage; every request waits for its own ack.
func BenchmarkServeHTTPPush7KB(b *testing.B) {
	_, _, q := natsQueue(b, queue.Config{})
	rs := loadRules(b)
	h, err := New(Config{
		Secret: testSecret, Rules: func() *rules.Rules { return rs }, Publisher: q,
		Log: zerolog.New(io.Discard), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		b.Fatal(err)
	}
	body := payload(b, "push/tag-create.drone.json")
	sig := sign(testSecret, body)
	var seq atomic.Int64
	var failed atomic.Int64
	b.SetBytes(int64(len(body)))
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	b.RunParallel(func(pb *testing.PB) {
		w := &recorderWriter{header: http.Header{}}
		for pb.Next() {
			r := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("X-GitHub-Event", "push")
			r.Header.Set("X-GitHub-Delivery", "bench-"+strconv.FormatInt(seq.Add(1), 10))
			r.Header.Set("X-Hub-Signature-256", sig)
			w.code = 0
			w.body.Reset()
			clear(w.header)
			h.ServeHTTP(w, r)
			if w.code != http.StatusAccepted {
				failed.Add(1)
			}
		}
	})
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d deliveries not accepted", n)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
	// The whole process: handler, JetStream client and the embedded server.
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkJetStreamPublish7KB is the raw rate of the same store: 7 KB
// messages through queue.Publish (one message per call, each waiting for
// its ack, as the handler does), with the same concurrency.
func BenchmarkJetStreamPublish7KB(b *testing.B) {
	_, _, q := natsQueue(b, queue.Config{})
	data := bytes.Repeat([]byte("x"), 7<<10)
	var seq atomic.Int64
	var failed atomic.Int64
	b.SetBytes(int64(len(data)))
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			n := seq.Add(1)
			msg := queue.Message{Subject: "promobot.intents.bench.svc.dev", ID: fmt.Sprintf("raw-%d:0", n), Data: data}
			if err := q.Publish(ctx, []queue.Message{msg}); err != nil {
				failed.Add(1)
			}
		}
	})
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d publishes failed", n)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	// The whole process: the JetStream client and the embedded server.
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkJetStreamPublishAsync7KB is the store's ceiling: one publisher
// pipelining 7 KB messages with at most 4096 acks outstanding.
func BenchmarkJetStreamPublishAsync7KB(b *testing.B) {
	_, nc, _ := natsQueue(b, queue.Config{})
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 7<<10)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		// The stall wait rides out a full window on a loaded machine
		// (the default 200 ms made this benchmark fail under load).
		if _, err := js.PublishAsync("promobot.intents.bench.svc.dev", data, jetstream.WithMsgID("async-"+strconv.Itoa(i)),
			jetstream.WithStallWait(30*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("acks did not arrive")
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkHandlerCPU is the handler's own cost per delivery (verify,
// check, classify, encode, log) with a publisher that stores nothing.
func BenchmarkHandlerCPU(b *testing.B) {
	rs := loadRules(b)
	h, err := New(Config{
		Secret: testSecret, Rules: func() *rules.Rules { return rs }, Publisher: nopPublisher{},
		Log: zerolog.New(io.Discard), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		b.Fatal(err)
	}
	body := payload(b, "push/tag-create.drone.json")
	sig := sign(testSecret, body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	w := &recorderWriter{header: http.Header{}}
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		r := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-GitHub-Event", "push")
		r.Header.Set("X-GitHub-Delivery", "bench-"+strconv.Itoa(i))
		r.Header.Set("X-Hub-Signature-256", sig)
		w.code = 0
		h.ServeHTTP(w, r)
		if w.code != http.StatusAccepted {
			b.Fatal(w.code)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, []queue.Message) error { return nil }

// BenchmarkClassify is the cost of reading and classifying one delivery
// (strict check, decoding, rules), without HTTP, signature or queue.
func BenchmarkClassify(b *testing.B) {
	rs := loadRules(b)
	for _, tc := range []struct{ name, event, file string }{
		{"push-tag", "push", "push/tag-create.drone.json"},
		{"push-branch-gitops", "push", "push/branch-push-forced.argo-cd.json"},
		{"workflow_run", "workflow_run", "workflow_run/completed.octokit.json"},
		{"issue_comment", "issue_comment", "issue_comment/created-on-pr-slash-build.go-playground.json"},
	} {
		body := payload(b, tc.file)
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			cpu0, n := processCPU(), 0
			for b.Loop() {
				if _, err := Classify(rs, Delivery{Event: tc.event, ID: "bench-1", Payload: body, Received: fixedNow}); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(n), "cpu-ns/op")
		})
	}
}
