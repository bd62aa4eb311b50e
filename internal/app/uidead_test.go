package app

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/queue/queuetest"
	"github.com/promobot/promobot/internal/ui"
	"github.com/promobot/promobot/internal/worker"
)

// deadApp is the part of an App that learns of dead letters: a real queue
// on an embedded NATS whose DeadLettered hook is the App's, and a live
// board on its state bucket. hooked receives each dead letter once the
// hook is done with it.
func deadApp(t *testing.T, ctx context.Context, qcfg queue.Config) (a *App, hooked chan queue.DeadLetter) {
	t.Helper()
	nc := queuetest.Connect(t, ctx)()
	a = &App{log: zerolog.New(zerolog.NewTestWriter(t)), nc: nc}
	hooked = make(chan queue.DeadLetter, 8)
	qcfg.DeadLettered = func(dl queue.DeadLetter) { a.forgetDead(dl); hooked <- dl }
	var err error
	if a.q, err = queue.Open(ctx, nc, qcfg); err != nil {
		t.Fatal(err)
	}
	a.live = newLiveBoard(a.q.State(), a.log)
	return a, hooked
}

// cellOf is what the page shows for web in prod of acme/gitops when prod
// runs tag: the live records as a page process loads them at start.
func cellOf(t *testing.T, ctx context.Context, a *App, tag string) ui.Cell {
	t.Helper()
	return cellFor(t, ctx, a, "web", tag)
}

// cellFor is what the page shows for svc in prod of acme/gitops when prod
// runs tag.
func cellFor(t *testing.T, ctx context.Context, a *App, svc, tag string) ui.Cell {
	t.Helper()
	b := newLiveBoard(a.q.State(), a.log)
	w, err := b.kv.Watch(ctx, "ui.>")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	for e := range w.Updates() {
		if e == nil {
			break // the initial values are in
		}
		b.apply(e.Key(), e.Operation(), e.Value())
	}
	s := &uiSource{live: b}
	rp := s.withLive(ui.Repository{Repo: "acme/gitops", Services: []ui.Service{{Name: svc, Cells: []ui.Cell{{Env: "prod", Tag: tag}}}}}, nil)
	return rp.Services[0].Cells[0]
}

func promotion(id, tag string) intent.Intent {
	return intent.Intent{ID: id, Kind: intent.KindUpdate, DeliveryID: strings.Split(id, ":")[0], Event: "workflow_run", Repo: "acme/gitops",
		Services: []string{"web"}, To: "prod", Tag: tag, CreatedAt: time.Unix(1, 0)}
}

func command(id string) intent.Intent {
	return intent.Intent{ID: id, Kind: intent.KindPromote, DeliveryID: strings.Split(id, ":")[0], Event: "issue_comment", Repo: "acme/gitops",
		To: "prod", Requester: "alice", Source: intent.SourceRef{Issue: 4, CommentID: 9}, CreatedAt: time.Unix(1, 0)}
}

func deadLetter(t *testing.T, in intent.Intent, reason string) queue.DeadLetter {
	t.Helper()
	b, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return queue.DeadLetter{MsgID: in.ID, Reason: reason, Time: time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC), Data: b}
}

