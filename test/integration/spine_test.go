// Package integration runs promobot end to end: its own wiring (internal/app)
// with an embedded nats-server, the GitHub test server with real git
// repositories, and the Kustomize engine rendering the result.
package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/worker"
)

func start(t *testing.T) (*demo.Harness, context.Context) {
	t.Helper()
	return startWith(t, demo.Options{})
}

// startWith starts the GitHub test server and promobot with o (Dir and Log
// filled in) for one test.
func startWith(t *testing.T, o demo.Options) (*demo.Harness, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	o.Dir = t.TempDir()
	o.Log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	h, err := demo.Start(ctx, o)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(h.Close)
	return h, ctx
}

// expect waits for result n and checks its outcome.
func expect(t *testing.T, ctx context.Context, h *demo.Harness, n int, want worker.Outcome) worker.Result {
	t.Helper()
	r, err := h.Await(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != want {
		t.Fatalf("intent result #%d (%s, %s→%s): outcome %s (%s), want %s", n, r.Intent.Kind, r.Intent.From, r.Intent.To, r.Outcome, r.Reason, want)
	}
	return r
}

func build(t *testing.T, ctx context.Context, h *demo.Harness, msg string, run int) (sha, delivery string, payload []byte) {
	t.Helper()
	sha, err := h.SourceCommit(msg)
	if err != nil {
		t.Fatal(err)
	}
	payload, err = h.WorkflowRun(demo.Build{SHA: sha, Message: msg, RunNumber: run})
	if err != nil {
		t.Fatal(err)
	}
	delivery = demo.DeliveryID()
	if code, err := h.Send(ctx, "workflow_run", delivery, payload); err != nil || code != 202 {
		t.Fatalf("workflow_run delivery: %d %v", code, err)
	}
	return sha, delivery, payload
}

// renderImage builds the env overlay at ref with the real Kustomize engine
// and returns the payment-service container image.
func renderImage(t *testing.T, h *demo.Harness, ref, env string) string {
	t.Helper()
	dir := t.TempDir()
	if err := h.GitHub.Checkout(demo.GitOpsRepo, ref, dir); err != nil {
		t.Fatal(err)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(dir, "apps", demo.Service, "overlays", env))
	if err != nil {
		t.Fatalf("kustomize build %s@%s: %v", env, ref, err)
	}
	for _, r := range m.Resources() {
		if r.GetKind() != "Deployment" {
			continue
		}
		cs, err := r.GetSlice("spec.template.spec.containers")
		if err != nil || len(cs) == 0 {
			t.Fatalf("rendered deployment has no containers: %v", err)
		}
		return cs[0].(map[string]any)["image"].(string)
	}
	t.Fatalf("kustomize build %s@%s rendered no Deployment", env, ref)
	return ""
}

// changedLines returns the +/- lines of a unified diff, without headers.
func changedLines(diff string) []string {
	var out []string
	for _, l := range strings.Split(diff, "\n") {
		if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) && !strings.HasPrefix(l, "+++") && !strings.HasPrefix(l, "---") {
			out = append(out, l)
		}
	}
	return out
}

