package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/localrepo"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/webhook"
)

// planRound is what a push of all 200 dev tags costs promobot: classify the
// delivery into promote intents, then decide every intent against the
// repository, with workers planners in parallel (1 = sequential).
func planRound(ctx context.Context, rs *rules.Rules, d webhook.Delivery, view planner.RepoView, workers int) ([]*planner.Plan, error) {
	ins, err := webhook.Classify(rs, d)
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	plans := make([]*planner.Plan, len(ins))
	errs := make([]error, len(ins))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				dec, err := planner.Decide(ctx, rs, ins[i], planner.Views{Base: view}, d.Received)
				switch {
				case err != nil:
					errs[i] = err
				case dec.Plan == nil:
					errs[i] = fmt.Errorf("intent %s: no plan (skip %q, refusal %+v)", ins[i].ID, dec.Skip, dec.Refusal)
				default:
					plans[i] = dec.Plan
				}
			}
		}()
	}
	for i := range ins {
		next <- i
	}
	close(next)
	wg.Wait()
	return plans, errors.Join(errs...)
}

type planSetup struct {
	repo  string
	rs    *rules.Rules
	dir   *localrepo.Dir
	mem   memView
	deliv webhook.Delivery
}

func setupPlans(tb testing.TB) planSetup {
	tb.Helper()
	repo := filepath.Join(tb.TempDir(), "gitops")
	genMonorepo(tb, repo)
	d, err := localrepo.Open(repo)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = d.Close() })
	return planSetup{repo: repo, rs: loadPlanRules(tb, repo), dir: d, mem: readTree(tb, repo), deliv: pushDelivery(pushPayload(tb), 1)}
}

// TestStagingPlans200 checks what the benchmark measures: one push → 200
// promote intents dev → staging → 200 plans, each changing exactly the tag
// line of one staging overlay.
func TestStagingPlans200(t *testing.T) {
	s := setupPlans(t)
	ins, err := webhook.Classify(s.rs, s.deliv)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != nServices {
		t.Fatalf("%d intents, want %d", len(ins), nServices)
	}
	for _, in := range ins {
		if in.Kind != intent.KindPromote || in.From != "dev" || in.To != "staging" || in.Tag != "" {
			t.Fatalf("intent %+v, want promote dev → staging of what dev runs", in)
		}
	}
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		plans, err := planRound(context.Background(), s.rs, s.deliv, s.dir, workers)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range plans {
			svc := svcName(i)
			if len(p.Edits) != 1 {
				t.Fatalf("%s: %d edits", svc, len(p.Edits))
			}
			e := p.Edits[0]
			want := overlayFile(svc, "staging", newTag)
			if e.Path != "apps/"+svc+"/overlays/staging/kustomization.yaml" || string(e.New) != want {
				t.Fatalf("%s: edit of %s:\n%s\nwant:\n%s", svc, e.Path, e.New, want)
			}
			if p.Branch != "promobot/staging/"+svc || p.Target.Service != svc {
				t.Fatalf("%s: branch %s target %+v", svc, p.Branch, p.Target)
			}
		}
	}
}

// BenchmarkStagingPlans200 measures one full round (classify the push, plan
// all 200 staging promotions) against the checkout on disk and in memory,
// sequentially and with one planner per CPU as promobot's workers run.
func BenchmarkStagingPlans200(b *testing.B) {
	s := setupPlans(b)
	ctx := context.Background()
	views := []struct {
		name string
		view planner.RepoView
	}{{"localrepo", s.dir}, {"memory", s.mem}}
	for _, v := range views {
		for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("%s/workers=%d", v.name, workers), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					plans, err := planRound(ctx, s.rs, pushDelivery(s.deliv.Payload, i), v.view, workers)
					if err != nil || len(plans) != nServices {
						b.Fatalf("%d plans, %v", len(plans), err)
					}
				}
				b.ReportMetric(planMillis(b.Elapsed())/float64(b.N), "ms/200-plans")
			})
		}
	}
}

// kustomizeVersions are tried in order; v5.7.1 builds with Go 1.26.
var kustomizeVersions = []string{"v5.7.1", "v5.6.0", "v5.5.0", "v5.4.3"}

// installKustomize builds the kustomize CLI into a temporary GOBIN.
func installKustomize(b *testing.B) string {
	b.Helper()
	gobin := b.TempDir()
	var failures []string
	for _, v := range kustomizeVersions {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		cmd := exec.CommandContext(ctx, "go", "install", "sigs.k8s.io/kustomize/kustomize/v5@"+v)
		cmd.Dir = gobin // outside this module: go install pkg@version ignores go.mod
		cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=")
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil {
			bin := filepath.Join(gobin, "kustomize")
			if ver, err := exec.Command(bin, "version").Output(); err == nil {
				b.Logf("kustomize CLI %s (%s)", v, strings.TrimSpace(string(ver)))
			}
			return bin
		}
		failures = append(failures, fmt.Sprintf("%s: %v: %s", v, err, lastLines(string(out), 3)))
	}
	b.Skipf("cannot install the kustomize CLI (no network or module proxy?); tried:\n%s", strings.Join(failures, "\n"))
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// BenchmarkKustomizeEditSetImage does the same 200 staging edits the way CI
// scripts do: one `kustomize edit set image` process per overlay. It also
// times promobot's round (median of 5, sequential, from disk) in the same
// run and reports the ratio.
func BenchmarkKustomizeEditSetImage(b *testing.B) {
	kustomize := installKustomize(b)
	s := setupPlans(b)
	ctx := context.Background()

	var rounds []time.Duration
	for range 5 {
		start := time.Now()
		if _, err := planRound(ctx, s.rs, s.deliv, s.dir, 1); err != nil {
			b.Fatal(err)
		}
		rounds = append(rounds, time.Since(start))
	}
	promobot := planMedian(rounds)

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tag := fmt.Sprintf("sha-%07x", 0xabc0000+i) // a real change every iteration
		for j := range nServices {
			img := "registry.example.com/" + svcName(j)
			cmd := exec.Command(kustomize, "edit", "set", "image", img+"="+img+":"+tag)
			cmd.Dir = filepath.Join(s.repo, "apps", svcName(j), "overlays", "staging")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%s: %v\n%s", cmd.Dir, err, out)
			}
		}
	}
	b.StopTimer()
	perRound := b.Elapsed() / time.Duration(b.N)

	// The CLI really changed the files.
	data, err := os.ReadFile(filepath.Join(s.repo, "apps", svcName(nServices-1), "overlays", "staging", "kustomization.yaml"))
	if err != nil || !strings.Contains(string(data), fmt.Sprintf("sha-%07x", 0xabc0000+b.N-1)) {
		b.Fatalf("kustomize did not set the tag: %v\n%s", err, data)
	}
	b.ReportMetric(planMillis(perRound), "ms/200-files")
	b.ReportMetric(planMillis(perRound)/nServices, "ms/file")
	b.ReportMetric(planMillis(promobot), "promobot-ms/200-plans")
	b.ReportMetric(float64(perRound)/float64(promobot), "x-slower-than-promobot")
}
