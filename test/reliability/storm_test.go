package reliability

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/worker"
)

// Storm sizes: deliveries, copies of each sent at once, and targets.
const (
	stormDeliveries = 1000
	stormCopies     = 3
	stormTargets    = 8
	stormInFlight   = 48 // concurrent HTTP requests
)

// TestDuplicateStorm sends 1,000 distinct push deliveries, each three times
// at once with the same X-GitHub-Delivery, and checks that promobot handled
// exactly 1,000 intents and wrote one commit and one PR per target.
//
// Each delivery is a push to main that changed one service's dev overlay:
// one promote dev → staging intent. The first delivery per target opens the
// staging PR; a reviewer merges it; the remaining 992 then find staging
// already at dev's tag and skip, so the storm exercises deduplication and
// 1,000 real plans without 1,000 PRs.
func TestDuplicateStorm(t *testing.T) {
	// About 1.5 min under -race on an idle 2-core machine; generous for a
	// loaded one (the test asserts counts, never speed).
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	services := make([]string, stormTargets)
	files := map[string]string{}
	for i := range services {
		services[i] = fmt.Sprintf("svc-%02d", i)
		for p, c := range serviceFiles(services[i], map[string]string{"dev": "v1.1.0", "staging": "v1.0.0", "prod": "v1.0.0"}) {
			files[p] = c
		}
	}
	dir := t.TempDir()
	h, err := demo.Start(ctx, demo.Options{
		Dir: dir, Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), Rules: rulesFor(services, false), Workers: 4,
		GitOpsFiles: files,
		Queue:       queue.Config{AckWait: 30 * time.Second},
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(h.Close)
	gh := h.GitHub
	// Merges below must not add deliveries of their own: the count is exact.
	gh.SetWebhook("", nil)
	head := gh.Branches(demo.GitOpsRepo)["main"]

	type delivery struct {
		id, svc string
		payload []byte
	}
	ds := make([]delivery, stormDeliveries)
	for i := range ds {
		svc := services[i%stormTargets]
		p, err := push(gh.URL(), head, []string{overlayPath(svc, "dev")})
		if err != nil {
			t.Fatal(err)
		}
		ds[i] = delivery{id: deliveryID("5707a000", i), svc: svc, payload: p}
	}
	ids := func(ds []delivery) []string {
		out := make([]string, len(ds))
		for i, d := range ds {
			out[i] = intentID(d.id)
		}
		return out
	}

	// storm sends every delivery stormCopies times at once and returns the
	// statuses that were not 202.
	storm := func(ds []delivery) []string {
		sem := make(chan struct{}, stormInFlight)
		var mu sync.Mutex
		var bad []string
		var wg sync.WaitGroup
		for _, d := range ds {
			for c := 0; c < stormCopies; c++ {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					code, err := deliver(ctx, h.WebhookURL(), h.Secret, "push", d.id, d.payload)
					if err != nil || code != 202 {
						mu.Lock()
						bad = append(bad, fmt.Sprintf("%s copy %d: %d %v", d.id, c, code, err))
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		return bad
	}

	start := time.Now()
	// Wave 1: one delivery per target, three copies each: one PR per target.
	if bad := storm(ds[:stormTargets]); len(bad) > 0 {
		t.Fatalf("%d deliveries not answered 202, e.g. %v", len(bad), bad[0])
	}
	if err := awaitFinals(ctx, h, ids(ds[:stormTargets])); err != nil {
		t.Fatal(err)
	}
	for _, pr := range gh.PullRequests(demo.GitOpsRepo) {
		if _, err := gh.Merge(demo.GitOpsRepo, pr.Number, "bob"); err != nil {
			t.Fatalf("merge #%d: %v", pr.Number, err)
		}
	}
	// Wave 2: the other 992 deliveries, three copies each, all at once.
	if bad := storm(ds[stormTargets:]); len(bad) > 0 {
		t.Fatalf("%d deliveries not answered 202, e.g. %v", len(bad), bad[0])
	}
	sent := time.Since(start)
	if err := awaitFinals(ctx, h, ids(ds)); err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)

	// Exactly the 1,000 intents, each handled once.
	got := finals(t, h.Results())
	if len(got) != stormDeliveries {
		t.Errorf("%d intents handled, want %d", len(got), stormDeliveries)
	}
	outcomes := map[worker.Outcome]int{}
	for i, d := range ds {
		r, ok := got[intentID(d.id)]
		if !ok {
			t.Errorf("delivery %s: no intent handled", d.id)
			continue
		}
		outcomes[r.Outcome]++
		want := worker.Skipped
		if i < stormTargets {
			want = worker.Opened
		}
		if r.Outcome != want || r.Intent.Services[0] != d.svc {
			t.Errorf("delivery %s (%s): %s %s (%s), want %s", d.id, d.svc, r.Intent.Services[0], r.Outcome, r.Reason, want)
		}
	}

	// JetStream stored each message id once and every intent was acked.
	js := jsConnect(t, h.App.NATSURL())
	if err := eventually(ctx, 50*time.Millisecond, func() (bool, error) {
		c, err := js.Consumer(ctx, queue.DefaultStream, queue.DefaultConsumer)
		if err != nil {
			return false, err
		}
		ci, err := c.Info(ctx)
		if err != nil {
			return false, err
		}
		return ci.NumPending == 0 && ci.NumAckPending == 0, nil
	}); err != nil {
		t.Fatalf("consumer never drained: %v", err)
	}
	_, st, err := streamIDs(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	// Besides the storm's intents, the stream holds the start-up scan's
	// configuration reads (one per installed repository).
	want := stormDeliveries + len(h.IndexReads())
	if st.LastSeq != uint64(want) || st.Msgs != 0 {
		t.Errorf("stream stored %d messages (%d left), want exactly %d, all acked", st.LastSeq, st.Msgs, want)
	}

	// One PR and one promobot commit per target, nothing else.
	perHead := map[string][]int{}
	for _, pr := range gh.PullRequests(demo.GitOpsRepo) {
		perHead[pr.Head] = append(perHead[pr.Head], pr.Number)
	}
	for _, svc := range services {
		if prs := perHead["promobot/staging/"+svc]; len(prs) != 1 {
			t.Errorf("%s: PRs %v, want exactly one", svc, prs)
		}
	}
	if len(perHead) != stormTargets {
		t.Errorf("PR heads %v, want one per target", perHead)
	}
	commits, err := intentCommits(ctx, filepath.Join(dir, "github", "acme", "gitops.git"))
	if err != nil {
		t.Fatal(err)
	}
	perSvc := map[string]int{}
	for id, n := range commits {
		r, ok := got[id]
		if !ok {
			t.Errorf("commit for unknown intent %s", id)
			continue
		}
		perSvc[r.Intent.Services[0]] += n
	}
	for _, svc := range services {
		if perSvc[svc] != 1 {
			t.Errorf("%s: %d promobot commits, want 1", svc, perSvc[svc])
		}
	}
	calls := gh.CallCounts()
	for _, route := range []string{"POST /repos/{owner}/{repo}/git/commits", "POST /repos/{owner}/{repo}/pulls"} {
		if calls[route] != stormTargets {
			t.Errorf("%s called %d times, want %d", route, calls[route], stormTargets)
		}
	}
	for _, err := range githubtest.CheckCalls(gh.Calls()) {
		t.Errorf("undocumented request: %v", err)
	}

	delayed := 0
	for _, r := range h.Results() {
		if !final(r) {
			delayed++
		}
	}
	outcomes["delayed (retried later)"] = delayed
	var oc []string
	for o, n := range outcomes {
		oc = append(oc, fmt.Sprintf("%s=%d", o, n))
	}
	sort.Strings(oc)
	t.Logf("storm: %d deliveries × %d copies = %d requests, %d targets; all sent in %v, all handled in %v (%.0f intents/s); outcomes %s",
		stormDeliveries, stormCopies, stormDeliveries*stormCopies, stormTargets, sent.Round(time.Millisecond), wall.Round(time.Millisecond),
		float64(stormDeliveries)/wall.Seconds(), strings.Join(oc, " "))
}
