package worker

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/automerge"
	"github.com/promobot/promobot/internal/automerge/automergetest"
	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/rules"
)

// closeLoopRules: staging merges itself (squash) and says when a tag runs
// well there.
var closeLoopRules = strings.Replace(testRules, "  - { name: staging, auto: true, soak: 1h }\n",
	"  - name: staging\n    auto: true\n    autoMerge: true\n    mergeMethod: squash\n    health: { checks: ['continuous-delivery/{{.Service}}-staging'], timeout: 30m }\n", 1)

func closeLoopFixture(t *testing.T, s automerge.Settings) *fixture {
	t.Helper()
	f := newFixture(t)
	rs, err := rules.Parse("rules.yaml", []byte(closeLoopRules))
	if err != nil {
		t.Fatal(err)
	}
	f.repos.rules = rs
	f.repos.merge = automergetest.New(s)
	f.repos.merge.Pulls = map[int]*automerge.Pull{}
	f.w.Merges = automerge.Merger{}
	return f
}

// pullFromWriter copies the PR the writer opened into the auto-merge fake,
// as GitHub would show it.
func pullFromWriter(f *fixture, n int, userType string, mergeable bool, state string) {
	p := f.gh.Pull(n)
	f.repos.merge.Pulls[n] = &automerge.Pull{Number: n, NodeID: "PR_" + p.Head, State: "open", HeadSHA: "h" + p.Head,
		Mergeable: &mergeable, MergeableState: state, Body: p.Body, UserType: userType, HeadRef: p.Head, HeadRepo: repoName}
}

func TestAutoMergeEnabledWhenThePROpens(t *testing.T) {
	f := closeLoopFixture(t, automerge.Settings{AllowAutoMerge: true, Methods: []string{"merge", "squash"}})
	// GitHub's view of the PR the writer is about to open.
	f.repos.merge.Pulls[1] = &automerge.Pull{Number: 1, NodeID: "PR_1", State: "open", HeadSHA: "x"}
	in := promoteIntent("staging")
	in.From = "dev"
	out := f.w.Handle(context.Background(), deliver(t, in))
	if out.Action != queue.Ack || f.last(t).Outcome != Opened {
		t.Fatalf("outcome %v %+v, want an opened PR", out, f.last(t))
	}
	if !slices.Contains(f.repos.merge.Calls, "enable PR_1 squash") {
		t.Errorf("calls %q, want GitHub's auto-merge enabled with the rule's method", f.repos.merge.Calls)
	}
}

