package worker

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/budget"
	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/queue"
)

// fakeBudget grants every ticket, or sends it away with delay when set.
type fakeBudget struct {
	tickets []budget.Ticket
	delay   *budget.Delay
	done    int
	// callsAtDone is how many GitHub calls had been made when done ran.
	callsAtDone []int
	calls       func() int
}

func (b *fakeBudget) Reserve(ctx context.Context, t budget.Ticket) (context.Context, func(), error) {
	b.tickets = append(b.tickets, t)
	if b.delay != nil {
		return nil, nil, fate.MarkRetryAt(b.delay, b.delay.Retry)
	}
	return ctx, func() {
		b.done++
		b.callsAtDone = append(b.callsAtDone, b.calls())
	}, nil
}

func withBudget(f *fixture) *fakeBudget {
	b := &fakeBudget{calls: func() int { return len(f.gh.Calls()) }}
	f.w.Budget = b
	return b
}

// A promotion asks for its writes before making them, in its line, and
// settles once they are made.
func TestBudgetTickets(t *testing.T) {
	f := newFixture(t)
	b := withBudget(f)
	f.w.Handle(context.Background(), deliver(t, promoteIntent("staging")))
	if r := f.last(t); r.Outcome != Opened {
		t.Fatalf("%+v", r)
	}
	want := budget.Ticket{Repo: repoName, ID: "d1:0|acme/gitops/payment-service/staging", Priority: budget.Bulk, Writes: 5}
	if len(b.tickets) != 1 || b.tickets[0] != want {
		t.Errorf("tickets %+v, want %+v (tree, commit, ref, pull, labels)", b.tickets, want)
	}
	if calls := len(f.gh.Calls()); b.done != 1 || b.callsAtDone[0] != calls {
		t.Errorf("settled %d times, after %v of %d calls; want once, after all", b.done, b.callsAtDone, calls)
	}

	// prod is promoted only when asked: urgent, one ticket per part, with
	// its reviewers.
	b.tickets = nil
	in := promoteIntent("prod")
	in.Tag = "sha-2222222"
	f.w.Handle(context.Background(), deliver(t, in))
	if len(b.tickets) != 2 {
		t.Fatalf("tickets %+v, want one per part", b.tickets)
	}
	for i, part := range []string{"prod-eu", "prod-us"} {
		tk := b.tickets[i]
		if tk.Priority != budget.Urgent || tk.Writes != 6 || !strings.HasSuffix(tk.ID, "/prod/"+part) {
			t.Errorf("ticket %+v, want urgent, 6 writes, for %s", tk, part)
		}
	}

	// A build's direct commit, with the status on the build's commit
	// (same owner: the same installation pays).
	b.tickets = nil
	in = promoteIntent("dev")
	in.Kind, in.Event, in.Tag = intent.KindUpdate, "workflow_run", "sha-3333333"
	f.w.Handle(context.Background(), deliver(t, in))
	if len(b.tickets) != 1 || b.tickets[0].Writes != 4 || b.tickets[0].Priority != budget.Bulk {
		t.Errorf("tickets %+v, want one bulk of 4 (tree, commit, ref, status)", b.tickets)
	}
}

func TestWritesEstimate(t *testing.T) {
	in := promoteIntent("staging")
	labels := []string{"promotion"}
	for _, c := range []struct {
		name string
		p    planner.Plan
		want int
	}{
		{"new PR, labels", planner.Plan{Labels: labels}, 5},
		{"existing PR", planner.Plan{Labels: labels, BranchExists: true}, 4},
		{"existing branch of a merged PR", planner.Plan{Labels: labels, BranchExists: true, BranchStale: true}, 5},
		{"branch already current", planner.Plan{BranchExists: true, BranchCurrent: true}, 1},
		{"binary file", planner.Plan{Edits: []planner.FileEdit{{New: []byte{0xff, 0xfe}}}}, 5},
		{"auto-merge", planner.Plan{AutoMerge: true}, 5},
		{"direct", planner.Plan{Direct: true, Labels: labels}, 3},
	} {
		if got := writes(&c.p, in); got != c.want {
			t.Errorf("%s: %d writes, want %d", c.name, got, c.want)
		}
	}
}

