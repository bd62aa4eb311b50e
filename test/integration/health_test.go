package integration

import (
	"context"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/worker"
)

// closedLoopRules is the demo's rules with staging merging itself and
// saying when a tag runs well there (as Argo CD Notifications reports it).
const closedLoopRules = `version: 1
defaults:
  baseBranch: main
  labels: [promotion]
environments:
  - name: dev
    auto: true
    direct: true
  - name: staging
    auto: true
    autoMerge: true
    mergeMethod: squash
    health:
      checks: ['continuous-delivery/{{.Service}}-staging']
      timeout: 30m
  - name: prod
    reviewers: { users: [alice] }
    ticket: { required: true, pattern: 'PAY-\d+' }
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
      dev:     { kustomize: apps/payment-service/overlays/dev }
      staging: { kustomize: apps/payment-service/overlays/staging }
      prod:    { kustomize: apps/payment-service/overlays/prod }
`

// awaitWhere waits for the first result from index from on that match
// accepts and returns it with its index.
func awaitWhere(t *testing.T, ctx context.Context, h *demo.Harness, from int, what string, match func(worker.Result) bool) (worker.Result, int) {
	t.Helper()
	for i := from; ; i++ {
		r, err := h.Await(ctx, i)
		if err != nil {
			t.Fatalf("waiting for %s: %v (results: %+v)", what, err, h.Results())
		}
		if match(r) {
			return r, i
		}
	}
}

// TestClosedLoop: build → dev (direct) → a staging PR GitHub merges itself
// once CI and the required check pass → staging unhealthy: /promote prod is
// refused and the staging PR is told which check failed, once → staging
// healthy: /promote prod opens the prod PR.
func TestClosedLoop(t *testing.T) {
	h, ctx := startWith(t, demo.Options{Rules: []byte(closedLoopRules)})
	gh := h.GitHub
	if err := gh.SetRepoSettings(demo.GitOpsRepo, githubtest.RepoSettings{AllowMergeCommit: true, AllowSquashMerge: true, AllowAutoMerge: true}); err != nil {
		t.Fatal(err)
	}
	if err := gh.RequireChecks(demo.GitOpsRepo, "main", false, "ci"); err != nil {
		t.Fatal(err)
	}

	// 1. Build → dev, committed to main; the push opens the staging PR
	// with GitHub's auto-merge enabled (the required check is pending).
	sha, _, _ := build(t, ctx, h, "PAY-7: faster refunds", 7)
	tag := "sha-" + sha[:7]
	expect(t, ctx, h, 0, worker.Committed)
	stg := expect(t, ctx, h, 1, worker.Opened)
	pr := findPR(t, h, stg.PR)
	if pr.State != "open" {
		t.Fatalf("staging PR is %s before CI ran", pr.State)
	}

	// 2. CI passes on the PR head: GitHub merges it (squash, the rule's
	// method) with nobody clicking.
	if err := gh.SetStatus(demo.GitOpsRepo, pr.HeadSHA, "ci", "success", "https://ci.example.com/runs/1", "ci-bot"); err != nil {
		t.Fatal(err)
	}
	if err := gh.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	pr = findPR(t, h, pr.Number)
	if !pr.Merged {
		t.Fatalf("staging PR not merged after the required check passed: %+v", pr)
	}
	if got := renderImage(t, h, "main", "staging"); got != demo.Image+":"+tag {
		t.Fatalf("main's staging renders %s, want %s", got, demo.Image+":"+tag)
	}

	// 3. Argo CD reports staging degraded: /promote prod is refused, and the
	// PR that brought the tag is told once which check failed.
	argo := "https://argocd.example.com/applications/payment-service-staging"
	cd := "continuous-delivery/payment-service-staging"
	if err := gh.SetStatus(demo.GitOpsRepo, "main", cd, "failure", argo, "argocd"); err != nil {
		t.Fatal(err)
	}
	n := len(h.Results())
	for range 2 { // asked twice: still one comment
		comment(t, ctx, h, pr.Number, "alice", "/promote prod")
		r, i := awaitWhere(t, ctx, h, n, "the refused /promote prod", func(r worker.Result) bool { return r.Intent.Command() })
		n = i + 1
		if r.Outcome != worker.Refused || !strings.Contains(r.Reason, cd) || !strings.Contains(r.Reason, argo) {
			t.Fatalf("/promote prod while staging is unhealthy: %s %q, want refused naming the check and its link", r.Outcome, r.Reason)
		}
	}
	var told, replied int
	for _, c := range replies(h, pr.Number) {
		switch {
		case strings.HasPrefix(c.Body, "<!-- promobot:health:"):
			told++
			if !strings.Contains(c.Body, "["+cd+"]("+argo+") failed") {
				t.Errorf("health comment does not name the check with its link:\n%s", c.Body)
			}
		case strings.Contains(c.Body, cd):
			replied++
		}
	}
	if told != 1 || replied < 1 {
		t.Errorf("%d health comments and %d replies naming the check on the staging PR, want 1 and at least 1", told, replied)
	}
	for _, p := range gh.PullRequests(demo.GitOpsRepo) {
		if strings.HasPrefix(p.Head, "promobot/prod/") {
			t.Fatalf("a prod PR was opened while staging was unhealthy: #%d", p.Number)
		}
	}

	// 4. Argo CD reports staging healthy: /promote prod opens the prod PR,
	// whose body lists the health gate.
	if err := gh.SetStatus(demo.GitOpsRepo, "main", cd, "success", argo, "argocd"); err != nil {
		t.Fatal(err)
	}
	comment(t, ctx, h, pr.Number, "alice", "/promote prod")
	r, _ := awaitWhere(t, ctx, h, n, "the /promote prod after staging is healthy", func(r worker.Result) bool { return r.Intent.Command() })
	if r.Outcome != worker.Opened {
		t.Fatalf("/promote prod with staging healthy: %s %q, want opened", r.Outcome, r.Reason)
	}
	prod := findPR(t, h, r.PR)
	if got := renderImage(t, h, prod.HeadSHA, "prod"); got != demo.Image+":"+tag {
		t.Errorf("prod PR renders %s, want %s", got, demo.Image+":"+tag)
	}
	if !strings.Contains(prod.Body, "✅ health: healthy in the previous environment: "+cd) {
		t.Errorf("prod PR body does not show the health gate:\n%s", prod.Body)
	}
	for _, err := range githubtest.CheckCalls(gh.Calls()) {
		t.Errorf("undocumented request: %v", err)
	}
}

