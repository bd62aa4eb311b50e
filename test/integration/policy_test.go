package integration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/policy"
	"github.com/promobot/promobot/internal/policycheck/policychecktest"
	"github.com/promobot/promobot/internal/worker"
)

// policyRules: prod is frozen from Friday 18:00 to Monday 08:00 UTC and
// needs a ticket.
const policyRules = `version: 1
defaults:
  baseBranch: main
environments:
  - name: dev
    auto: true
    direct: true
  - name: staging
    auto: true
  - name: prod
    ticket: { required: true, pattern: 'PAY-\d+' }
    windows:
      - deny: '0 18 * * 5'
        duration: 62h
        timezone: UTC
services:
  - name: payment-service
    repo: acme/gitops
    image: registry.example.com/payment-service
    targets:
      dev:     { kustomize: apps/payment-service/overlays/dev }
      staging: { kustomize: apps/payment-service/overlays/staging }
      prod:    { kustomize: apps/payment-service/overlays/prod }
`

var (
	policyWed = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	freezeOn  = time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)
	freezeOff = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
)

func overlayWith(tag string) string {
	return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\n" +
		"images:\n  - name: registry.example.com/payment-service\n    newTag: " + tag + "\n"
}

// TestPolicyCheck: hand-written PRs into the GitOps repository get the
// promobot/policy check; time changes it at the exact moment a freeze
// starts and ends, with a clock the test moves (nothing sleeps).
func TestPolicyCheck(t *testing.T) {
	clock := policychecktest.NewClock(policyWed)
	h, ctx := startWith(t, demo.Options{Rules: []byte(policyRules), Clock: clock, GitOpsFiles: map[string]string{
		demo.OverlayPath("staging"): overlayWith("sha-1111111"), // staging runs sha-1111111; prod sha-0a1b2c3
	}})
	seen := 0

	// A never-staged tag into prod: failure, annotated on the tag line.
	head := handWritten(t, h, "hotfix", "sha-9999999")
	first, err := h.GitHub.OpenPullRequest(demo.GitOpsRepo, "hotfix", "main", "Hotfix prod PAY-3", "", "mallory")
	if err != nil {
		t.Fatal(err)
	}
	seen = awaitPolicy(t, ctx, h, seen, first, worker.Refused)
	if _, err := h.AwaitIndexed(ctx, demo.GitOpsRepo, func(r worker.Result) bool {
		return r.Intent.Kind == intent.KindConfigCheck && r.Intent.Source.Issue == first
	}); err != nil {
		t.Fatal(err) // its configuration check is done before calls are counted below
	}
	run := latestRun(t, h, head)
	if run.Conclusion != "failure" || !strings.Contains(run.Summary, "never ran in staging") {
		t.Fatalf("never-staged tag: %s\n%s", run.Conclusion, run.Summary)
	}
	if len(run.Annotations) != 1 || run.Annotations[0].Path != demo.OverlayPath("prod") || run.Annotations[0].StartLine != 7 ||
		run.Annotations[0].Level != "failure" || !strings.Contains(run.Annotations[0].Message, "sha-9999999") {
		t.Fatalf("annotations %+v, want one on the newTag line", run.Annotations)
	}

	// A compliant prod PR: green now, red when the freeze starts, green
	// when it ends.
	head = handWritten(t, h, "prod-1111111", "sha-1111111")
	h.GitHub.ResetCalls()
	n, err := h.GitHub.OpenPullRequest(demo.GitOpsRepo, "prod-1111111", "main", "Promote payment-service to prod", "Ticket: PAY-7", "alice")
	if err != nil {
		t.Fatal(err)
	}
	seen = awaitPolicy(t, ctx, h, seen, n, worker.Updated)
	// An opened PR also asks for its promobot/config check, which lists the
	// PR's files once to see whether the configuration changes: wait for it,
	// and count its one call apart.
	if _, err := h.AwaitIndexed(ctx, demo.GitOpsRepo, func(r worker.Result) bool {
		return r.Intent.Kind == intent.KindConfigCheck && r.Intent.Source.Issue == n
	}); err != nil {
		t.Fatal(err)
	}
	apiCalls(t, h, "opened, first verdict", 1, 1)
	if run := latestRun(t, h, head); run.Conclusion != "success" || !strings.Contains(run.Summary, "Judged again at 2026-11-27T18:00:00Z") {
		t.Fatalf("compliant PR: %s\n%s", run.Conclusion, run.Summary)
	}

	h.GitHub.ResetCalls()
	// Both open PRs have the freeze ahead; each is judged again.
	clock.Set(freezeOn)
	seen = awaitPolicies(t, ctx, h, seen, map[int]worker.Outcome{first: worker.Refused, n: worker.Refused})
	apiCalls(t, h, "freeze starts, verdict changes", 2, 0)
	h.GitHub.ResetCalls()
	clock.Set(freezeOff)
	seen = awaitPolicies(t, ctx, h, seen, map[int]worker.Outcome{first: worker.Refused, n: worker.Updated})
	apiCalls(t, h, "freeze ends, verdict changes", 2, 0)

	// Edited without a change of verdict: read, nothing written.
	h.GitHub.ResetCalls()
	if code, err := h.Send(ctx, "pull_request", demo.DeliveryID(), editedPayload(t, n, head)); err != nil || code != 202 {
		t.Fatalf("pull_request edited: %d %v", code, err)
	}
	seen = awaitPolicy(t, ctx, h, seen, n, worker.Skipped)
	apiCalls(t, h, "edited, same verdict", 1, 0)
	if run := latestRun(t, h, head); run.Conclusion != "success" || len(run.Annotations) != 0 {
		t.Fatalf("after the freeze: %s %+v\n%s", run.Conclusion, run.Annotations, run.Summary)
	}

	// A PR that touches no target gets no check run.
	readme := "# gitops\n"
	other, err := h.GitHub.Commit(demo.GitOpsRepo, "docs", map[string]*string{"README.md": &readme}, "docs")
	if err != nil {
		t.Fatal(err)
	}
	n, err = h.GitHub.OpenPullRequest(demo.GitOpsRepo, "docs", "main", "Docs", "", "bob")
	if err != nil {
		t.Fatal(err)
	}
	awaitPolicy(t, ctx, h, seen, n, worker.Skipped)
	if runs := h.GitHub.CheckRuns(demo.GitOpsRepo, other); len(runs) != 0 {
		t.Fatalf("a PR that touches no target got check runs: %+v", runs)
	}
}

