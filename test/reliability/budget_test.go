package reliability

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/app"
	"github.com/promobot/promobot/internal/budget"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/worker"
)

// observed is every result of every worker process, with when it came.
type observed struct {
	mu     sync.Mutex
	all    []worker.Result
	at     []time.Time
	notify chan struct{}
}

func (o *observed) add(r worker.Result) {
	o.mu.Lock()
	o.all, o.at = append(o.all, r), append(o.at, time.Now())
	o.mu.Unlock()
	select {
	case o.notify <- struct{}{}:
	default:
	}
}

// await waits until cond holds over the results so far.
func (o *observed) await(ctx context.Context, what string, cond func(rs []worker.Result, at []time.Time) bool) error {
	for {
		o.mu.Lock()
		ok := cond(o.all, o.at)
		n := len(o.all)
		o.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-o.notify:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (%d results so far): %w", what, n, ctx.Err())
		}
	}
}

// opened counts the final results into env that opened or updated a PR.
func opened(rs []worker.Result, env string) int {
	n := 0
	for _, r := range rs {
		if r.Intent.To == env && (r.Outcome == worker.Opened || r.Outcome == worker.Updated) {
			n++
		}
	}
	return n
}

// TestWriteBudgetFanOut: two worker processes against one NATS share one
// GitHub write budget. The GitHub test server limits content creation to
// 20 writes per 10 s, answering beyond it with GitHub's real 403
// secondary-limit response; promobot's budget is 18 per 10 s (its pacing
// is off, so only the budget keeps it under). One push changes 60 services
// in dev: 60 staging PRs, 300 writes. While they open, someone asks
// `/promote prod svc-59`. Every PR opens, GitHub refuses no write, no
// intent fails, and the prod PR opens before the fan-out's tail.
func TestWriteBudgetFanOut(t *testing.T) {
	if testing.Short() {
		t.Skip("the fan-out takes about three minutes of budget")
	}
	const (
		services  = 60
		appID     = 4242
		inst      = 77
		gitops    = "acme/gitops"
		newTag    = "sha-3333333"
		stagedTag = "sha-2222222"
	)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dir := t.TempDir()
	key, pub, err := githubtest.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	gh, err := githubtest.New(githubtest.Config{Dir: filepath.Join(dir, "github"), AppID: appID, AppPublicKey: pub, InstallationID: inst})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gh.Close)
	var names []string
	files := map[string]string{}
	for i := range services {
		svc := fmt.Sprintf("svc-%d", i)
		names = append(names, svc)
		for p, c := range serviceFiles(svc, map[string]string{"dev": "sha-1111111", "staging": stagedTag, "prod": "sha-1111111"}) {
			files[p] = c
		}
	}
	if err := gh.CreateRepo(gitops, "main", files); err != nil {
		t.Fatal(err)
	}
	if err := gh.SetPermission(gitops, "alice", "write"); err != nil {
		t.Fatal(err)
	}
	limit := githubtest.ContentLimit{Period: 10 * time.Second, Limit: 20}
	limiter := gh.LimitContent(limit)

	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, rulesFor(names, false), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := []byte("budget-test-secret")
	results := &observed{notify: make(chan struct{}, 1)}
	logs := &syncBuffer{}
	cfg := app.Config{
		RulesPath: rulesPath, Listen: "127.0.0.1:0", GitHubAPIURL: gh.APIURL(), AppID: appID, PrivateKey: key,
		Workers: 4, Worker: true, Observe: results.add, Log: zerolog.New(logs).Level(zerolog.InfoLevel),
		GitHubRetry: ghretry.Config{ContentPace: -1},
		// The deployment's budget, below GitHub's 20 per 10 s; the window
		// is a test knob of the internal Config (the flags set GitHub's
		// minute and hour).
		GitHubBudget: budget.Config{Windows: []budget.Window{{Name: "10s", Period: 10 * time.Second, Limit: 18}}, Margin: 200 * time.Millisecond},
	}
	start := func(c app.Config) *app.App {
		t.Helper()
		a, err := app.Start(ctx, c)
		if err != nil {
			t.Fatalf("start promobot: %v", err)
		}
		t.Cleanup(func() {
			sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer scancel()
			if err := a.Shutdown(sctx); err != nil {
				t.Logf("promobot shutdown: %v", err)
			}
		})
		return a
	}
	first := cfg
	first.DataDir, first.Webhook, first.WebhookSecret = filepath.Join(dir, "p1"), true, secret
	p1 := start(first)
	second := cfg
	second.DataDir, second.NATSURL = filepath.Join(dir, "p2"), p1.NATSURL()
	start(second)
	gh.SetWebhook("http://"+p1.Addr()+"/webhook", secret)

	// The fan-out: one push moves every service's dev tag.
	began := time.Now()
	dev := map[string]*string{}
	for _, svc := range names {
		c := overlay(svc, "dev", newTag)
		dev[overlayPath(svc, "dev")] = &c
	}
	if _, err := gh.Commit(gitops, "main", dev, "Deploy 60 services to dev"); err != nil {
		t.Fatal(err)
	}
	// A person asks for prod while the fan-out is under way.
	if err := results.await(ctx, "the fan-out's first PRs", func(rs []worker.Result, _ []time.Time) bool { return opened(rs, "staging") >= 5 }); err != nil {
		t.Fatal(err)
	}
	issue, err := gh.CreateIssue(gitops, "Release svc-59", "alice")
	if err != nil {
		t.Fatal(err)
	}
	asked := time.Now()
	if _, err := gh.Comment(gitops, issue, "alice", "/promote prod svc-59"); err != nil {
		t.Fatal(err)
	}
	done := func(rs []worker.Result, _ []time.Time) bool {
		return opened(rs, "staging") >= services && opened(rs, "prod") >= 1
	}
	if err := results.await(ctx, "every PR", done); err != nil {
		t.Fatalf("%v\nlimiter: %d accepted, %d refused", err, limiter.Accepted(), limiter.Refused())
	}
	wall := time.Since(began)

	results.mu.Lock()
	rs, at := append([]worker.Result(nil), results.all...), append([]time.Time(nil), results.at...)
	results.mu.Unlock()
	var prodAt, tail time.Time
	delays, others := map[string]int{}, 0
	for i, r := range rs {
		switch {
		case r.Outcome == worker.Failed:
			t.Errorf("intent %s (%s) failed: %s", r.Intent.ID, r.Intent.To, r.Reason)
		case r.Outcome == worker.Delayed && strings.Contains(r.Reason, "waiting for GitHub's write budget (installation acme)"):
			delays[r.Intent.ID]++
		case r.Outcome == worker.Delayed:
			// Not the budget's (a mirror fetch, say): retried by the queue.
			others++
			t.Logf("intent %s retried: %s", r.Intent.ID, r.Reason)
		case r.Intent.To == "prod":
			prodAt = at[i]
		case r.Intent.To == "staging":
			tail = at[i]
		}
	}
	after := 0
	for i, r := range rs {
		if r.Intent.To == "staging" && r.Outcome == worker.Opened && at[i].After(prodAt) {
			after++
		}
	}
	if !prodAt.Before(tail) || after < 10 {
		t.Errorf("the prod PR opened %v after it was asked for, %d fan-out PRs after it: not before the fan-out's tail",
			prodAt.Sub(asked).Round(time.Millisecond), after)
	}
	if n := limiter.Refused(); n != 0 {
		t.Errorf("GitHub answered %d secondary-limit 403s, want 0", n)
	}
	if most := limiter.MaxIn(limit.Period); most > 18 {
		t.Errorf("%d writes within %v, budget 18", most, limit.Period)
	}
	heads := map[string]int{}
	for _, pr := range gh.PullRequests(gitops) {
		heads[pr.Head]++
	}
	for _, svc := range names {
		if heads["promobot/staging/"+svc] != 1 {
			t.Errorf("%d staging PRs for %s, want 1", heads["promobot/staging/"+svc], svc)
		}
	}
	if heads["promobot/prod/svc-59"] != 1 {
		t.Errorf("no prod PR for svc-59: %v", heads)
	}
	most := 0
	for _, n := range delays {
		most = max(most, n)
	}
	if most > 5 {
		t.Errorf("an intent was sent away %d times for the budget: retried in a loop", most)
	}
	if n := strings.Count(logs.String(), `"outcome":"delayed","reason":"waiting for GitHub's write budget`); n > len(delays) {
		t.Errorf("%d budget delays logged at info for %d intents: want at most one each", n, len(delays))
	}
	// Every process reports the deployment's budget.
	resp, err := client.Get("http://" + p1.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `promobot_github_write_budget_remaining{installation="acme",window="10s"}`) {
		t.Errorf("/metrics: %d %v, no budget remaining for acme", resp.StatusCode, err)
	}
	t.Logf("fan-out of %d staging PRs in %v under GitHub's %d writes per %v (budget 18): %d writes accepted, %d secondary-limit 403s, at most %d in any %v; "+
		"%d intents sent away for the budget (at most %d times each), %d other retries; /promote prod done %v after it was asked, %d fan-out PRs after it",
		services, wall.Round(time.Second), limit.Limit, limit.Period, limiter.Accepted(), limiter.Refused(), limiter.MaxIn(limit.Period), limit.Period,
		len(delays), most, others, prodAt.Sub(asked).Round(100*time.Millisecond), after)
}
