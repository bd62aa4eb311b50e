package app

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/queue/queuetest"
	"github.com/promobot/promobot/internal/worker"
)

// TestLiveBoardSharesOpenPRsAndGatesAcrossProcesses: one process's worker
// records what its promotions came to; another process's page sees it.
func TestLiveBoardSharesOpenPRsAndGatesAcrossProcesses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv := stateBuckets(t, ctx)
	writer := newLiveBoard(kv(), zerolog.Nop())
	reader := newLiveBoard(kv(), zerolog.Nop())
	applied := make(chan struct{}, 16)
	reader.applied = func() { applied <- struct{}{} }
	go reader.watch(ctx)
	await := func(what string) {
		t.Helper()
		select {
		case <-applied:
		case <-ctx.Done():
			t.Fatalf("the reader never saw %s", what)
		}
	}
	in := intent.Intent{ID: "i1", Repo: "Acme/GitOps", Services: []string{"web"}, To: "prod", Tag: "v2"}
	opens := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

	writer.observe(ctx, worker.Result{Intent: in, Outcome: worker.Refused, Gate: "window", Reason: "outside the window", RetryAt: opens})
	await("the wait")
	recs := reader.records("acme/gitops", "web", "prod")
	if len(recs) != 1 || recs[0].Gate != "window" || recs[0].Reason != "outside the window" || !recs[0].OpensAt.Equal(opens) || recs[0].Tag != "v2" {
		t.Fatalf("records = %+v", recs)
	}

	writer.observe(ctx, worker.Result{Intent: in, Outcome: worker.Opened, PR: 7, PRURL: "https://github.com/acme/gitops/pull/7"})
	await("the PR")
	await("the wait's removal")
	recs = reader.records("acme/gitops", "web", "prod")
	if len(recs) != 1 || recs[0].PR != 7 {
		t.Fatalf("after the PR opened: %+v", recs)
	}

	writer.observe(ctx, worker.Result{Intent: in, Outcome: worker.Skipped})
	writer.observe(ctx, worker.Result{Intent: in, Outcome: worker.Refused, Reason: "unknown service"}) // no gate: not a wait
	writer.observe(ctx, worker.Result{Intent: in, Outcome: worker.Committed})
	await("the PR's removal")
	if recs := reader.records("acme/gitops", "web", "prod"); len(recs) != 0 {
		t.Fatalf("after a direct commit: %+v", recs)
	}
}

// stateBuckets starts an embedded NATS server and returns a function that
// opens its "state" bucket over a new connection each time: one per
// process the test plays.
func stateBuckets(t *testing.T, ctx context.Context) func() jetstream.KeyValue {
	t.Helper()
	js := queuetest.JetStream(t, ctx)
	return func() jetstream.KeyValue {
		b, err := js().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "state"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}