func findPR(t *testing.T, h *demo.Harness, n int) githubtest.PR {
	t.Helper()
	pr, err := h.PR(n)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// TestPromotionSpine walks the whole chain of issue #2.
func TestPromotionSpine(t *testing.T) {
	h, ctx := start(t)
	gh := h.GitHub
	image := demo.Image + ":"

	// 1. A successful build: dev is direct, so promobot commits to main.
	sha1, delivery1, payload1 := build(t, ctx, h, "PAY-123: round refunds to the cent", 42)
	tag1 := "sha-" + sha1[:7]
	dev := expect(t, ctx, h, 0, worker.Committed)
	if got := renderImage(t, h, dev.Commit, "dev"); got != image+tag1 {
		t.Errorf("dev renders %s, want %s", got, image+tag1)
	}
	if st := gh.Statuses(demo.SourceRepo, sha1); len(st) != 1 || st[0].Context != "promobot/dev" || st[0].State != "success" {
		t.Errorf("source commit statuses = %+v, want one promobot/dev success", st)
	}

	// 2. That push changed dev; staging is auto: a staging PR whose diff is exactly the tag line.
	stg := expect(t, ctx, h, 1, worker.Opened)
	pr := findPR(t, h, stg.PR)
	if pr.Head != "promobot/staging/payment-service" || pr.Base != "main" {
		t.Errorf("staging PR head/base = %s/%s", pr.Head, pr.Base)
	}
	diff, err := gh.Diff(demo.GitOpsRepo, "main", pr.HeadSHA)
	if err != nil {
		t.Fatal(err)
	}
	if got := changedLines(diff); len(got) != 2 || !strings.Contains(got[0], "newTag: sha-0a1b2c3") || !strings.Contains(got[1], "newTag: "+tag1+" # promoted by promobot") {
		t.Errorf("staging PR diff is not exactly the tag line:\n%s", diff)
	}
	if got := renderImage(t, h, pr.HeadSHA, "staging"); got != image+tag1 {
		t.Errorf("staging PR head renders %s, want %s", got, image+tag1)
	}
	if !strings.Contains(pr.Title, tag1) || !strings.Contains(pr.Title, "[PAY-123]") {
		t.Errorf("staging PR title %q lacks the tag or the ticket", pr.Title)
	}
	if !contains(pr.Labels, "promotion") || !contains(pr.Labels, "env:staging") {
		t.Errorf("staging PR labels = %v", pr.Labels)
	}

	// 3. The same delivery again (GitHub's redeliver): no new intent, no second PR.
	if code, err := h.Send(ctx, "workflow_run", delivery1, payload1); err != nil || code != 202 {
		t.Fatalf("redelivery: %d %v", code, err)
	}

	// 4. A newer build while the staging PR is open: the same PR is updated.
	_, _, _ = build(t, ctx, h, "PAY-124: refunds in yen", 43)
	sha2 := gh.Branches(demo.SourceRepo)["main"]
	tag2 := "sha-" + sha2[:7]
	expect(t, ctx, h, 2, worker.Committed)
	upd := expect(t, ctx, h, 3, worker.Updated)
	if upd.PR != pr.Number {
		t.Fatalf("newer tag opened PR #%d instead of updating #%d", upd.PR, pr.Number)
	}
	pr = findPR(t, h, pr.Number)
	if got := renderImage(t, h, pr.HeadSHA, "staging"); got != image+tag2 {
		t.Errorf("updated staging PR renders %s, want %s", got, image+tag2)
	}
	if !strings.Contains(pr.Body, tag1) || !strings.Contains(pr.Body, "replaces the earlier proposal") {
		t.Errorf("updated PR body does not say which tag it replaced:\n%s", pr.Body)
	}
	if n := countOpen(gh.PullRequests(demo.GitOpsRepo)); n != 1 {
		t.Errorf("%d open PRs, want 1", n)
	}

	// 5. Merge staging: prod is manual, so the push leads to no intent.
	if _, err := gh.Merge(demo.GitOpsRepo, pr.Number, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := gh.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if got := renderImage(t, h, "main", "staging"); got != image+tag2 {
		t.Errorf("main's staging renders %s after the merge, want %s", got, image+tag2)
	}

	// 6. A requested promotion to prod: reviewers, labels and the ticket link.
	merged := findPR(t, h, pr.Number)
	if _, err := h.RequestPromotion(ctx, demo.Request{Env: "prod", Requester: "alice", PR: merged}); err != nil {
		t.Fatal(err)
	}
	prodRes := expect(t, ctx, h, 4, worker.Opened)
	if got := len(h.Results()); got != 5 {
		t.Errorf("%d intents handled, want 5 (the redelivery and the staging merge must add none): %+v", got, h.Results())
	}
	prod := findPR(t, h, prodRes.PR)
	if prod.Head != "promobot/prod/payment-service" {
		t.Errorf("prod PR head = %s", prod.Head)
	}
	if !contains(prod.Reviewers, "alice") || !contains(prod.TeamReviewers, "payments-leads") {
		t.Errorf("prod reviewers = %v teams %v", prod.Reviewers, prod.TeamReviewers)
	}
	if !contains(prod.Labels, "env:prod") || !contains(prod.Labels, "promotion") {
		t.Errorf("prod labels = %v", prod.Labels)
	}
	if !strings.Contains(prod.Body, "[PAY-124](https://jira.example.com/browse/PAY-124)") {
		t.Errorf("prod PR body lacks the ticket link:\n%s", prod.Body)
	}
	if !strings.Contains(prod.Body, "@alice") {
		t.Errorf("prod PR body does not name the requester:\n%s", prod.Body)
	}
	if got := renderImage(t, h, prod.HeadSHA, "prod"); got != image+tag2 {
		t.Errorf("prod PR head renders %s, want %s", got, image+tag2)
	}

	// Every request promobot sent is a documented GitHub operation.
	for _, err := range githubtest.CheckCalls(gh.Calls()) {
		t.Errorf("undocumented request: %v", err)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func countOpen(prs []githubtest.PR) int {
	n := 0
	for _, pr := range prs {
		if pr.State == "open" {
			n++
		}
	}
	return n
}

func TestMain(m *testing.M) {
	if _, err := os.Stat("/usr/bin/git"); err != nil {
		fmt.Fprintln(os.Stderr, "integration tests need the git CLI (the GitHub test server serves smart HTTP with git http-backend)")
		os.Exit(1)
	}
	os.Exit(m.Run())
}