func TestMergeIntents(t *testing.T) {
	for _, tc := range []struct {
		name      string
		userType  string
		state     string
		check     *intent.Check
		byBranch  bool
		wantCalls []string // the auto-merge fake's calls after the PR read
		comment   string
	}{
		{name: "checks green: merged with the rule's method", userType: "Bot", state: "clean",
			wantCalls: []string{"settings", "pull 1", "merge 1 squash"}},
		{name: "found by its branch (a status event)", userType: "Bot", state: "clean", byBranch: true,
			wantCalls: []string{"settings", "pull 1", "merge 1 squash"}},
		{name: "a required check pending: not merged", userType: "Bot", state: "blocked",
			wantCalls: []string{"settings", "pull 1"}},
		{name: "a check failed: told once, not merged", userType: "Bot", state: "blocked",
			check:     &intent.Check{Name: "ci/test", State: "failure", URL: "https://ci.example.com/9"},
			wantCalls: []string{"pull 1", "comment 1"}, comment: "[ci/test](https://ci.example.com/9) failed"},
		{name: "a hand-written PR with a pasted metadata block is never merged", userType: "User", state: "clean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := closeLoopFixture(t, automerge.Settings{Methods: []string{"merge", "squash"}})
			in := promoteIntent("staging")
			in.From = "dev"
			f.w.Handle(context.Background(), deliver(t, in)) // opens PR #1
			pullFromWriter(f, 1, tc.userType, true, tc.state)
			f.repos.merge.Calls = nil
			m := intent.Intent{ID: "d2:0", DeliveryID: "d2", Event: "check_suite", Kind: intent.KindMerge, Repo: repoName,
				Source: intent.SourceRef{Issue: 1}, Check: tc.check}
			if tc.byBranch {
				m.Source = intent.SourceRef{Ref: f.gh.Pull(1).Head}
			}
			for range 2 { // a redelivery changes nothing
				if out := f.w.Handle(context.Background(), deliver(t, m)); out.Action != queue.Ack {
					t.Fatalf("action %v (%s), want ack", out.Action, out.Reason)
				}
			}
			calls := f.repos.merge.Calls
			if tc.wantCalls == nil {
				if slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "merge") || strings.HasPrefix(c, "comment") }) {
					t.Errorf("calls %q: a PR not promobot's must not be touched", calls)
				}
			} else if got := calls[1:]; len(calls) < 1 || !slices.Equal(got[:min(len(got), len(tc.wantCalls))], tc.wantCalls) {
				t.Errorf("calls %q, want (after the first read) %q", calls, tc.wantCalls)
			}
			merged := slices.ContainsFunc(f.results, func(r Result) bool { return r.Outcome == Merged && r.PR == 1 })
			if want := slices.Contains(tc.wantCalls, "merge 1 squash"); merged != want {
				t.Errorf("a merged result: %v, want %v", merged, want)
			}
			cs := f.repos.merge.Commented(1)
			if tc.comment == "" && len(cs) > 0 || tc.comment != "" && (len(cs) != 1 || !strings.Contains(cs[0].Body, tc.comment)) {
				t.Errorf("comments %+v, want %q once", cs, tc.comment)
			}
		})
	}
}

// checksView reports on a run of staging commits.
type checksView struct {
	run     []planner.Commit
	results map[string][]planner.CheckResult
}

func (c checksView) Run(context.Context, string, func([]byte) bool) ([]planner.Commit, error) {
	return c.run, nil
}

func (c checksView) Results(_ context.Context, sha string, _ []string) ([]planner.CheckResult, error) {
	return c.results[sha], nil
}

func TestUnhealthyStagingToldOnce(t *testing.T) {
	f := closeLoopFixture(t, automerge.Settings{Methods: []string{"merge"}})
	cd := "continuous-delivery/payment-service-staging"
	f.repos.checks = checksView{
		run:     []planner.Commit{{SHA: "c2"}, {SHA: "c1", Message: "Promote payment-service sha-3333333 to staging (#7)", When: now.Add(-10 * time.Minute)}},
		results: map[string][]planner.CheckResult{"c2": {{Name: cd, State: "failure", URL: "https://argocd.example.com/applications/payment-service-staging"}}},
	}
	f.repos.merge.Pulls[7] = &automerge.Pull{Number: 7, State: "closed", Merged: true}
	f.repos.base.files["apps/payment-service/overlays/staging/kustomization.yaml"] = overlay("sha-3333333")
	in := promoteIntent("prod")
	in.From, in.Part = "staging", "prod-eu"
	for range 2 {
		if out := f.w.Handle(context.Background(), deliver(t, in)); out.Action != queue.Ack {
			t.Fatalf("action %v (%s), want ack: a failed check is not retried", out.Action, out.Reason)
		}
	}
	r := f.last(t)
	if r.Outcome != Refused || !strings.Contains(r.Reason, "check "+cd+" failed (https://argocd.example.com/applications/payment-service-staging)") {
		t.Errorf("result %s %q, want refused naming the check and its link", r.Outcome, r.Reason)
	}
	cs := f.repos.merge.Commented(7)
	if len(cs) != 1 || !strings.Contains(cs[0].Body, "["+cd+"](https://argocd.example.com/applications/payment-service-staging) failed") ||
		!strings.HasPrefix(cs[0].Body, healthMarker) {
		t.Fatalf("comments on #7 %+v, want one naming the failed check", cs)
	}
	golden(t, "health-comment.golden", cs[0].Body)
	if len(f.gh.Pulls) != 0 {
		t.Errorf("a prod PR was opened through a failed health check")
	}
}