// TestDeadLetteredPromotionIsNoLongerWaiting: a promotion promobot gave up
// on leaves the waiting list for a failed entry, and takes with it only
// what it wrote itself; the next promotion replaces the failed entry.
func TestDeadLetteredPromotionIsNoLongerWaiting(t *testing.T) {
	opens := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	gated := func(in intent.Intent) worker.Result {
		return worker.Result{Intent: in, Outcome: worker.Refused, Gate: "window", Reason: "outside the window", RetryAt: opens}
	}
	a1, b2 := promotion("a:0", "v1"), promotion("b:0", "v2")
	b2.CreatedAt = a1.CreatedAt.Add(time.Minute)
	sub := command("c:0") // a command's promotion carries the command's id and one service
	sub.Services, sub.Tag = []string{"web"}, "v3"
	type step struct {
		observe *worker.Result
		dead    *intent.Intent
	}
	obs := func(r worker.Result) step { return step{observe: &r} }
	dead := func(in intent.Intent) step { return step{dead: &in} }
	cases := []struct {
		name       string
		steps      []step
		running    string   // the tag prod runs
		waiting    []string // tags shown waiting
		failed     []string // tags shown failed
		openPRs    []int
		failReason string
	}{
		{name: "the waiting intent gives up", steps: []step{obs(gated(a1)), dead(a1)}, running: "v0",
			failed: []string{"v1"}, failReason: "gave up after 10 deliveries: outside the window"},
		{name: "a newer promotion waits", steps: []step{obs(gated(a1)), obs(gated(b2)), dead(a1)}, running: "v0",
			waiting: []string{"v2"}},
		{name: "an older promotion waits", steps: []step{obs(gated(a1)), dead(b2)}, running: "v0",
			waiting: []string{"v1"}, failed: []string{"v2"}},
		{name: "given up without waiting", steps: []step{dead(a1)}, running: "v0", failed: []string{"v1"}},
		{name: "a command without services", steps: []step{obs(gated(sub)), dead(command("c:0"))}, running: "v0",
			failed: []string{"v3"}},
		{name: "a woken copy of the command waits again", steps: []step{
			obs(gated(func() intent.Intent { s := sub; s.ID = "c:0~d:0"; return s }())), dead(command("c:0"))}, running: "v0",
			waiting: []string{"v3"}},
		{name: "its open PR stays open", steps: []step{obs(worker.Result{Intent: a1, Outcome: worker.Opened, PR: 7, PRURL: "https://github.com/acme/gitops/pull/7"}), dead(a1)},
			running: "v0", openPRs: []int{7}, failed: []string{"v1"}},
		{name: "the next promotion waits", steps: []step{obs(gated(a1)), dead(a1), obs(gated(b2))}, running: "v0", waiting: []string{"v2"}},
		{name: "the next promotion is committed", steps: []step{dead(a1), obs(worker.Result{Intent: b2, Outcome: worker.Committed})}, running: "v2"},
		{name: "the environment runs the failed tag", steps: []step{dead(a1)}, running: "v1"},
		{name: "the environment runs the PR's tag", steps: []step{obs(worker.Result{Intent: a1, Outcome: worker.Opened, PR: 7})}, running: "v1"},
		{name: "not a promotion", steps: []step{obs(gated(a1)), dead(intent.Intent{ID: "a:0", Kind: intent.KindMerge, Repo: "acme/gitops",
			Source: intent.SourceRef{Issue: 7}, CreatedAt: time.Unix(1, 0)})}, running: "v0", waiting: []string{"v1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			a, _ := deadApp(t, ctx, queue.Config{})
			for _, s := range tc.steps {
				if s.observe != nil {
					a.live.observe(ctx, *s.observe)
					continue
				}
				reason := tc.failReason
				if reason == "" {
					reason = "404 apps/web/prod/kustomization.yaml"
				}
				a.forgetDead(deadLetter(t, *s.dead, reason))
			}
			c := cellOf(t, ctx, a, tc.running)
			var waiting, failed []string
			var prs []int
			for _, w := range c.Waiting {
				waiting = append(waiting, w.Tag)
			}
			for _, f := range c.Failed {
				failed = append(failed, f.Tag)
				if f.Reason == "" || f.At.IsZero() || (tc.failReason != "" && f.Reason != tc.failReason) {
					t.Errorf("failed entry %+v", f)
				}
			}
			for _, p := range c.OpenPRs {
				prs = append(prs, p.Number)
			}
			if strings.Join(waiting, ",") != strings.Join(tc.waiting, ",") || strings.Join(failed, ",") != strings.Join(tc.failed, ",") ||
				len(prs) != len(tc.openPRs) || (len(prs) == 1 && prs[0] != tc.openPRs[0]) {
				t.Errorf("waiting %v failed %v open PRs %v; want %v, %v, %v", waiting, failed, prs, tc.waiting, tc.failed, tc.openPRs)
			}
		})
	}
}

// TestDeliveryLimitLeavesTheWaitingList: a promotion retried until the
// queue gives up (its gate never opened in time) is dead-lettered by the
// queue, not the worker; the page stops saying it waits.
func TestDeliveryLimitLeavesTheWaitingList(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, hooked := deadApp(t, ctx, queue.Config{MaxDeliver: 2, AckWait: time.Second})
	in := promotion("a:0", "v1")
	if err := (queuePublisher{a.q}).Publish(ctx, in); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	cctx, stop := context.WithCancel(ctx)
	go func() {
		done <- a.q.Consume(cctx, 1, func(ctx context.Context, d *queue.Delivery) queue.Outcome {
			// What the worker does with a closed gate: record the wait, retry when it opens.
			a.live.observe(ctx, worker.Result{Intent: in, Outcome: worker.Refused, Gate: "soak", Reason: "staging has run v1 for 1h of 24h",
				RetryAt: time.Now().Add(10 * time.Millisecond)})
			return queue.Outcome{Action: queue.Retry, Delay: 10 * time.Millisecond, Reason: "staging has run v1 for 1h of 24h"}
		}, queue.WithFetchWait(200*time.Millisecond))
	}()
	defer func() { stop(); <-done }()
	select {
	case dl := <-hooked:
		if dl.MsgID != in.ID {
			t.Fatalf("dead letter %+v", dl)
		}
	case <-ctx.Done():
		t.Fatal("never dead-lettered")
	}
	c := cellOf(t, ctx, a, "v0")
	if len(c.Waiting) != 0 || len(c.Failed) != 1 || !strings.Contains(c.Failed[0].Reason, "gave up after 2 deliveries") || c.Failed[0].Tag != "v1" {
		t.Errorf("waiting %+v failed %+v", c.Waiting, c.Failed)
	}
}

