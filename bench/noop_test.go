package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/gitmirror"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/prwriter"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/webhook"
	"github.com/promobot/promobot/internal/worker"
)

// The no-op storm (issue #10 part 4): deliveries whose intents all end in
// "already runs that tag", handled by promobot's worker with the real
// checkout (GitHub App credentials against the GitHub test server), the
// real go-git mirror fetched over smart HTTP (git http-backend) and the
// real planner. Only JetStream is left out: leases are an in-process lock
// per target and no queue acks are sent.
const (
	noopServices = 8 // targets, as in test/reliability's duplicate storm
	noopWorkers  = 4 // worker goroutines, as promobot runs them there
	noopAppID    = 4711
	noopInstall  = 4242
	noopGitOps   = "acme/gitops"
)

func noopSvc(i int) string { return fmt.Sprintf("svc-%02d", i) }

// noopSourceSHA is the commit of svc i's source that every environment runs.
func noopSourceSHA(i int) string { return fmt.Sprintf("%07x%033x", 0xb11d000+i, i) }

func noopTag(i int) string { return "sha-" + noopSourceSHA(i)[:7] }

func noopOverlayPath(i int, env string) string {
	return "apps/" + noopSvc(i) + "/overlays/" + env + "/kustomization.yaml"
}

func noopRules() string {
	var b strings.Builder
	b.WriteString(`version: 1
defaults:
  baseBranch: main
  labels: [promotion]
environments:
  - { name: dev, auto: true, direct: true }
  - { name: staging, auto: true }
  - { name: prod }
services:
`)
	for i := range noopServices {
		s := noopSvc(i)
		fmt.Fprintf(&b, "  - name: %s\n    repo: %s\n    image: registry.example.com/%s\n", s, noopGitOps, s)
		fmt.Fprintf(&b, "    source: { repo: acme/%s, workflow: .github/workflows/build.yml, branch: main, tag: 'sha-{{.ShortSHA}}' }\n", s)
		b.WriteString("    targets:\n")
		for _, env := range []string{"dev", "staging", "prod"} {
			fmt.Fprintf(&b, "      %s: { kustomize: apps/%s/overlays/%s }\n", env, s, env)
		}
	}
	return b.String()
}

// noopStorm is the GitHub test server with the GitOps repository, and the
// deliveries of one round.
type noopStorm struct {
	gh     *githubtest.Server
	rs     *rules.Rules
	key    []byte
	pushed string // the commit every push delivery names: an ancestor of main
	dir    string
}

