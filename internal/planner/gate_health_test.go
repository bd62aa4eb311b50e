package planner

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/intent"
)

const healthRules = `version: 1
environments:
  - name: dev
    auto: true
  - name: staging
    auto: true
    health:
      checks: ['continuous-delivery/{{.Service}}-{{.Env}}', 'smoke']
      timeout: 30m
  - name: prod
services:
  - name: payment-service
    repo: acme/gitops
    image: registry.example.com/payment-service
    targets:
      dev:     { kustomize: apps/payment-service/overlays/dev }
      staging: { kustomize: apps/payment-service/overlays/staging }
      prod:    { kustomize: apps/payment-service/overlays/prod-eu }
`

// fakeChecks holds a run of commits (newest first) and results per commit.
type fakeChecks struct {
	view    mapView
	run     []Commit
	results map[string][]CheckResult
	asked   []string
	err     error
}

func (f *fakeChecks) Run(ctx context.Context, path string, holds func([]byte) bool) ([]Commit, error) {
	b, err := f.view.ReadFile(ctx, path)
	if err != nil || !holds(b) {
		return nil, nil
	}
	return f.run, nil
}

func (f *fakeChecks) Results(_ context.Context, sha string, names []string) ([]CheckResult, error) {
	f.asked = append(f.asked, sha)
	if f.err != nil {
		return nil, f.err
	}
	var out []CheckResult
	for _, r := range f.results[sha] {
		if contains(names, r.Name) {
			out = append(out, r)
		}
	}
	return out, nil
}

func TestHealthGate(t *testing.T) {
	view := repo("sha-2222222", "v1.3.0", "v1.2.0", "v1.2.0")
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	arrived := Commit{SHA: "c1", Message: "Promote payment-service v1.3.0 to staging (#7)\n\nbody", When: now.Add(-10 * time.Minute)}
	later := Commit{SHA: "c2", Message: "Merge pull request #9 from acme/other", When: now.Add(-5 * time.Minute)}
	run := []Commit{later, arrived}
	cd := "continuous-delivery/payment-service-staging"
	ok := func(name string) CheckResult { return CheckResult{Name: name, State: "success"} }
	for _, tc := range []struct {
		name    string
		env     string
		kind    intent.Kind
		tag     string
		run     []Commit
		results map[string][]CheckResult
		now     time.Time
		timeout string // staging's health timeout; "" 30m
		want    gateWant
		failed  *CheckFailure
	}{
		{name: "environment left has no health", env: "staging", run: run,
			want: gateWant{open: true, reason: "no health checks required"}},
		{name: "rollback skips", env: "prod", kind: intent.KindRollback, run: run,
			want: gateWant{open: true, reason: "rollback"}},
		{name: "healthy on the newest commit", env: "prod", run: run,
			results: map[string][]CheckResult{"c2": {ok(cd), ok("smoke")}},
			want:    gateWant{open: true, reason: "healthy in the previous environment: " + cd + ", smoke"}},
		{name: "healthy across the run (one check on the arrival commit)", env: "prod", run: run,
			results: map[string][]CheckResult{"c2": {ok(cd)}, "c1": {ok("smoke")}},
			want:    gateWant{open: true, reason: "healthy"}},
		{name: "a pending report does not hide an earlier success", env: "prod", run: run,
			results: map[string][]CheckResult{"c2": {{Name: cd, State: "pending"}, ok("smoke")}, "c1": {ok(cd)}},
			want:    gateWant{open: true, reason: "healthy"}},
		{name: "nothing reported yet: waits, looked at again by the backstop", env: "prod", run: run,
			results: map[string][]CheckResult{"c2": {ok("smoke")}},
			want: gateWant{reason: "waiting for " + cd + " to report payment-service v1.3.0 healthy in staging",
				retryAt: now.Add(HealthRecheck)}},
		{name: "a long timeout: the backstop looks a sixth of it apart", env: "prod", run: run, timeout: "2h",
			want: gateWant{reason: "waiting for", retryAt: now.Add(20 * time.Minute)}},
		{name: "backstop never later than the timeout", env: "prod", run: run, now: arrived.When.Add(28 * time.Minute),
			want: gateWant{reason: "refused at 2026-11-25T10:20:00Z", retryAt: arrived.When.Add(30 * time.Minute)}},
		{name: "timeout: refused", env: "prod", run: run, now: arrived.When.Add(30 * time.Minute),
			results: map[string][]CheckResult{"c1": {{Name: "smoke", State: "pending"}}},
			want:    gateWant{reason: "no success from " + cd + ", smoke within 30m0s"},
			failed:  &CheckFailure{Check: cd + ", smoke", Env: "staging", Commit: "c1", PR: 7, Tag: "payment-service v1.3.0", TimedOut: 30 * time.Minute}},
		{name: "failure blocks and names the check with its link", env: "prod", run: run,
			results: map[string][]CheckResult{"c2": {{Name: cd, State: "failure", URL: "https://argocd.example.com/applications/payment-service-staging"}, ok("smoke")}},
			want:    gateWant{reason: "check " + cd + " failed (https://argocd.example.com/applications/payment-service-staging)"},
			failed:  &CheckFailure{Check: cd, URL: "https://argocd.example.com/applications/payment-service-staging", Env: "staging", Commit: "c1", PR: 7, Tag: "payment-service v1.3.0", OnSHA: "c2"}},
		{name: "a newer success wins over an older failure", env: "prod", run: run,
			results: map[string][]CheckResult{"c2": {ok(cd), ok("smoke")}, "c1": {{Name: cd, State: "error"}}},
			want:    gateWant{open: true, reason: "healthy"}},
		{name: "the tag does not run in the environment left", env: "prod", tag: "v1.4.0", run: run,
			want: gateWant{reason: "payment-service v1.4.0 is not running in staging"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := healthRules
			if tc.timeout != "" {
				yaml = strings.Replace(yaml, "timeout: 30m", "timeout: "+tc.timeout, 1)
			}
			in := gateInput(t, yaml, "payment-service", tc.env)
			if tc.kind != "" {
				in.Kind = tc.kind
			}
			if tc.tag == "" {
				tc.tag = "v1.3.0"
			}
			in.Changes = []Change{tagChange("payment-service", tc.env, "v1.2.0", tc.tag)}
			in.Views = Views{Base: view, Checks: &fakeChecks{view: view, run: tc.run, results: tc.results}}
			in.Now = now
			if !tc.now.IsZero() {
				in.Now = tc.now
			}
			checkGate(t, healthGate{}, in, tc.want)
			got, err := healthGate{}.Check(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.failed == nil && got.Failed != nil:
				t.Errorf("Failed = %+v, want none", got.Failed)
			case tc.failed != nil && (got.Failed == nil || *got.Failed != *tc.failed):
				t.Errorf("Failed = %+v, want %+v", got.Failed, tc.failed)
			}
		})
	}
}

