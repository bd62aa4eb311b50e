package reliability

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/worker"
)

// faultKind is what the fault schedule answered one API call with.
type faultKind string

const (
	noFault   faultKind = ""
	serverErr faultKind = "5xx"
	secondary faultKind = "secondary 403"
	primary   faultKind = "primary 403"
)

// apiCall is one REST request promobot made, as the fault hook saw it.
type apiCall struct {
	n      int
	at     time.Time
	route  string
	fault  faultKind
	status int
	// notBefore is when GitHub allows the next request (rate limits only).
	notBefore time.Time
}

// faultSchedule answers GitHub API calls by a deterministic counter: calls
// 3, 6 and 9 of every ten get a 5xx (30%), call secondaryAt a secondary
// rate limit with Retry-After: 1, call primaryAt a primary rate limit
// (X-RateLimit-Remaining: 0) resetting 2 s later. It records when every
// call came.
type faultSchedule struct {
	secondaryAt, primaryAt int

	mu    sync.Mutex
	calls []apiCall
}

func (f *faultSchedule) hook(c githubtest.Call) *githubtest.Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	n := len(f.calls)
	rec := apiCall{n: n, at: now, route: c.Route}
	var fault *githubtest.Fault
	switch {
	case n == f.secondaryAt:
		fault = githubtest.SecondaryRateLimitFault(time.Second)
		rec.fault, rec.notBefore = secondary, now.Add(time.Second)
	case n == f.primaryAt:
		// GitHub's reset is a Unix second: the limit lifts at that second.
		reset := time.Unix(now.Add(2*time.Second).Unix(), 0)
		fault = githubtest.PrimaryRateLimitFault(reset)
		rec.fault, rec.notBefore = primary, reset
	case n%10 == 2 || n%10 == 5 || n%10 == 8:
		codes := []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}
		fault = &githubtest.Fault{Status: codes[(n/10)%3]}
		rec.fault = serverErr
	}
	if fault != nil {
		rec.status = fault.Status
	}
	f.calls = append(f.calls, rec)
	return fault
}

func (f *faultSchedule) recorded() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// awaitResult waits for the first final result that match accepts.
func awaitResult(ctx context.Context, h *demo.Harness, what string, match func(worker.Result) bool) (worker.Result, error) {
	for {
		rs := h.Results()
		for _, r := range rs {
			if final(r) && match(r) {
				return r, nil
			}
		}
		if _, err := h.Await(ctx, len(rs)); err != nil {
			return worker.Result{}, fmt.Errorf("waiting for %s: %w (results so far: %s)", what, err, describe(h.Results()))
		}
	}
}

func describe(rs []worker.Result) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "\n  %s %s→%s: %s (%s)", r.Intent.Kind, r.Intent.From, r.Intent.To, r.Outcome, r.Reason)
	}
	return b.String()
}