func newNoopStorm(tb testing.TB) *noopStorm {
	tb.Helper()
	dir := tb.TempDir()
	key, pub, err := githubtest.GenerateAppKey()
	if err != nil {
		tb.Fatal(err)
	}
	gh, err := githubtest.New(githubtest.Config{Dir: filepath.Join(dir, "github"), AppID: noopAppID, AppPublicKey: pub, InstallationID: noopInstall})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(gh.Close)
	files := map[string]string{}
	for i := range noopServices {
		files["apps/"+noopSvc(i)+"/base/kustomization.yaml"] = "resources: []\n"
		for _, env := range []string{"dev", "staging", "prod"} {
			files[noopOverlayPath(i, env)] = overlayFile(noopSvc(i), env, noopTag(i))
		}
	}
	if err := gh.CreateRepo(noopGitOps, "main", files); err != nil {
		tb.Fatal(err)
	}
	for i := range noopServices {
		if err := gh.CreateRepo("acme/"+noopSvc(i), "main", map[string]string{"main.go": "package main\n"}); err != nil {
			tb.Fatal(err)
		}
	}
	rs, err := rules.Parse("promotion-rules.yaml", []byte(noopRules()))
	if err != nil {
		tb.Fatal(err)
	}
	// The pushes name a commit that later commits (merged promotions, say)
	// have moved main past: the mirror's main descends from it.
	s := &noopStorm{gh: gh, rs: rs, key: key, dir: dir, pushed: gh.Branches(noopGitOps)["main"]}
	for i := range 3 {
		c := fmt.Sprintf("# note %d\n", i)
		if _, err := gh.Commit(noopGitOps, "main", map[string]*string{"NOTES.md": &c}, "notes"); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// deliveries returns n distinct deliveries of kind "push" (a push to the
// GitOps repository's main that changed one service's dev overlay: promote
// dev → staging, which already runs dev's tag) or "build" (a re-run of the
// build of the commit dev already runs: update dev to the tag it runs),
// classified by the webhook's classifier.
func (s *noopStorm) deliveries(tb testing.TB, kind string, round, n int) [][]byte {
	tb.Helper()
	out := make([][]byte, 0, n)
	for i := range n {
		svc := i % noopServices
		var d webhook.Delivery
		switch kind {
		case "push":
			d = webhook.Delivery{Event: "push", Payload: s.pushPayload(tb, svc)}
		case "build":
			d = webhook.Delivery{Event: "workflow_run", Payload: s.buildPayload(tb, svc, round*n+i+1)}
		}
		d.ID = fmt.Sprintf("%08x-0000-4000-8000-%012d", round, i)
		d.Received = time.Now()
		ins, err := webhook.Classify(s.rs, d)
		if err != nil || len(ins) != 1 {
			tb.Fatalf("classify %s delivery: %d intents, %v", kind, len(ins), err)
		}
		b, err := ins[0].Marshal()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func (s *noopStorm) pushPayload(tb testing.TB, svc int) []byte {
	url := s.gh.URL()
	commit := map[string]any{
		"id": s.pushed, "message": "Set dev of " + noopSvc(svc), "url": url + "/" + noopGitOps + "/commit/" + s.pushed,
		"added": []string{}, "modified": []string{noopOverlayPath(svc, "dev")}, "removed": []string{},
	}
	return mustJSON(tb, map[string]any{
		"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": s.pushed,
		"compare":      url + "/" + noopGitOps + "/compare/" + s.pushed,
		"installation": map[string]any{"id": noopInstall},
		"repository": map[string]any{
			"full_name": noopGitOps, "html_url": url + "/" + noopGitOps, "clone_url": url + "/" + noopGitOps + ".git",
		},
		"sender":      map[string]any{"login": "alice"},
		"head_commit": commit,
		"commits":     []any{commit},
	})
}

func (s *noopStorm) buildPayload(tb testing.TB, svc, run int) []byte {
	repo := "acme/" + noopSvc(svc)
	return mustJSON(tb, map[string]any{
		"action":       "completed",
		"installation": map[string]any{"id": noopInstall},
		"repository":   map[string]any{"full_name": repo, "html_url": s.gh.URL() + "/" + repo},
		"sender":       map[string]any{"login": "alice"},
		"workflow":     map[string]any{"path": ".github/workflows/build.yml"},
		"workflow_run": map[string]any{
			"conclusion": "success", "head_branch": "main", "head_sha": noopSourceSHA(svc), "event": "push",
			"path": ".github/workflows/build.yml", "run_number": run, "display_title": "re-run",
			"html_url":        fmt.Sprintf("%s/%s/actions/runs/%d", s.gh.URL(), repo, run),
			"head_commit":     map[string]any{"message": "re-run"},
			"head_repository": map[string]any{"full_name": repo},
		},
	})
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// worker returns promobot's worker over a Source with mirrors of its own
// (alwaysFetch: the behaviour before issue #10 part 4), and the Source.
func (s *noopStorm) worker(tb testing.TB, alwaysFetch bool, observe func(worker.Result)) (*worker.Worker, *checkout.Source) {
	tb.Helper()
	clients, err := ghapp.New(ghapp.Config{APIURL: s.gh.APIURL(), AppID: noopAppID, PrivateKey: s.key, Retry: ghretry.Config{ContentPace: -1}})
	if err != nil {
		tb.Fatal(err)
	}
	mirrors, err := os.MkdirTemp(s.dir, "mirrors-")
	if err != nil {
		tb.Fatal(err)
	}
	src := &checkout.Source{Clients: clients, Mirrors: gitmirror.New(mirrors), Rules: func() *rules.Rules { return s.rs }, AlwaysFetch: alwaysFetch}
	return &worker.Worker{
		Holder: &memHolder{held: map[string]chan struct{}{}},
		Repos:  src,
		Writer: &prwriter.Writer{}, // never called: every intent skips
		Log:    zerolog.Nop(), Now: time.Now, Observe: observe,
	}, src
}

// run handles every delivery with noopWorkers goroutines and checks that
// each was acknowledged as skipped.
func run(ctx context.Context, tb testing.TB, w *worker.Worker, skipped *int64Counter, ds [][]byte) {
	tb.Helper()
	next := make(chan []byte)
	errs := make(chan error, len(ds))
	var wg sync.WaitGroup
	for range noopWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range next {
				if out := w.Handle(ctx, fakeDelivery(d)); out.Action != queue.Ack {
					errs <- fmt.Errorf("intent not acked: %+v", out)
				}
			}
		}()
	}
	before := skipped.load()
	for _, d := range ds {
		next <- d
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	if got := skipped.load() - before; got != int64(len(ds)) {
		tb.Fatalf("%d of %d intents skipped", got, len(ds))
	}
}

type int64Counter struct {
	mu sync.Mutex
	n  int64
}

func (c *int64Counter) load() int64 { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

// observer counts skipped results and fails on anything else.
func (c *int64Counter) observer(tb testing.TB) func(worker.Result) {
	return func(r worker.Result) {
		if r.Outcome != worker.Skipped {
			tb.Errorf("intent %s: %s (%s), want skipped", r.Intent.ID, r.Outcome, r.Reason)
			return
		}
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
}

type fakeDelivery []byte

func (d fakeDelivery) Data() []byte         { return d }
func (d fakeDelivery) Subject() string      { return intent.SubjectPrefix + ".bench" }
func (d fakeDelivery) MsgID() string        { return "bench" }
func (d fakeDelivery) NumDelivered() uint64 { return 1 }

// memHolder is a per-key lock that waits for the key (queue.Hold waits too,
// polling the KV bucket).
type memHolder struct {
	mu   sync.Mutex
	held map[string]chan struct{}
}

func (h *memHolder) Hold(ctx context.Context, key string) (context.Context, func(), error) {
	for {
		h.mu.Lock()
		busy, ok := h.held[key]
		if !ok {
			free := make(chan struct{})
			h.held[key] = free
			h.mu.Unlock()
			return ctx, func() {
				h.mu.Lock()
				delete(h.held, key)
				h.mu.Unlock()
				close(free)
			}, nil
		}
		h.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// warm fetches the mirror once, as a running promobot's would be.
func warm(ctx context.Context, tb testing.TB, w *worker.Worker, s *noopStorm, skipped *int64Counter) {
	tb.Helper()
	run(ctx, tb, w, skipped, s.deliveries(tb, "push", 1<<20, 1))
}

// cpuTime is the user+system CPU of this process and its waited-for
// children so far.
func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &self) != nil || syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids) != nil {
		return 0
	}
	var d time.Duration
	for _, tv := range []syscall.Timeval{self.Utime, self.Stime, kids.Utime, kids.Stime} {
		d += time.Duration(tv.Nano())
	}
	return d
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// TestNoopStorm checks what the benchmark measures, on fewer deliveries:
// every intent skips in both modes; without AlwaysFetch, the push
// deliveries (naming a commit the mirror's main descends from) cost no
// fetch after the mirror's first.
func TestNoopStorm(t *testing.T) {
	ctx := context.Background()
	s := newNoopStorm(t)
	const n = 40
	for _, alwaysFetch := range []bool{true, false} {
		var skipped int64Counter
		w, src := s.worker(t, alwaysFetch, skipped.observer(t))
		warm(ctx, t, w, s, &skipped)
		before := src.Mirrors.Fetches()
		run(ctx, t, w, &skipped, s.deliveries(t, "push", 0, n))
		pushFetches := src.Mirrors.Fetches() - before
		run(ctx, t, w, &skipped, s.deliveries(t, "build", 0, n))
		switch {
		case alwaysFetch && pushFetches == 0:
			t.Errorf("AlwaysFetch: %d no-op pushes made no fetch", n)
		case !alwaysFetch && pushFetches != 0:
			t.Errorf("%d no-op pushes made %d fetches, want 0", n, pushFetches)
		}
	}
}

// BenchmarkNoopStorm: rounds of 1,000 distinct deliveries whose intents
// all skip, handled by 4 workers, fetching on every intent (before) and
// only when needed (after), in the same run. One iteration is one round.
//
//	go test -run '^$' -bench BenchmarkNoopStorm -benchtime 1x -count 3 -timeout 60m ./bench/
func BenchmarkNoopStorm(b *testing.B) {
	ctx := context.Background()
	s := newNoopStorm(b)
	const n = 1000
	for _, kind := range []string{"push", "build"} {
		for _, mode := range []struct {
			name        string
			alwaysFetch bool
		}{{"fetch-every-time", true}, {"fetch-when-needed", false}} {
			b.Run(kind+"/"+mode.name, func(b *testing.B) {
				var skipped int64Counter
				w, src := s.worker(b, mode.alwaysFetch, skipped.observer(b))
				warm(ctx, b, w, s, &skipped)
				rounds := make([][][]byte, b.N)
				for i := range rounds {
					rounds[i] = s.deliveries(b, kind, i, n)
				}
				load := loadavg()
				fetches := src.Mirrors.Fetches()
				cpu := cpuTime()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					run(ctx, b, w, &skipped, rounds[i])
				}
				b.StopTimer()
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "intents/s")
				b.ReportMetric(float64(src.Mirrors.Fetches()-fetches)/float64(b.N), "fetches/round")
				// CPU of this process and of the git http-backend processes
				// it served (the GitHub test server's side of each fetch):
				// what machine load disturbs least.
				b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(n*b.N), "cpu-µs/intent")
				b.Logf("load average %s at start, %s at end", load, loadavg())
			})
		}
	}
}
