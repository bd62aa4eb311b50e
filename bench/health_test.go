package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/worker"
)

// healthRules: dev says when a tag runs well there; the staging promotion
// waits for it.
const healthRules = `version: 1
defaults: { baseBranch: main, labels: [promotion] }
environments:
  - name: dev
    auto: true
    direct: true
    health: { checks: ['continuous-delivery/{{.Service}}-dev'], timeout: 30m }
  - name: staging
    auto: true
  - name: prod
services:
  - name: payment-service
    repo: acme/gitops
    image: registry.example.com/payment-service
    source: { repo: acme/payment-service, workflow: .github/workflows/build.yml, branch: main, tag: 'sha-{{.ShortSHA}}' }
    targets:
      dev:     { kustomize: apps/payment-service/overlays/dev }
      staging: { kustomize: apps/payment-service/overlays/staging }
      prod:    { kustomize: apps/payment-service/overlays/prod }
`

// BenchmarkStatusToPR measures the time from a health status posted on
// the GitOps repository (as Argo CD Notifications posts it) to the staging
// PR of the promotion that was waiting for it: status → webhook →
// JetStream → planner (mirror fetch, statuses read back) → PR.
func BenchmarkStatusToPR(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	h, err := demo.Start(ctx, demo.Options{Dir: b.TempDir(), Log: zerolog.Nop(), Rules: []byte(healthRules)})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	next := 0
	await := func(what string, ok func(worker.Result) bool) {
		for ; ; next++ {
			r, err := h.Await(ctx, next)
			if err != nil {
				b.Fatalf("%s: %v", what, err)
			}
			if ok(r) {
				next++
				return
			}
		}
	}
	var total time.Duration
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
		if code, err := h.Send(ctx, "workflow_run", demo.DeliveryID(), payload); err != nil || code != 202 {
			b.Fatalf("delivery: %d %v", code, err)
		}
		await("dev commit", func(r worker.Result) bool { return r.Outcome == worker.Committed })
		// The push's staging promotion waits for dev's health.
		await("waiting staging promotion", func(r worker.Result) bool {
			return r.Intent.To == "staging" && r.Outcome == worker.Delayed && strings.Contains(r.Reason, "waiting for")
		})
		b.StartTimer()
		start := time.Now()
		if err := h.GitHub.SetStatus(demo.GitOpsRepo, "main", "continuous-delivery/payment-service-dev", "success", "https://argocd.example.com/x", "argocd"); err != nil {
			b.Fatal(err)
		}
		await("staging PR", func(r worker.Result) bool {
			return r.Intent.To == "staging" && (r.Outcome == worker.Opened || r.Outcome == worker.Updated)
		})
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-status-to-PR")
}