func TestHealthGateStopsAsking(t *testing.T) {
	view := repo("sha-2222222", "v1.3.0", "v1.2.0", "v1.2.0")
	var run []Commit
	results := map[string][]CheckResult{}
	for i := range 50 {
		sha := "c" + strings.Repeat("x", i)
		run = append(run, Commit{SHA: sha, When: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)})
	}
	results[run[0].SHA] = []CheckResult{{Name: "smoke", State: "success"}}
	results[run[1].SHA] = []CheckResult{{Name: "continuous-delivery/payment-service-staging", State: "success"}}
	chk := &fakeChecks{view: view, run: run, results: results}
	in := gateInput(t, healthRules, "payment-service", "prod")
	in.Changes = []Change{tagChange("payment-service", "prod", "v1.2.0", "v1.3.0")}
	in.Views = Views{Base: view, Checks: chk}
	in.Now = time.Date(2026, 11, 25, 9, 5, 0, 0, time.UTC)
	if r, err := (healthGate{}).Check(context.Background(), in); err != nil || !r.Open {
		t.Fatalf("got %+v, %v; want open", r, err)
	}
	if len(chk.asked) != 2 {
		t.Errorf("asked about %d commits, want 2 (every check decided)", len(chk.asked))
	}
	// Nothing reported anywhere: at most healthCommits commits are asked about.
	chk.results, chk.asked = nil, nil
	if _, err := (healthGate{}).Check(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if len(chk.asked) != healthCommits || chk.asked[len(chk.asked)-1] != run[len(run)-1].SHA {
		t.Errorf("asked %d commits ending %q, want %d ending with the arrival", len(chk.asked), chk.asked[len(chk.asked)-1], healthCommits)
	}
	boom := errors.New("boom")
	chk.err = boom
	if _, err := (healthGate{}).Check(context.Background(), in); !errors.Is(err, boom) {
		t.Errorf("err = %v, want the reader's error", err)
	}
}

func TestMergedPR(t *testing.T) {
	for msg, want := range map[string]int{
		"Merge pull request #12 from acme/promobot/staging/web\n\nPromote": 12,
		"Promote web v2 to staging (#34)":                                  34,
		"Promote web v2 to staging (#34)\n\n* body":                        34,
		"promote web v2 to dev":                                            0,
		"Fix (#0)":                                                         0,
		"Merge pull request #99999999999999999999 from x":                  0,
	} {
		if got := mergedPR(msg); got != want {
			t.Errorf("mergedPR(%q) = %d, want %d", msg, got, want)
		}
	}
}

// FuzzMergedPR: any commit message gives a PR number or none, never a
// panic, and a number only when the first line says so.
func FuzzMergedPR(f *testing.F) {
	for _, s := range []string{"Merge pull request #12 from a/b", "Title (#3)", "(#", "Merge pull request #-1 ", "x\n(#4)", "(#99999999999999999999)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		n := mergedPR(msg)
		line, _, _ := strings.Cut(msg, "\n")
		if n < 0 || n > 0 && !strings.Contains(line, "#") {
			t.Fatalf("mergedPR(%q) = %d", msg, n)
		}
	})
}
