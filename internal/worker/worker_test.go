package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/prwriter/prwritertest"
	"github.com/promobot/promobot/internal/queue"
)

func TestAction(t *testing.T) {
	cause := errors.New("boom")
	for _, tc := range []struct {
		name     string
		res      Result
		err      error
		stopping bool
		action   queue.Action
		delay    time.Duration
		outcome  Outcome
	}{
		{"done", Result{Outcome: Opened}, nil, false, queue.Ack, 0, Opened},
		{"gate closed for an hour", Result{Outcome: Refused, RetryAt: now.Add(time.Hour)}, nil, false, queue.Retry, time.Hour, Delayed},
		{"gate already open again", Result{Outcome: Refused, RetryAt: now.Add(-time.Minute)}, nil, false, queue.Retry, time.Second, Delayed},
		{"refused for good", Result{Outcome: Refused}, nil, false, queue.Ack, 0, Refused},
		{"terminal", Result{}, fmt.Errorf("plan: %w", fate.MarkTerminal(cause)), false, queue.Terminal, 0, Failed},
		{"rate limited", Result{}, fate.MarkRetryAt(cause, now.Add(90*time.Second)), false, queue.Retry, 90 * time.Second, Delayed},
		{"base moved: at once", Result{}, fate.MarkRetryAt(cause, time.Time{}), false, queue.Retry, time.Millisecond, Delayed},
		{"unmarked: queue backoff", Result{}, cause, false, queue.Retry, 0, Delayed},
		{"shutting down", Result{}, context.Canceled, true, queue.Release, 0, ""},
		{"shutting down beats terminal", Result{}, fate.MarkTerminal(cause), true, queue.Release, 0, ""},
	} {
		out, res := Action(tc.res, tc.err, now, tc.stopping)
		if out.Action != tc.action || out.Delay != tc.delay || res.Outcome != tc.outcome {
			t.Errorf("%s: %v after %v, outcome %q; want %v after %v, %q", tc.name, out.Action, out.Delay, res.Outcome, tc.action, tc.delay, tc.outcome)
		}
		if tc.err != nil && (out.Reason != tc.err.Error() && tc.action != queue.Release || res.Reason != tc.err.Error()) {
			t.Errorf("%s: reason %q / %q, want the error's text", tc.name, out.Reason, res.Reason)
		}
	}
}

// A build's update commits straight to dev, under dev's lease, and reports
// on the build's commit.
func TestHandleDirectCommit(t *testing.T) {
	f := newFixture(t)
	in := promoteIntent("dev")
	in.Kind, in.Event, in.Tag = intent.KindUpdate, "workflow_run", "sha-3333333"
	out := f.w.Handle(context.Background(), deliver(t, in))
	if out.Action != queue.Ack {
		t.Fatalf("action %v (%s)", out.Action, out.Reason)
	}
	r := f.last(t)
	if r.Outcome != Committed || r.Commit == "" || r.Base != "base" || !strings.Contains(r.Reason, "to main") {
		t.Errorf("result %+v", r)
	}
	if f.gh.Branches["main"] != r.Commit {
		t.Errorf("main at %s, want the new commit %s", f.gh.Branches["main"], r.Commit)
	}
	if want := []string{"acme/gitops/payment-service/dev"}; !slices.Equal(f.hold.keys, want) {
		t.Errorf("held %v, want %v", f.hold.keys, want)
	}
	// Through the build's installation, which may not be the GitOps one.
	if len(f.src.Statuses) != 1 || f.src.Statuses[0].SHA != in.Source.SHA || f.src.Statuses[0].State != "success" || len(f.gh.Statuses) != 0 {
		t.Errorf("statuses %+v (GitOps installation: %+v), want one success on the build's commit", f.src.Statuses, f.gh.Statuses)
	}
}

// A promotion opens a PR on the planner's branch; a newer one finds that
// branch and updates the same PR.
func TestHandleOpenThenUpdate(t *testing.T) {
	f := newFixture(t)
	f.w.Handle(context.Background(), deliver(t, promoteIntent("staging")))
	r := f.last(t)
	if r.Outcome != Opened || r.PR == 0 {
		t.Fatalf("first promotion: %+v", r)
	}
	const branch = "promobot/staging/payment-service"
	pr := f.gh.Pull(r.PR)
	if pr == nil || pr.Head != branch || !strings.Contains(pr.Body, "sha-2222222") {
		t.Fatalf("PR %+v", pr)
	}
	// The mirror now shows the branch as the writer left it.
	f.repos.branches[branch] = view{sha: f.gh.Branches[branch], files: map[string]string{
		"apps/payment-service/overlays/staging/kustomization.yaml": overlay("sha-2222222"),
	}}
	f.repos.base.files["apps/payment-service/overlays/dev/kustomization.yaml"] = overlay("sha-4444444")
	f.w.Handle(context.Background(), deliver(t, promoteIntent("staging")))
	u := f.last(t)
	if u.Outcome != Updated || u.PR != r.PR {
		t.Fatalf("second promotion: %+v, want an update of #%d", u, r.PR)
	}
	if got := f.gh.Pull(r.PR); !strings.Contains(got.Body, "sha-4444444") || !strings.Contains(got.Body, "replaces the earlier proposal") {
		t.Errorf("updated body:\n%s", got.Body)
	}
}

