package worker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/budget"
	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/policycheck"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/rules"
)

// fakePolicy answers with a fixed outcome and records what it was given.
type fakePolicy struct {
	out   policycheck.Outcome
	err   error
	calls int
	gh    policycheck.GitHub
}

func (p *fakePolicy) Check(_ context.Context, gh policycheck.GitHub, rs *rules.Rules, v planner.Views, in intent.Intent) (policycheck.Outcome, error) {
	p.calls++
	p.gh = gh
	if rs == nil || v.Base == nil {
		return policycheck.Outcome{}, errors.New("no tree")
	}
	return p.out, p.err
}

// checkRuns records the check runs the worker writes itself.
type checkRuns struct {
	policycheck.GitHub
	runs []policycheck.CheckRun
}

func (c *checkRuns) CreateCheckRun(_ context.Context, _ string, r policycheck.CheckRun) (int64, error) {
	c.runs = append(c.runs, r)
	return int64(len(c.runs)), nil
}

func policyIntent() intent.Intent {
	return intent.Intent{ID: "d9:0", DeliveryID: "d9", Event: "pull_request", Kind: intent.KindPolicy, Repo: repoName,
		Source: intent.SourceRef{Repo: repoName, SHA: strings.Repeat("c", 40), Issue: 4}}
}

func TestHandlePolicy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		out     policycheck.Outcome
		err     error
		outcome Outcome
		action  queue.Action
		reason  string
	}{
		{name: "failure written", out: policycheck.Outcome{Conclusion: "failure", Wrote: "created"}, outcome: Refused, action: queue.Ack,
			reason: "failure on PR #4 (check run created)"},
		{name: "success written", out: policycheck.Outcome{Conclusion: "success", Wrote: "updated"}, outcome: Updated, action: queue.Ack},
		{name: "unchanged", out: policycheck.Outcome{Conclusion: "success"}, outcome: Skipped, action: queue.Ack, reason: "unchanged"},
		{name: "no target", out: policycheck.Outcome{Skip: "PR #4 touches no target: no check run"}, outcome: Skipped, action: queue.Ack},
		{name: "GitHub down", err: errors.New("502"), outcome: Delayed, action: queue.Retry},
		{name: "cannot be judged", err: fate.Terminalf("broken rules"), outcome: Failed, action: queue.Terminal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			runs := &checkRuns{}
			f.repos.policy = runs
			p := &fakePolicy{out: tc.out, err: tc.err}
			f.w.Policy = p
			out := f.w.Handle(context.Background(), deliver(t, policyIntent()))
			if out.Action != tc.action {
				t.Errorf("action = %v, want %v", out.Action, tc.action)
			}
			r := f.last(t)
			if r.Outcome != tc.outcome || !strings.Contains(r.Reason, tc.reason) || r.PR != 4 {
				t.Errorf("result = %s %q PR %d, want %s %q", r.Outcome, r.Reason, r.PR, tc.outcome, tc.reason)
			}
			if p.calls != 1 || p.gh != runs {
				t.Errorf("policy called %d times with %v", p.calls, p.gh)
			}
			if got := f.hold.keys; len(got) != 1 || got[0] != "acme/gitops/_policy/pr-4" {
				t.Errorf("held %v, want the PR's lease", got)
			}
			// A check that cannot be judged fails closed, on the PR's head.
			if tc.action == queue.Terminal {
				if len(runs.runs) != 1 || runs.runs[0].Conclusion != "failure" || !strings.Contains(runs.runs[0].Summary, "broken rules") {
					t.Errorf("check runs %+v, want one failure naming the cause", runs.runs)
				}
			} else if len(runs.runs) != 0 {
				t.Errorf("the worker wrote %d check runs itself", len(runs.runs))
			}
		})
	}
}

func TestHandlePolicyWithoutChecker(t *testing.T) {
	f := newFixture(t)
	if out := f.w.Handle(context.Background(), deliver(t, policyIntent())); out.Action != queue.Ack {
		t.Fatalf("action = %v", out.Action)
	}
	if r := f.last(t); r.Outcome != Skipped || !strings.Contains(r.Reason, "not enabled") {
		t.Errorf("result = %s %q", r.Outcome, r.Reason)
	}
}

// A policy check reserves its one write in the budget, and waits when
// the budget says so.
func TestHandlePolicyBudget(t *testing.T) {
	f := newFixture(t)
	f.repos.policy = &checkRuns{}
	f.w.Policy = &fakePolicy{out: policycheck.Outcome{Conclusion: "success", Wrote: "created"}}
	b := withBudget(f)
	f.w.Handle(context.Background(), deliver(t, policyIntent()))
	want := budget.Ticket{Repo: repoName, ID: "d9:0|acme/gitops/_policy/pr-4", Priority: budget.Bulk, Writes: 1}
	if len(b.tickets) != 1 || b.tickets[0] != want || b.done != 1 {
		t.Fatalf("tickets %+v settled %d times, want %+v once", b.tickets, b.done, want)
	}

	b.delay = &budget.Delay{Retry: now.Add(time.Minute)}
	out := f.w.Handle(context.Background(), deliver(t, policyIntent()))
	if out.Action != queue.Retry || out.Delay != time.Minute {
		t.Errorf("waiting for the budget: %+v, want a retry in a minute", out)
	}
}
