// Package bench holds promobot's benchmarks and load generators; results are
// written up in README.md beside this file.
package bench

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/worker"
)

// BenchmarkWebhookToPR measures, against the GitHub test server, the time
// from a signed workflow_run delivery to (1) promobot's direct commit on dev
// and (2) the staging PR opened or updated by the push that commit caused:
// the full path webhook → JetStream → planner → Git Data API → push webhook
// → JetStream → planner → PR.
func BenchmarkWebhookToPR(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	h, err := demo.Start(ctx, demo.Options{Dir: b.TempDir(), Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	next := 0
	var toCommit, toPR time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		sha, err := h.SourceCommit("PAY-1: change " + time.Now().String())
		if err != nil {
			b.Fatal(err)
		}
		payload, err := h.WorkflowRun(demo.Build{SHA: sha, Message: "PAY-1: change", RunNumber: i + 1})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if code, err := h.Send(ctx, "workflow_run", demo.DeliveryID(), payload); err != nil || code != 202 {
			b.Fatalf("delivery: %d %v", code, err)
		}
		r, err := h.Await(ctx, next)
		if err != nil || r.Outcome != worker.Committed {
			b.Fatalf("dev: %+v %v", r, err)
		}
		toCommit += time.Since(start)
		r, err = h.Await(ctx, next+1)
		if err != nil || (r.Outcome != worker.Opened && r.Outcome != worker.Updated) {
			b.Fatalf("staging: %+v %v", r, err)
		}
		toPR += time.Since(start)
		next += 2
	}
	b.ReportMetric(float64(toCommit.Milliseconds())/float64(b.N), "ms-to-dev-commit")
	b.ReportMetric(float64(toPR.Milliseconds())/float64(b.N), "ms-to-staging-PR")
}