// Nothing to do, and a gate closed until a time: neither writes.
func TestHandleSkipAndDelay(t *testing.T) {
	f := newFixture(t)
	in := promoteIntent("dev")
	in.Kind, in.Tag = intent.KindUpdate, "sha-2222222" // dev runs it already
	if out := f.w.Handle(context.Background(), deliver(t, in)); out.Action != queue.Ack || f.last(t).Outcome != Skipped {
		t.Errorf("same tag: %v %+v", out, f.last(t))
	}
	f.repos.soakFrom = now.Add(-10 * time.Minute) // staging soaks an hour
	out := f.w.Handle(context.Background(), deliver(t, promoteIntent("staging")))
	if out.Action != queue.Retry || out.Delay != 50*time.Minute || f.last(t).Outcome != Delayed {
		t.Errorf("soaking: %v after %v, %+v", out.Action, out.Delay, f.last(t))
	}
	if calls := f.gh.Calls(); len(calls) != 0 {
		t.Errorf("GitHub calls %v, want none", calls)
	}
}

// splitTargets: one branch, lease and PR per part.
func TestHandleSplitTargets(t *testing.T) {
	f := newFixture(t)
	in := promoteIntent("prod")
	in.Tag = "sha-2222222"
	f.w.Handle(context.Background(), deliver(t, in))
	r := f.last(t)
	if r.Outcome != Opened || !strings.Contains(r.Reason, "prod-eu: opened PR") || !strings.Contains(r.Reason, "prod-us: opened PR") {
		t.Fatalf("result %+v", r)
	}
	want := []string{"acme/gitops/payment-service/prod", "acme/gitops/payment-service/prod/prod-eu", "acme/gitops/payment-service/prod/prod-us"}
	if !slices.Equal(f.hold.keys, want) {
		t.Errorf("held %v, want %v", f.hold.keys, want)
	}
	for _, part := range []string{"prod-eu", "prod-us"} {
		if _, ok := f.gh.Branches["promobot/prod/payment-service/"+part]; !ok {
			t.Errorf("no branch for %s: %v", part, f.gh.Branches)
		}
	}
}