func TestWaitingForHealthRetriesByTheBackstop(t *testing.T) {
	f := closeLoopFixture(t, automerge.Settings{Methods: []string{"merge"}})
	f.repos.checks = checksView{run: []planner.Commit{{SHA: "c1", When: now.Add(-10 * time.Minute)}}}
	f.repos.base.files["apps/payment-service/overlays/staging/kustomization.yaml"] = overlay("sha-3333333")
	in := promoteIntent("prod")
	in.From, in.Part = "staging", "prod-eu"
	out := f.w.Handle(context.Background(), deliver(t, in))
	if out.Action != queue.Retry || out.Delay != planner.HealthRecheck {
		t.Errorf("action %v delay %v, want a retry after %v", out.Action, out.Delay, planner.HealthRecheck)
	}
	if len(f.repos.merge.Commented(7)) != 0 {
		t.Errorf("a wait told someone")
	}
}

func TestHealthTimeoutTold(t *testing.T) {
	f := closeLoopFixture(t, automerge.Settings{Methods: []string{"merge"}})
	f.repos.checks = checksView{run: []planner.Commit{{SHA: "c1", Message: "Merge pull request #7 from acme/promobot/staging/payment-service", When: now.Add(-31 * time.Minute)}}}
	f.repos.base.files["apps/payment-service/overlays/staging/kustomization.yaml"] = overlay("sha-3333333")
	in := promoteIntent("prod")
	in.From, in.Part = "staging", "prod-eu"
	if out := f.w.Handle(context.Background(), deliver(t, in)); out.Action != queue.Ack {
		t.Fatalf("action %v, want ack: a timeout is final", out.Action)
	}
	if r := f.last(t); r.Outcome != Refused || !strings.Contains(r.Reason, "within 30m0s") {
		t.Errorf("result %s %q, want refused after the timeout", r.Outcome, r.Reason)
	}
	if cs := f.repos.merge.Commented(7); len(cs) != 1 || !strings.Contains(cs[0].Body, "no success from `continuous-delivery/payment-service-staging` within 30m0s") {
		t.Errorf("comments on #7 %+v, want one saying the check never succeeded", cs)
	}
}

// commitComments keeps comments per commit; fail makes writes fail.
type commitComments struct {
	by   map[string][]string
	fail error
}

func (c *commitComments) ListCommitComments(_ context.Context, _, sha string) ([]string, error) {
	return c.by[sha], nil
}

func (c *commitComments) CreateCommitComment(_ context.Context, _, sha, body string) error {
	if c.fail != nil {
		return c.fail
	}
	c.by[sha] = append(c.by[sha], body)
	return nil
}

func TestUnhealthyAfterADirectCommitToldOnTheCommit(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail error
		want int
	}{
		{"told once on the commit", nil, 1},
		{"GitHub refuses the comment: the refusal stands, the intent is not failed", fate.Terminalf("422"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := closeLoopFixture(t, automerge.Settings{Methods: []string{"merge"}})
			cc := &commitComments{by: map[string][]string{}, fail: tc.fail}
			f.repos.commits = cc
			f.repos.checks = checksView{
				run:     []planner.Commit{{SHA: "c1", Message: "Promote payment-service sha-3333333 to staging", When: now.Add(-time.Minute)}},
				results: map[string][]planner.CheckResult{"c1": {{Name: "continuous-delivery/payment-service-staging", State: "error"}}},
			}
			f.repos.base.files["apps/payment-service/overlays/staging/kustomization.yaml"] = overlay("sha-3333333")
			in := promoteIntent("prod")
			in.From, in.Part = "staging", "prod-eu"
			for range 2 {
				if out := f.w.Handle(context.Background(), deliver(t, in)); out.Action != queue.Ack {
					t.Fatalf("action %v (%s), want ack", out.Action, out.Reason)
				}
			}
			if got := len(cc.by["c1"]); got != tc.want {
				t.Errorf("%d comments on the commit, want %d", got, tc.want)
			}
		})
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}
