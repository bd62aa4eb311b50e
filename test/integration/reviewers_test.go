package integration

import (
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/worker"
)

// reviewersRules asks prod reviews of a collaborator and of someone GitHub
// will refuse (not a collaborator of the GitOps repository).
const reviewersRules = `version: 1
environments:
  - { name: dev, auto: true, direct: true }
  - { name: staging, auto: true }
  - name: prod
    reviewers: { users: [alice, mallory] }
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

// TestReviewerGitHubRefuses: one reviewer GitHub refuses does not wedge
// prod. The PR opens, is labelled and remembered, the accepted reviewer is
// requested, one comment says who could not be and why, and a later
// promotion updates the same PR and the same comment.
func TestReviewerGitHubRefuses(t *testing.T) {
	h, ctx := startWith(t, demo.Options{Rules: []byte(reviewersRules)})
	staging := mergedStagingPR(t, ctx, h)
	comment(t, ctx, h, staging.Number, "bob", "/promote prod")
	r := expect(t, ctx, h, 2, worker.Opened)
	pr := findPR(t, h, r.PR)
	if !contains(pr.Reviewers, "alice") || contains(pr.Reviewers, "mallory") {
		t.Errorf("reviewers %v, want alice and not mallory", pr.Reviewers)
	}
	if !contains(pr.Labels, "env:prod") {
		t.Errorf("labels %v", pr.Labels)
	}
	notes := func() []string {
		var out []string
		for _, c := range h.GitHub.Comments(demo.GitOpsRepo, pr.Number) {
			if strings.Contains(c.Body, "<!-- promobot:reviewers -->") {
				out = append(out, c.Body)
			}
		}
		return out
	}
	// A mention inside a code span notifies nobody.
	if ns := notes(); len(ns) != 1 || !strings.Contains(ns[0], "mallory") || strings.Count(ns[0], "@mallory") != strings.Count(ns[0], "`@mallory`") {
		t.Fatalf("reviewer notes %q, want one naming mallory without pinging", ns)
	}

	comment(t, ctx, h, staging.Number, "bob", "/promote prod payment-service --tag sha-9f8e7d6")
	u := expect(t, ctx, h, 3, worker.Updated)
	if u.PR != pr.Number {
		t.Fatalf("second promotion went to #%d, want #%d", u.PR, pr.Number)
	}
	if ns := notes(); len(ns) != 1 {
		t.Errorf("%d reviewer notes after the update, want the one, edited", len(ns))
	}
	if n := countOpenHead(h, "promobot/prod/payment-service"); n != 1 {
		t.Errorf("%d open prod PRs", n)
	}
}