// handWritten commits prod's overlay with tag on a new branch, as a person
// would, and returns the commit.
func handWritten(t *testing.T, h *demo.Harness, branch, tag string) string {
	t.Helper()
	content := overlayWith(tag)
	sha, err := h.GitHub.Commit(demo.GitOpsRepo, branch, map[string]*string{demo.OverlayPath("prod"): &content}, "prod: "+tag)
	if err != nil {
		t.Fatal(err)
	}
	return sha
}

// awaitPolicy waits for the next policy result of PR n after result
// number from, checks its outcome and returns the number to wait from next.
func awaitPolicy(t *testing.T, ctx context.Context, h *demo.Harness, from, n int, want worker.Outcome) int {
	t.Helper()
	for i := from; ; i++ {
		r, err := h.AwaitPolicy(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if r.Intent.Kind != intent.KindPolicy || r.Intent.Source.Issue != n {
			continue
		}
		if r.Outcome != want {
			t.Fatalf("policy check of PR #%d: %s (%s), want %s", n, r.Outcome, r.Reason, want)
		}
		return i + 1
	}
}

// policyRead are the reads of a promobot/policy evaluation, which follows
// every event of a PR: tests that count a promotion's calls leave them out.
var policyRead = map[string]bool{
	"GET /repos/{owner}/{repo}/pulls/{pull_number}":       true,
	"GET /repos/{owner}/{repo}/pulls/{pull_number}/files": true,
	"GET /repos/{owner}/{repo}/git/blobs/{file_sha}":      true,
}

// apiCalls logs the REST calls of evals policy evaluations made since the
// last reset (git fetches over smart HTTP are not REST calls), besides
// other calls made for other checks in the meantime, and fails above five
// per evaluation.
func apiCalls(t *testing.T, h *demo.Harness, what string, evals, other int) {
	t.Helper()
	n, routes := 0, []string{}
	for _, c := range h.GitHub.Calls() {
		if c.Route == "" || strings.Contains(c.Route, "access_tokens") {
			continue
		}
		n++
		routes = append(routes, c.Route)
	}
	t.Logf("policy evaluations (%s): %d, %d REST calls (%d of them for other checks): %s", what, evals, n, other, strings.Join(routes, ", "))
	if n -= other; n > 5*evals {
		t.Errorf("policy evaluations (%s): %d REST calls for %d, want at most 5 each", what, n, evals)
	}
}

// editedPayload is a pull_request edited delivery for PR n of the GitOps
// repository, as GitHub sends when its title changes.
func editedPayload(t *testing.T, n int, head string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"action": "edited", "number": n,
		"changes":      map[string]any{"title": map[string]any{"from": "Promote"}},
		"pull_request": map[string]any{"number": n, "state": "open", "title": "Promote payment-service to prod", "head": map[string]any{"sha": head, "ref": "prod-1111111"}, "base": map[string]any{"ref": "main"}},
		"repository":   map[string]any{"full_name": demo.GitOpsRepo},
		"installation": map[string]any{"id": demo.InstallationID},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// awaitPolicies waits until each PR of want has its next policy result
// after result number from, with the outcome given.
func awaitPolicies(t *testing.T, ctx context.Context, h *demo.Harness, from int, want map[int]worker.Outcome) int {
	t.Helper()
	got := map[int]bool{}
	for i := from; ; i++ {
		r, err := h.AwaitPolicy(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		pr := r.Intent.Source.Issue
		if o, ok := want[pr]; !ok || got[pr] || r.Intent.Kind != intent.KindPolicy {
			continue
		} else if r.Outcome != o {
			t.Fatalf("policy check of PR #%d: %s (%s), want %s", pr, r.Outcome, r.Reason, o)
		}
		if got[pr] = true; len(got) == len(want) {
			return i + 1
		}
	}
}

func latestRun(t *testing.T, h *demo.Harness, sha string) githubtest.CheckRun {
	t.Helper()
	var last *githubtest.CheckRun
	for _, r := range h.GitHub.CheckRuns(demo.GitOpsRepo, sha) {
		if r.Name == policy.CheckName {
			last = &r
		}
	}
	if last == nil {
		t.Fatalf("no %s check run on %s", policy.CheckName, sha)
	}
	return *last
}

// TestHealthStatusJudgesPolicyAgain: a hand-written prod PR whose tag runs
// in staging, while staging is unhealthy, fails promobot/policy; the
// success status Argo CD posts on main turns it green with no PR event.
func TestHealthStatusJudgesPolicyAgain(t *testing.T) {
	rules := strings.Replace(policyRules, "    auto: true\n  - name: prod\n",
		"    auto: true\n    health: { checks: ['continuous-delivery/{{.Service}}-staging'] }\n  - name: prod\n", 1)
	h, ctx := startWith(t, demo.Options{Rules: []byte(rules), Clock: policychecktest.NewClock(policyWed), GitOpsFiles: map[string]string{
		demo.OverlayPath("staging"): overlayWith("sha-1111111"),
	}})
	cd, argo := "continuous-delivery/payment-service-staging", "https://argocd.example.com/applications/payment-service-staging"
	if err := h.GitHub.SetStatus(demo.GitOpsRepo, "main", cd, "failure", argo, "argocd"); err != nil {
		t.Fatal(err)
	}
	head := handWritten(t, h, "prod-1111111", "sha-1111111")
	n, err := h.GitHub.OpenPullRequest(demo.GitOpsRepo, "prod-1111111", "main", "Promote payment-service to prod", "Ticket: PAY-7", "alice")
	if err != nil {
		t.Fatal(err)
	}
	seen := awaitPolicy(t, ctx, h, 0, n, worker.Refused)
	if run := latestRun(t, h, head); run.Conclusion != "failure" || !strings.Contains(run.Summary, cd) {
		t.Fatalf("prod PR while staging is unhealthy: %s\n%s", run.Conclusion, run.Summary)
	}

	if err := h.GitHub.SetStatus(demo.GitOpsRepo, "main", cd, "success", argo, "argocd"); err != nil {
		t.Fatal(err)
	}
	for i := seen; ; i++ {
		r, err := h.AwaitPolicy(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if r.Intent.Event == "status" && r.Outcome == worker.Updated {
			break
		}
	}
	if run := latestRun(t, h, head); run.Conclusion != "success" {
		t.Fatalf("prod PR after staging turned healthy: %s\n%s", run.Conclusion, run.Summary)
	}
	for _, err := range githubtest.CheckCalls(h.GitHub.Calls()) {
		t.Errorf("undocumented request: %v", err)
	}
}
