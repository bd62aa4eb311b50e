package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/ui"
	"github.com/promobot/promobot/internal/worker"
)

// healthPageRules: dev and prod commit directly; prod's health is what
// Argo CD reports on the GitOps repository.
const healthPageRules = `version: 1
defaults:
  baseBranch: main
environments:
  - name: dev
    auto: true
    direct: true
  - name: prod
    auto: true
    direct: true
    health:
      checks: ['continuous-delivery/{{.Service}}-{{.Env}}']
services:
  - name: payment-service
    repo: acme/gitops
    image: registry.example.com/payment-service
    source:
      repo: acme/payment-service
      workflow: .github/workflows/build.yml
      branch: main
      tag: 'sha-{{.ShortSHA}}'
    targets:
      dev:  { kustomize: apps/payment-service/overlays/dev }
      prod: { kustomize: apps/payment-service/overlays/prod }
`

// prodCell reads /api/v1/status and returns payment-service's prod cell.
func prodCell(t *testing.T, ctx context.Context, h *demo.Harness) ui.Cell {
	t.Helper()
	for _, rp := range statusJSON(t, ctx, h).Repositories {
		for _, svc := range rp.Services {
			for _, c := range svc.Cells {
				if rp.Repo == demo.GitOpsRepo && svc.Name == "payment-service" && c.Env == "prod" {
					return c
				}
			}
		}
	}
	return ui.Cell{}
}

// awaitProd waits until the prod cell satisfies ok: the page follows the
// mirrors and the state bucket, which the test cannot observe directly, so
// it asks again at each tick until the test's deadline.
func awaitProd(t *testing.T, ctx context.Context, h *demo.Harness, what string, ok func(ui.Cell) bool) ui.Cell {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		c := prodCell(t, ctx, h)
		if ok(c) {
			return c
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("the status page never showed %s; prod is %+v", what, c)
		}
	}
}

// TestStatusPageShowsProdHealth: Argo CD's statuses on the GitOps
// repository's base branch, delivered as webhooks, move the prod cell's
// health on /api/v1/status from unknown to progressing, healthy and
// unhealthy, each with the check's link.
func TestStatusPageShowsProdHealth(t *testing.T) {
	h, ctx := startWith(t, demo.Options{Rules: []byte(healthPageRules), UINoAuth: true, UIRefresh: time.Second})
	sha, _, _ := build(t, ctx, h, "PAY-9: receipts", 9)
	tag := "sha-" + sha[:7]
	expect(t, ctx, h, 0, worker.Committed)
	if r := expect(t, ctx, h, 1, worker.Committed); r.Intent.To != "prod" {
		t.Fatalf("second result moves %s, want prod", r.Intent.To)
	}
	c := awaitProd(t, ctx, h, "the new tag in prod", func(c ui.Cell) bool { return c.Tag == tag })
	cd := "continuous-delivery/payment-service-prod"
	if c.Health != "unknown" || len(c.HealthChecks) != 1 || c.HealthChecks[0].Name != cd {
		t.Fatalf("prod before any report: health %q %+v, want unknown naming %s", c.Health, c.HealthChecks, cd)
	}

	argo := "https://argocd.example.com/applications/payment-service-prod"
	for i, step := range []struct{ state, want string }{
		{"pending", "progressing"},
		{"success", "healthy"},
		{"failure", "unhealthy"},
	} {
		if err := h.GitHub.SetStatus(demo.GitOpsRepo, "main", cd, step.state, fmt.Sprintf("%s?report=%d", argo, i), "argocd"); err != nil {
			t.Fatal(err)
		}
		c := awaitProd(t, ctx, h, "prod "+step.want, func(c ui.Cell) bool { return c.Health == step.want })
		hc := c.HealthChecks[0]
		if hc.Reported != step.state || hc.URL != fmt.Sprintf("%s?report=%d", argo, i) || hc.At.Before(c.Since) {
			t.Errorf("after %s: check %+v (since %s)", step.state, hc, c.Since)
		}
	}
	if n := len(h.HealthResults()); n != 3 {
		t.Errorf("%d health reports recorded, want 3", n)
	}
	if got := len(h.Results()); got != 2 {
		t.Errorf("%d promotion results, want 2: health reports are counted apart", got)
	}
}