// TestDeadLetteredCommandIsNotWokenAgain: a /promote waiting for health
// that promobot gave up on (and told its requester so) does not run when
// the environment turns healthy; the other waiting commands do.
func TestDeadLetteredCommandIsNotWokenAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, _ := deadApp(t, ctx, queue.Config{})
	s := waitStore{a.q}
	woken := command("w:0~x:0") // woken once, waiting again
	for _, in := range []intent.Intent{command("a:0"), command("b:0"), woken} {
		if err := s.Wait(ctx, "acme/gitops", "staging", in); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range []intent.Intent{command("a:0"), command("w:0"), command("z:0")} { // w:0: its first copy, long gone
		a.forgetDead(deadLetter(t, in, "gave up"))
	}
	n, err := s.Wake(ctx, "acme/gitops", "staging", "s:0")
	if err != nil || n != 2 {
		t.Errorf("Wake = %d, %v; want b:0 and w:0~x:0", n, err)
	}
}

// TestStartClearsTheWaitOfADeadLetter: promobot as started wires the
// queue's dead letters to the page: a promotion the workers give up on
// (here GitHub is unreachable and one delivery is allowed) stops waiting.
func TestStartClearsTheWaitOfADeadLetter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := config(t)
	cfg.GitHubAPIURL = "http://127.0.0.1:1/"
	cfg.GitHubRetry.MaxAttempts = 1
	cfg.UINoAuth = true
	hooked := make(chan queue.DeadLetter, 1)
	cfg.Queue = queue.Config{MaxDeliver: 1, DeadLettered: func(dl queue.DeadLetter) { hooked <- dl }}
	a, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Shutdown(context.Background()) }()
	in := promotion("a:0", "v1")
	a.live.observe(ctx, worker.Result{Intent: in, Outcome: worker.Refused, Gate: "window", Reason: "outside the window"})
	if c := cellOf(t, ctx, a, "v0"); len(c.Waiting) != 1 {
		t.Fatalf("waiting %+v", c.Waiting)
	}
	if err := (queuePublisher{a.q}).Publish(ctx, in); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hooked:
	case <-ctx.Done():
		t.Fatal("never dead-lettered")
	}
	if c := cellOf(t, ctx, a, "v0"); len(c.Waiting) != 0 || len(c.Failed) != 1 {
		t.Errorf("waiting %+v failed %+v", c.Waiting, c.Failed)
	}
}

// TestDeadLetterKVFailureIsLogged: with the state KV unreachable, the dead
// letter still stands (the hook returns) and the stale page is logged with
// the intent and delivery ids.
func TestDeadLetterKVFailureIsLogged(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, _ := deadApp(t, ctx, queue.Config{})
	var logs bytes.Buffer
	a.log = zerolog.New(&logs)
	a.live.log = a.log
	a.nc.Close()
	in := command("c:0")
	in.Services = []string{"web"}
	a.forgetDead(deadLetter(t, in, "gave up"))
	for _, want := range []string{`"level":"warn"`, `"intent":"c:0"`, `"delivery":"c"`, "ui: waits of a dead-lettered intent not read",
		"ui: failed promotion not recorded", "dead-lettered command not forgotten"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}

// TestUnreadableDeadLetterChangesNothing: a dead letter whose body is not
// an intent (the worker dead-letters those itself) or names a hostile
// repository leaves the page as it was.
func TestUnreadableDeadLetterChangesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, _ := deadApp(t, ctx, queue.Config{})
	in := promotion("a:0", "v1")
	a.live.observe(ctx, worker.Result{Intent: in, Outcome: worker.Refused, Gate: "window", Reason: "outside the window"})
	hostile := in
	hostile.Repo = "acme/gitops/../x"
	b, err := json.Marshal(hostile)
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{nil, []byte("{"), []byte(strings.Repeat("[", 1<<16)), b, []byte(`{"id":"a:0","kind":"update"}`)} {
		a.forgetDead(queue.DeadLetter{Reason: "x", Data: data})
	}
	if c := cellOf(t, ctx, a, "v0"); len(c.Waiting) != 1 || len(c.Failed) != 0 {
		t.Errorf("waiting %+v failed %+v", c.Waiting, c.Failed)
	}
}