// TestGitHubFaults runs the whole promotion chain (build → dev commit →
// staging PR → merge → requested prod PR) while GitHub answers 30% of API
// calls with 5xx, one with a secondary rate limit (Retry-After: 1) and one
// with a primary rate limit resetting 2 s later. Every promotion must
// complete with one PR per target, fully decorated, and no request may
// reach GitHub before a rate limit allowed it.
func TestGitHubFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	began := time.Now()
	dir := t.TempDir()
	h, err := demo.Start(ctx, demo.Options{
		// One worker: GitHub sees one request at a time, so "the next
		// call after a rate limit" is well defined.
		Dir: dir, Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), Workers: 1,
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(h.Close)
	gh := h.GitHub
	faults := &faultSchedule{secondaryAt: 4, primaryAt: 13}
	gh.SetFault(faults.hook)

	// 1. A build: dev is direct.
	msg := "PAY-77: survive a flaky GitHub"
	sha, err := h.SourceCommit(msg)
	if err != nil {
		t.Fatal(err)
	}
	tag := "sha-" + sha[:7]
	payload, err := h.WorkflowRun(demo.Build{SHA: sha, Message: msg, RunNumber: 7})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := h.Send(ctx, "workflow_run", demo.DeliveryID(), payload); err != nil || code != 202 {
		t.Fatalf("workflow_run: %d %v", code, err)
	}
	dev, err := awaitResult(ctx, h, "the dev commit", func(r worker.Result) bool { return r.Intent.To == "dev" })
	if err != nil {
		t.Fatal(err)
	}
	if dev.Outcome != worker.Committed {
		t.Fatalf("dev: %s (%s), want %s", dev.Outcome, dev.Reason, worker.Committed)
	}

	// 2. The push of that commit: a staging PR.
	stg, err := awaitResult(ctx, h, "the staging PR", func(r worker.Result) bool { return r.Intent.To == "staging" })
	if err != nil {
		t.Fatal(err)
	}
	if stg.Outcome != worker.Opened && stg.Outcome != worker.Updated {
		t.Fatalf("staging: %s (%s), want a PR", stg.Outcome, stg.Reason)
	}
	if _, err := gh.Merge(demo.GitOpsRepo, stg.PR, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := gh.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}

	// 3. Someone asks for prod.
	merged, err := h.PR(stg.PR)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.RequestPromotion(ctx, demo.Request{Env: "prod", Requester: "alice", PR: merged}); err != nil {
		t.Fatal(err)
	}
	prod, err := awaitResult(ctx, h, "the prod PR", func(r worker.Result) bool { return r.Intent.To == "prod" })
	if err != nil {
		t.Fatal(err)
	}
	if prod.Outcome != worker.Opened && prod.Outcome != worker.Updated {
		t.Fatalf("prod: %s (%s), want a PR", prod.Outcome, prod.Reason)
	}
	wall := time.Since(began)
	calls := faults.recorded()
	gh.SetFault(nil)

	// End state: every promotion happened, once, completely.
	if got, err := gh.File(demo.GitOpsRepo, "main", demo.OverlayPath("staging")); err != nil || !strings.Contains(string(got), "newTag: "+tag) {
		t.Errorf("main's staging overlay after the merge does not run %s (%v):\n%s", tag, err, got)
	}
	prodPR, err := h.PR(prod.PR)
	if err != nil {
		t.Fatal(err)
	}
	if head, err := gh.File(demo.GitOpsRepo, prodPR.HeadSHA, demo.OverlayPath("prod")); err != nil || !strings.Contains(string(head), "newTag: "+tag) {
		t.Errorf("prod PR head does not run %s (%v)", tag, err)
	}
	perHead := map[string]int{}
	for _, pr := range gh.PullRequests(demo.GitOpsRepo) {
		perHead[pr.Head]++
	}
	for head, n := range perHead {
		if n != 1 {
			t.Errorf("%d PRs from %s, want 1", n, head)
		}
	}
	for _, env := range []string{"staging", "prod"} {
		if perHead["promobot/"+env+"/"+demo.Service] != 1 {
			t.Errorf("no PR for %s: %v", env, perHead)
		}
	}
	// A PR opened on an attempt whose decoration failed must still get it.
	for _, n := range []int{stg.PR, prod.PR} {
		pr, err := h.PR(n)
		if err != nil {
			t.Fatal(err)
		}
		env := strings.TrimPrefix(strings.TrimSuffix(pr.Head, "/"+demo.Service), "promobot/")
		if !slices.Contains(pr.Labels, "promotion") || !slices.Contains(pr.Labels, "env:"+env) {
			t.Errorf("PR #%d (%s) labels %v, want promotion and env:%s", n, env, pr.Labels, env)
		}
	}
	if !slices.Contains(prodPR.Reviewers, "alice") || !slices.Contains(prodPR.TeamReviewers, "payments-leads") {
		t.Errorf("prod PR reviewers %v teams %v, want alice and payments-leads", prodPR.Reviewers, prodPR.TeamReviewers)
	}
	if st := gh.Statuses(demo.SourceRepo, sha); len(st) == 0 {
		t.Errorf("the build's commit has no promobot status (the status call is not retried)")
	}
	commits, err := intentCommits(ctx, filepath.Join(dir, "github", "acme", "gitops.git"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []worker.Result{dev, stg, prod} {
		if commits[r.Intent.ID] != 1 {
			t.Errorf("%s intent %s: %d commits in the repository, want 1", r.Intent.To, r.Intent.ID, commits[r.Intent.ID])
		}
	}
	failed := 0
	for _, r := range h.Results() {
		if r.Outcome == worker.Failed {
			failed++
			t.Errorf("intent %s (%s) dead-lettered: %s", r.Intent.ID, r.Intent.To, r.Reason)
		}
	}

	// No request before a rate limit allowed it.
	kinds := map[faultKind]int{}
	for i, c := range calls {
		kinds[c.fault]++
		if c.notBefore.IsZero() {
			continue
		}
		if i+1 == len(calls) {
			t.Errorf("no call after the %s at call %d: the test did not exercise the wait", c.fault, c.n)
			continue
		}
		next := calls[i+1]
		if next.at.Before(c.notBefore) {
			t.Errorf("call %d (%s) came %v after the %s on call %d (%s), %v before GitHub allowed it",
				next.n, next.route, next.at.Sub(c.at).Round(time.Millisecond), c.fault, c.n, c.route, c.notBefore.Sub(next.at).Round(time.Millisecond))
		} else {
			t.Logf("%s on call %d (%s): next call %v later (allowed after %v)", c.fault, c.n, c.route,
				next.at.Sub(c.at).Round(time.Millisecond), c.notBefore.Sub(c.at).Round(time.Millisecond))
		}
	}
	if kinds[secondary] != 1 || kinds[primary] != 1 || kinds[serverErr] == 0 {
		t.Errorf("fault schedule not exercised: %v", kinds)
	}
	delayed := 0
	for _, r := range h.Results() {
		if r.Outcome == worker.Delayed {
			delayed++
		}
	}
	t.Logf("faults: %d API calls, %d answered 5xx, 1 secondary limit, 1 primary limit; %d intent retries through the queue, %d dead-lettered; chain completed in %v",
		len(calls), kinds[serverErr], delayed, failed, wall.Round(time.Millisecond))
}

// TestPRDecoratedAfterFailedLabels: GitHub fails every attempt of the
// labels call on a freshly opened staging PR (ghretry gives up after its
// attempts), so the worker retries the intent through the queue. The retry
// finds the PR it opened and must still label it: a PR without its
// env:<env> label (or, for prod, without its required reviewers) is not a
// completed promotion.
func TestPRDecoratedAfterFailedLabels(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := demo.Start(ctx, demo.Options{
		Dir: t.TempDir(), Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), Workers: 1,
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(h.Close)
	gh := h.GitHub
	var mu sync.Mutex
	failed := 0
	gh.SetFault(func(c githubtest.Call) *githubtest.Fault {
		mu.Lock()
		defer mu.Unlock()
		// Every attempt of the first labels call, and no other call.
		if c.Route == "POST /repos/{owner}/{repo}/issues/{issue_number}/labels" && failed < ghretry.DefaultMaxAttempts {
			failed++
			return &githubtest.Fault{Status: http.StatusBadGateway}
		}
		return nil
	})
	msg := "PAY-78: labels must stick"
	sha, err := h.SourceCommit(msg)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := h.WorkflowRun(demo.Build{SHA: sha, Message: msg, RunNumber: 8})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := h.Send(ctx, "workflow_run", demo.DeliveryID(), payload); err != nil || code != 202 {
		t.Fatalf("workflow_run: %d %v", code, err)
	}
	stg, err := awaitResult(ctx, h, "the staging PR", func(r worker.Result) bool { return r.Intent.To == "staging" })
	if err != nil {
		t.Fatal(err)
	}
	if stg.Outcome != worker.Opened && stg.Outcome != worker.Updated {
		t.Fatalf("staging: %s (%s), want a PR", stg.Outcome, stg.Reason)
	}
	mu.Lock()
	n := failed
	mu.Unlock()
	if n != ghretry.DefaultMaxAttempts {
		t.Fatalf("labels call failed %d times, want %d (the fault did not make the worker retry)", n, ghretry.DefaultMaxAttempts)
	}
	pr, err := h.PR(stg.PR)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pr.Labels, "promotion") || !slices.Contains(pr.Labels, "env:staging") {
		t.Errorf("staging PR #%d labels %v after the retried intent, want promotion and env:staging", pr.Number, pr.Labels)
	}
	if prs := gh.PullRequests(demo.GitOpsRepo); len(prs) != 1 {
		t.Errorf("%d PRs, want 1", len(prs))
	}
}