// Failures reach the queue with the fate their origin gave them; a
// terminal one is told to a person on the build's commit.
func TestHandleFailures(t *testing.T) {
	t.Run("terminal write", func(t *testing.T) {
		f := newFixture(t)
		f.gh.Fail["CreateTree"] = prwritertest.Err(422)
		out := f.w.Handle(context.Background(), deliver(t, promoteIntent("staging")))
		if out.Action != queue.Terminal || f.last(t).Outcome != Failed {
			t.Fatalf("%v %+v", out, f.last(t))
		}
		if len(f.src.Statuses) != 1 || f.src.Statuses[0].State != "failure" || !strings.Contains(f.src.Statuses[0].Description, "could not promote payment-service to staging") {
			t.Errorf("statuses %+v, want one failure telling why", f.src.Statuses)
		}
	})
	t.Run("server error retries", func(t *testing.T) {
		f := newFixture(t)
		f.gh.Fail["CreateTree"] = prwritertest.Err(502)
		if out := f.w.Handle(context.Background(), deliver(t, promoteIntent("staging"))); out.Action != queue.Retry || out.Delay != 0 {
			t.Errorf("%v after %v", out.Action, out.Delay)
		}
		if len(f.src.Statuses) != 0 {
			t.Errorf("a retried failure told someone: %+v", f.src.Statuses)
		}
	})
	t.Run("open fails", func(t *testing.T) {
		f := newFixture(t)
		f.repos.openErr = errors.New("no route to GitHub")
		if out := f.w.Handle(context.Background(), deliver(t, promoteIntent("staging"))); out.Action != queue.Retry {
			t.Errorf("%v", out.Action)
		}
	})
	t.Run("read fails for good", func(t *testing.T) {
		f := newFixture(t)
		f.repos.readErr = fate.Terminalf("expand generators: clash")
		if out := f.w.Handle(context.Background(), deliver(t, promoteIntent("staging"))); out.Action != queue.Terminal {
			t.Errorf("%v", out.Action)
		}
	})
	t.Run("repository outside the organisation policy", func(t *testing.T) {
		f := newFixture(t)
		f.repos.readErr = fmt.Errorf("evil/gitops: %w", checkout.ErrIgnored)
		if out := f.w.Handle(context.Background(), deliver(t, promoteIntent("staging"))); out.Action != queue.Ack {
			t.Errorf("%v, want ack: an ignored repository is skipped", out.Action)
		}
		if len(f.results) != 1 || f.results[0].Outcome != Skipped || len(f.src.Statuses) != 0 {
			t.Errorf("results %+v statuses %+v: want one skip, nobody told", f.results, f.src.Statuses)
		}
	})
	t.Run("target held too long", func(t *testing.T) {
		f := newFixture(t)
		f.hold.fail = fate.MarkRetryAt(queue.ErrLeaseHeld, now.Add(2*time.Second))
		if out := f.w.Handle(context.Background(), deliver(t, promoteIntent("staging"))); out.Action != queue.Retry || out.Delay != 2*time.Second {
			t.Errorf("%v after %v", out.Action, out.Delay)
		}
	})
	t.Run("undecodable", func(t *testing.T) {
		f := newFixture(t)
		if out := f.w.Handle(context.Background(), delivery{data: []byte("{not json"), n: 1}); out.Action != queue.Terminal {
			t.Errorf("%v", out.Action)
		}
		if len(f.results) != 0 {
			t.Errorf("observed %+v for an undecodable intent", f.results)
		}
	})
	t.Run("shutdown releases unobserved", func(t *testing.T) {
		f := newFixture(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		f.repos.openErr = context.Canceled
		if out := f.w.Handle(ctx, deliver(t, promoteIntent("staging"))); out.Action != queue.Release {
			t.Errorf("%v", out.Action)
		}
		if len(f.results) != 0 {
			t.Errorf("observed %+v on shutdown", f.results)
		}
	})
}

func commandIntent(line string) intent.Intent {
	return intent.Intent{ID: "c1:0", DeliveryID: "c1", Event: "issue_comment", Kind: intent.KindPromote, Repo: repoName,
		Services: []string{"payment-service"}, To: "staging", Requester: "bob",
		Source: intent.SourceRef{CommentID: 77, Issue: 5, Message: line}}
}

// A command is held by its comment, promotes under the target's lease and
// answers once.
func TestHandleCommand(t *testing.T) {
	f := newFixture(t)
	out := f.w.Handle(context.Background(), deliver(t, commandIntent("/promote staging payment-service")))
	r := f.last(t)
	if out.Action != queue.Ack || r.Outcome != Opened || r.PR == 0 {
		t.Fatalf("%v %+v", out.Action, r)
	}
	if want := []string{"comment/acme/gitops/77", "acme/gitops/payment-service/staging"}; !slices.Equal(f.hold.keys, want) {
		t.Errorf("held %v, want %v", f.hold.keys, want)
	}
	if bodies := f.chat.Bodies(); len(bodies) != 1 || !strings.Contains(bodies[0], "opened PR #") {
		t.Errorf("replies %q", bodies)
	}
}

// A command whose promotion fails for good is answered with why.
func TestHandleCommandTerminal(t *testing.T) {
	f := newFixture(t)
	f.gh.Fail["CreateTree"] = prwritertest.Err(404)
	out := f.w.Handle(context.Background(), deliver(t, commandIntent("/promote staging payment-service")))
	if out.Action != queue.Terminal {
		t.Fatalf("%v", out.Action)
	}
	if bodies := f.chat.Bodies(); len(bodies) != 1 || !strings.Contains(bodies[0], "@bob promobot could not promote payment-service to staging") {
		t.Errorf("replies %q", bodies)
	}
}

// A reply intent posts its text and nothing else.
func TestHandleReply(t *testing.T) {
	f := newFixture(t)
	in := commandIntent("/promote")
	in.Kind, in.Services, in.Reply = intent.KindReply, nil, "Usage: `/promote <env>`"
	out := f.w.Handle(context.Background(), deliver(t, in))
	if out.Action != queue.Ack || f.last(t).Outcome != Skipped {
		t.Fatalf("%v %+v", out.Action, f.last(t))
	}
	if bodies := f.chat.Bodies(); len(bodies) != 1 || !strings.HasPrefix(bodies[0], "Usage:") {
		t.Errorf("replies %q", bodies)
	}
	if f.repos.reads != 0 {
		t.Errorf("a reply read the repository %d times", f.repos.reads)
	}
}