// TestMergesItselfWithoutGitHubAutoMerge: the repository does not allow
// auto-merge, so promobot merges the staging PR itself once a status event
// shows it clean — not while the required check is pending or failing, and
// a failure is told once.
func TestMergesItselfWithoutGitHubAutoMerge(t *testing.T) {
	h, ctx := startWith(t, demo.Options{Rules: []byte(closedLoopRules)})
	gh := h.GitHub
	if err := gh.RequireChecks(demo.GitOpsRepo, "main", false, "ci"); err != nil {
		t.Fatal(err)
	}
	build(t, ctx, h, "PAY-8: smaller refunds", 8)
	expect(t, ctx, h, 0, worker.Committed)
	stg := expect(t, ctx, h, 1, worker.Opened)
	pr := findPR(t, h, stg.PR)
	status := func(state string) {
		t.Helper()
		if err := gh.SetStatus(demo.GitOpsRepo, pr.HeadSHA, "ci", state, "https://ci.example.com/runs/8", "ci-bot"); err != nil {
			t.Fatal(err)
		}
		if err := gh.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	n := 2
	handled := func(what string) {
		t.Helper()
		_, i := awaitWhere(t, ctx, h, n, what, func(r worker.Result) bool { return r.Intent.Event == "status" })
		n = i + 1
	}
	status("pending") // a pending status asks for nothing
	status("failure")
	handled("the failed check")
	status("failure") // the same failure again: not told twice
	handled("the failed check again")
	if p := findPR(t, h, pr.Number); p.Merged {
		t.Fatal("merged through a failing required check")
	}
	var told int
	for _, c := range replies(h, pr.Number) {
		if strings.HasPrefix(c.Body, "<!-- promobot:automerge:") && strings.Contains(c.Body, "[ci](https://ci.example.com/runs/8) failed") {
			told++
		}
	}
	if told != 1 {
		t.Errorf("%d comments about the failed check, want 1: %+v", told, replies(h, pr.Number))
	}
	status("success")
	handled("the passing check")
	if p := findPR(t, h, pr.Number); !p.Merged {
		t.Fatalf("staging PR not merged once the required check passed: %+v", p)
	}
	if got := renderImage(t, h, "main", "staging"); !strings.HasSuffix(got, h.GitHub.Branches(demo.SourceRepo)["main"][:7]) {
		t.Errorf("main's staging renders %s after the merge", got)
	}
}

// TestStatusWakesTheWaitingPromotion: dev has health, staging is automatic.
// The push's staging promotion waits (its backstop is minutes away); the
// health status Argo CD posts wakes it at once and the staging PR opens.
func TestStatusWakesTheWaitingPromotion(t *testing.T) {
	rules := strings.Replace(closedLoopRules, "    direct: true\n",
		"    direct: true\n    health: { checks: ['continuous-delivery/{{.Service}}-dev'] }\n", 1)
	h, ctx := startWith(t, demo.Options{Rules: []byte(rules)})
	build(t, ctx, h, "PAY-9: refunds in kroner", 9)
	expect(t, ctx, h, 0, worker.Committed)
	wait := expect(t, ctx, h, 1, worker.Delayed)
	if !strings.Contains(wait.Reason, "waiting for continuous-delivery/payment-service-dev") {
		t.Fatalf("staging promotion: %q, want it waiting for dev's health", wait.Reason)
	}
	if err := h.GitHub.SetStatus(demo.GitOpsRepo, "main", "continuous-delivery/payment-service-dev", "success", "https://argocd.example.com/applications/payment-service-dev", "argocd"); err != nil {
		t.Fatal(err)
	}
	r, _ := awaitWhere(t, ctx, h, 2, "the woken staging promotion", func(r worker.Result) bool { return r.Intent.Event == "status" })
	if r.Outcome != worker.Opened || r.Intent.To != "staging" {
		t.Fatalf("after the health status: %s %s %q, want the staging PR opened", r.Intent.To, r.Outcome, r.Reason)
	}
	if pr := findPR(t, h, r.PR); !strings.Contains(pr.Body, "✅ health: healthy in the previous environment: continuous-delivery/payment-service-dev") {
		t.Errorf("staging PR body does not show the health gate:\n%s", pr.Body)
	}
}

// TestStatusWakesTheAskedForPromotion: /promote prod waits for staging's
// health; the success status Argo CD posts opens the prod PR at once (the
// backstop is minutes away), and the one reply says so.
func TestStatusWakesTheAskedForPromotion(t *testing.T) {
	rules := strings.Replace(closedLoopRules, "    ticket: { required: true, pattern: 'PAY-\\d+' }\n", "", 1)
	h, ctx := startWith(t, demo.Options{Rules: []byte(rules), GitOpsFiles: map[string]string{
		demo.OverlayPath("staging"): overlayWith("sha-1111111"),
	}})
	readme := "# gitops\n"
	if _, err := h.GitHub.Commit(demo.GitOpsRepo, "docs", map[string]*string{"README.md": &readme}, "docs"); err != nil {
		t.Fatal(err)
	}
	issue, err := h.GitHub.OpenPullRequest(demo.GitOpsRepo, "docs", "main", "Docs", "", "bob")
	if err != nil {
		t.Fatal(err)
	}
	comment(t, ctx, h, issue, "alice", "/promote prod payment-service")
	isCommand := func(r worker.Result) bool { return r.Intent.Command() }
	r, n := awaitWhere(t, ctx, h, 0, "the waiting /promote prod", isCommand)
	if r.Outcome != worker.Delayed || !strings.Contains(r.Reason, "waiting for continuous-delivery/payment-service-staging") {
		t.Fatalf("/promote prod before staging is healthy: %s %q, want it waiting for staging's health", r.Outcome, r.Reason)
	}
	if err := h.GitHub.SetStatus(demo.GitOpsRepo, "main", "continuous-delivery/payment-service-staging", "success", "https://argocd.example.com/applications/payment-service-staging", "argocd"); err != nil {
		t.Fatal(err)
	}
	r, _ = awaitWhere(t, ctx, h, n+1, "the woken /promote prod", isCommand)
	if r.Outcome != worker.Opened {
		t.Fatalf("/promote prod after staging turned healthy: %s %q, want the prod PR opened", r.Outcome, r.Reason)
	}
	if got := renderImage(t, h, findPR(t, h, r.PR).HeadSHA, "prod"); got != demo.Image+":sha-1111111" {
		t.Errorf("prod PR renders %s", got)
	}
	var answers []string
	for _, c := range replies(h, issue) {
		if strings.Contains(c.Body, "<!-- promobot-reply:") {
			answers = append(answers, c.Body)
		}
	}
	if len(answers) != 1 || !strings.Contains(answers[0], r.PRURL) {
		t.Errorf("replies %q, want one naming the prod PR %s", answers, r.PRURL)
	}
}