// Waiting for the budget is a delayed result, logged once per intent, and
// nothing is written meanwhile.
func TestBudgetDelay(t *testing.T) {
	f := newFixture(t)
	b := withBudget(f)
	var logs bytes.Buffer
	f.w.Log = zerolog.New(&logs).Level(zerolog.InfoLevel)
	until := now.Add(90 * time.Second)
	b.delay = &budget.Delay{Account: "acme", Until: until.Add(5 * time.Second), Retry: until, Ahead: 12, AheadWrites: 60, First: true}
	out := f.w.Handle(context.Background(), deliver(t, promoteIntent("staging")))
	r := f.last(t)
	if out.Action != queue.Retry || out.Delay != 90*time.Second || r.Outcome != Delayed || !r.RetryAt.Equal(until) {
		t.Fatalf("%v after %v, %+v", out.Action, out.Delay, r)
	}
	if !strings.Contains(r.Reason, "waiting for GitHub's write budget (installation acme): 12 promotions (60 writes) ahead") {
		t.Errorf("reason %q", r.Reason)
	}
	if calls := f.gh.Calls(); len(calls) != 0 {
		t.Errorf("GitHub calls %v while waiting", calls)
	}
	if n := strings.Count(logs.String(), "waiting for GitHub's write budget"); n != 1 {
		t.Errorf("first delay logged %d times:\n%s", n, logs.String())
	}
	logs.Reset()
	b.delay.First = false
	if out := f.w.Handle(context.Background(), deliver(t, promoteIntent("staging"))); out.Action != queue.Retry {
		t.Fatalf("%v", out.Action)
	}
	if logs.Len() != 0 {
		t.Errorf("a later delay of the same intent logged at info:\n%s", logs.String())
	}
}

// A command that waits says so in its one reply.
func TestBudgetDelayCommand(t *testing.T) {
	f := newFixture(t)
	b := withBudget(f)
	b.delay = &budget.Delay{Account: "acme", Until: now.Add(time.Minute), Retry: now.Add(55 * time.Second), First: true}
	out := f.w.Handle(context.Background(), deliver(t, commandIntent("/promote staging payment-service")))
	if out.Action != queue.Retry || f.last(t).Outcome != Delayed {
		t.Fatalf("%v %+v", out.Action, f.last(t))
	}
	bodies := f.chat.Bodies()
	if len(bodies) != 1 || !strings.Contains(bodies[0], "⏳ **payment-service**: waiting for GitHub's write budget (installation acme), expected by 10:01:00 UTC; promobot retries then") {
		t.Errorf("replies %q", bodies)
	}
	if len(b.tickets) != 1 || b.tickets[0].Priority != budget.Urgent {
		t.Errorf("tickets %+v, want one urgent", b.tickets)
	}
}

func TestNoteWait(t *testing.T) {
	body := "### Promotion\n\ntext\n\n<!-- promobot:{\"version\":1} -->"
	p := &planner.Plan{Body: body}
	noteWait(p, 500*time.Millisecond)
	if p.Body != body {
		t.Error("a sub-second wait noted")
	}
	noteWait(p, 3*time.Minute+12*time.Second)
	if !strings.Contains(p.Body, "text\n\n> ⏳ This promotion waited 3m12s for GitHub's write budget") ||
		!strings.HasSuffix(p.Body, "\n\n<!-- promobot:{\"version\":1} -->") {
		t.Errorf("body:\n%s", p.Body)
	}
	if _, ok := planner.ParseMetadata(p.Body); !ok {
		t.Error("metadata block lost")
	}
	full := &planner.Plan{Body: strings.Repeat("x", planner.MaxBodyBytes-30) + "<!-- promobot:{} -->"}
	before := full.Body
	noteWait(full, time.Minute)
	if full.Body != before {
		t.Error("note added past GitHub's body limit")
	}
}
