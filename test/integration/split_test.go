package integration

import (
	"context"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/worker"
)

const splitRules = `version: 1
environments:
  - { name: dev, auto: true, direct: true }
  - { name: staging, auto: true }
  - name: prod
    splitTargets: true   # one PR per regional overlay
    reviewers: { users: [alice] }
services:
  - name: payment-service
    repo: acme/gitops
    image: registry.example.com/payment-service
    source: { repo: acme/payment-service, workflow: .github/workflows/build.yml, branch: main, tag: 'sha-{{.ShortSHA}}' }
    targets:
      dev:     { kustomize: apps/payment-service/overlays/dev }
      staging: { kustomize: apps/payment-service/overlays/staging }
      prod:
        - { kustomize: apps/payment-service/overlays/prod-eu }
        - { kustomize: apps/payment-service/overlays/prod-us }
`

// startSplit starts promobot with splitRules and two regional prod
// overlays that run sha-0a1b2c3.
func startSplit(t *testing.T) (*demo.Harness, context.Context) {
	t.Helper()
	overlay := func(env string) string {
		return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: payments-" + env +
			"\nresources:\n  - ../../base\nimages:\n  - name: registry.example.com/payment-service\n    newTag: sha-0a1b2c3\n"
	}
	return startWith(t, demo.Options{
		Rules: []byte(splitRules),
		GitOpsFiles: map[string]string{
			demo.OverlayPath("prod-eu"): overlay("prod-eu"),
			demo.OverlayPath("prod-us"): overlay("prod-us"),
		},
	})
}

// TestSplitTargets: an environment with splitTargets opens one PR per
// regional overlay, each on its own branch, each rendering the new image.
func TestSplitTargets(t *testing.T) {
	h, ctx := startSplit(t)
	staging := mergedStagingPR(t, ctx, h)
	comment(t, ctx, h, staging.Number, "bob", "/promote prod")
	r := expect(t, ctx, h, 2, worker.Opened)
	tag := "sha-" + h.GitHub.Branches(demo.SourceRepo)["main"][:7]
	for _, part := range []string{"prod-eu", "prod-us"} {
		head := "promobot/prod/payment-service/" + part
		if n := countOpenHead(h, head); n != 1 {
			t.Fatalf("%d open PRs on %s, want 1 (%s)", n, head, r.Reason)
		}
		sha := h.GitHub.Branches(demo.GitOpsRepo)[head]
		if got := renderImage(t, h, sha, part); got != demo.Image+":"+tag {
			t.Errorf("%s renders %s", part, got)
		}
		// Each PR changes only its own overlay.
		other := map[string]string{"prod-eu": "prod-us", "prod-us": "prod-eu"}[part]
		if got := renderImage(t, h, sha, other); got != demo.Image+":sha-0a1b2c3" {
			t.Errorf("the %s PR also changed %s: %s", part, other, got)
		}
	}
	if rs := replies(h, staging.Number); len(rs) != 1 || !strings.Contains(rs[0].Body, "prod-eu") || !strings.Contains(rs[0].Body, "prod-us") {
		t.Errorf("reply does not name both PRs: %+v", rs)
	}
}

// TestSplitTargetsSecondPromotion: a newer promotion to a splitTargets
// environment finds each part's branch and open PR and updates them with
// the fewest GitHub writes (tree, commit, forced ref update, PR edit per
// part): no branch or PR is re-created, no PR is searched for, and
// reviewers and labels are not requested again.
func TestSplitTargetsSecondPromotion(t *testing.T) {
	h, ctx := startSplit(t)
	staging := mergedStagingPR(t, ctx, h)
	comment(t, ctx, h, staging.Number, "bob", "/promote prod")
	first := expect(t, ctx, h, 2, worker.Opened)
	prs := map[string]int{}
	for _, part := range []string{"prod-eu", "prod-us"} {
		for _, pr := range h.GitHub.PullRequests(demo.GitOpsRepo) {
			if pr.Head == "promobot/prod/payment-service/"+part && pr.State == "open" {
				prs[part] = pr.Number
			}
		}
	}
	if len(prs) != 2 {
		t.Fatalf("first promotion opened %v (%s)", prs, first.Reason)
	}

	h.GitHub.ResetCalls()
	comment(t, ctx, h, staging.Number, "bob", "/promote prod payment-service --tag sha-9f8e7d6")
	second := expect(t, ctx, h, 3, worker.Updated)

	writes := map[string]int{}
	total := 0
	for _, c := range h.GitHub.Calls() {
		if policyRead[c.Route] {
			continue // the promobot/policy check of the PRs the promotion updates
		}
		if strings.Contains(c.Route, "/git/") || strings.Contains(c.Route, "/pulls") || strings.Contains(c.Route, "/labels") {
			writes[c.Route]++
			total++
		}
	}
	want := map[string]int{
		"POST /repos/{owner}/{repo}/git/trees":            2,
		"POST /repos/{owner}/{repo}/git/commits":          2,
		"PATCH /repos/{owner}/{repo}/git/refs/{ref}":      2,
		"PATCH /repos/{owner}/{repo}/pulls/{pull_number}": 2,
	}
	if total != 8 || len(writes) != len(want) {
		t.Errorf("second promotion made %d git/PR calls %v, want 4 per part: %v (%s)", total, writes, want, second.Reason)
	}
	for route, n := range want {
		if writes[route] != n {
			t.Errorf("%s: %d calls, want %d", route, writes[route], n)
		}
	}
	for part, n := range prs {
		pr := findPR(t, h, n)
		if pr.State != "open" || countOpenHead(h, "promobot/prod/payment-service/"+part) != 1 {
			t.Errorf("%s: PR #%d is %s, or another PR was opened", part, n, pr.State)
		}
		if got := renderImage(t, h, pr.HeadSHA, part); got != demo.Image+":sha-9f8e7d6" {
			t.Errorf("%s PR renders %s after the update", part, got)
		}
		if !strings.Contains(pr.Body, "replaces the earlier proposal") {
			t.Errorf("%s PR body does not say which proposal it replaced:\n%s", part, pr.Body)
		}
	}
}
