package policy

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/edit"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/rules"
)

var update = flag.Bool("update", false, "rewrite golden files")

const testRules = `version: 1
environments:
  - name: dev
    auto: true
    direct: true
  - name: staging
    auto: true
  - name: prod
    soak: 2h
    ticket: { required: true, pattern: '[A-Z][A-Z0-9]+-\d+' }
    windows:
      - deny: '0 18 * * 5'
        duration: 62h
        timezone: UTC
services:
  - name: payment-service
    repo: acme/gitops
    image: registry.example.com/payment-service
    targets:
      dev:     { kustomize: apps/payment-service/overlays/dev }
      staging: { kustomize: apps/payment-service/overlays/staging }
      prod:    { kustomize: apps/payment-service/overlays/prod }
  - name: web
    repo: acme/gitops
    image: registry.example.com/web
    targets:
      staging: { helm: charts/web/values-staging.yaml, field: image.tag }
      prod:    { helm: charts/web/values-prod.yaml, field: image.tag }
`

const (
	devFile     = "apps/payment-service/overlays/dev/kustomization.yaml"
	stagingFile = "apps/payment-service/overlays/staging/kustomization.yaml"
	prodFile    = "apps/payment-service/overlays/prod/kustomization.yaml"
	webStaging  = "charts/web/values-staging.yaml"
	webProd     = "charts/web/values-prod.yaml"
)

func overlay(tag string) string {
	return fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
replicas:
  - name: payment-service
    count: 2
images:
  - name: registry.example.com/payment-service
    newTag: %s
`, tag)
}

func values(tag string) string {
	return "image:\n  repository: registry.example.com/web\n  tag: " + tag + "\n"
}

// wed10 is a Wednesday; the prod freeze runs Friday 18:00 to Monday 08:00 UTC.
var (
	wed10     = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	freezeOn  = time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)
	freezeOff = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
)

// commit is one version of one file on the base branch.
type commit struct {
	at      time.Time
	content string
}

// fakeRepo is the base branch: each file's history, oldest first; the
// last version is the head.
type fakeRepo map[string][]commit

func (r fakeRepo) Commit() string { return "0123456789abcdef0123456789abcdef01234567" }
func (r fakeRepo) ReadFile(_ context.Context, p string) ([]byte, error) {
	h := r[p]
	if len(h) == 0 {
		return nil, fmt.Errorf("open %s: %w", p, fs.ErrNotExist)
	}
	return []byte(h[len(h)-1].content), nil
}
func (r fakeRepo) Exists(p string) bool { return len(r[p]) > 0 }

func (r fakeRepo) FirstSeen(_ context.Context, p string, holds func([]byte) bool) (time.Time, bool, error) {
	h := r[p]
	var since time.Time
	for i := len(h) - 1; i >= 0 && holds([]byte(h[i].content)); i-- {
		since = h[i].at
	}
	return since, !since.IsZero(), nil
}

func (r fakeRepo) EverSeen(_ context.Context, p string, holds func([]byte) bool) (time.Time, bool, error) {
	for _, c := range r[p] {
		if holds([]byte(c.content)) {
			return c.at, true, nil
		}
	}
	return time.Time{}, false, nil
}

// base: v1.2.0 everywhere since a week; v1.3.0 reached staging on Tuesday;
// v1.4.0 is in dev only.
func base() fakeRepo {
	week := wed10.Add(-7 * 24 * time.Hour)
	tue := wed10.Add(-24 * time.Hour)
	return fakeRepo{
		devFile:     {{week, overlay("v1.2.0")}, {tue, overlay("v1.3.0")}, {wed10.Add(-time.Hour), overlay("v1.4.0")}},
		stagingFile: {{week, overlay("v1.2.0")}, {tue, overlay("v1.3.0")}},
		prodFile:    {{week, overlay("v1.2.0")}},
		webStaging:  {{week, values("v0.9.0")}},
		webProd:     {{week, values("v0.9.0")}},
		"README.md": {{week, "# gitops\n"}},
	}
}

func change(r fakeRepo, path, after string) File {
	f := File{Path: path, After: []byte(after)}
	if r.Exists(path) {
		b, _ := r.ReadFile(context.Background(), path)
		f.Before = b
	}
	return f
}

func rollbackBody(env, service, to string) string {
	return "Roll back.\n\n<!-- promobot:{\"version\":1,\"intent\":\"i-1\",\"kind\":\"rollback\",\"repo\":\"acme/gitops\",\"env\":\"" + env +
		"\",\"services\":[{\"name\":\"" + service + "\",\"path\":\"x\",\"to\":\"" + to + "\"}],\"ticket\":\"PAY-9\"} -->\n"
}

func mustRules(t testing.TB) *rules.Rules {
	t.Helper()
	rs, err := rules.Parse("rules.yaml", []byte(testRules))
	if err != nil {
		t.Fatalf("parse rules: %v", err)
	}
	return rs
}

func TestEvaluate(t *testing.T) {
	rs := mustRules(t)
	r := base()
	for _, tc := range []struct {
		name       string
		files      []File
		pr         PR
		now        time.Time
		irrelevant bool
		conclusion string
		next       time.Time
		lines      []int // annotated lines, in order
		repo       func(fakeRepo)
	}{
		{name: "never-staged tag into prod", files: []File{change(r, prodFile, overlay("v1.4.0"))},
			pr: PR{Title: "prod: payment-service v1.4.0 [PAY-12]"}, conclusion: Failure, next: freezeOn, lines: []int{10}},
		{name: "compliant prod promotion", files: []File{change(r, prodFile, overlay("v1.3.0"))},
			pr: PR{Title: "prod: payment-service v1.3.0", Branch: "PAY-12-payment"}, conclusion: Success, next: freezeOn},
		{name: "compliant prod promotion during the freeze", now: freezeOn.Add(time.Hour), files: []File{change(r, prodFile, overlay("v1.3.0"))},
			pr: PR{Title: "prod: payment-service v1.3.0 PAY-12"}, conclusion: Failure, next: freezeOff, lines: []int{10}},
		{name: "compliant prod promotion after the freeze", now: freezeOff, files: []File{change(r, prodFile, overlay("v1.3.0"))},
			pr: PR{Body: "Ticket: PAY-12"}, conclusion: Success, next: freezeOn.Add(7 * 24 * time.Hour)},
		{name: "still soaking in staging", now: wed10.Add(-23 * time.Hour), files: []File{change(r, prodFile, overlay("v1.3.0"))},
			pr: PR{Title: "PAY-12"}, conclusion: Failure, next: wed10.Add(-22 * time.Hour), lines: []int{10}},
		{name: "prod without a ticket", files: []File{change(r, prodFile, overlay("v1.3.0"))},
			conclusion: Failure, next: freezeOn, lines: []int{10}},
		{name: "staging from dev", files: []File{change(r, stagingFile, overlay("v1.4.0"))},
			conclusion: Success},
		{name: "staging skipping dev", files: []File{change(r, stagingFile, overlay("v1.5.0"))},
			conclusion: Failure, lines: []int{10}},
		{name: "dev is the first environment", files: []File{change(r, devFile, overlay("v1.5.0"))},
			conclusion: Success},
		{name: "tag pattern", files: []File{change(r, webStaging, values("latest"))},
			conclusion: Failure, lines: []int{3}},
		{name: "hand-written downgrade", files: []File{change(r, prodFile, overlay("v1.1.0"))},
			pr: PR{Title: "PAY-3"}, conclusion: Failure, next: freezeOn, lines: []int{10}},
		{name: "promobot rollback", files: []File{change(r, prodFile, overlay("v1.1.0"))},
			pr: PR{Body: rollbackBody("prod", "payment-service", "v1.1.0"), FromPromobot: true}, conclusion: Success, next: freezeOn},
		{name: "hand-written PR claiming a rollback", files: []File{change(r, prodFile, overlay("v1.1.0"))},
			pr: PR{Body: rollbackBody("prod", "payment-service", "v1.1.0") + "PAY-3"}, conclusion: Failure, next: freezeOn, lines: []int{10}},
		{name: "two services one fails", files: []File{change(r, prodFile, overlay("v1.3.0")), change(r, webProd, values("v1.0.0"))},
			pr: PR{Title: "PAY-12"}, conclusion: Failure, next: freezeOn, lines: []int{3}},
		{name: "only replicas change", files: []File{change(r, prodFile, strings.Replace(overlay("v1.2.0"), "count: 2", "count: 3", 1))},
			conclusion: Success},
		{name: "no target touched", files: []File{change(r, "README.md", "# gitops!\n")}, irrelevant: true},
		{name: "target file deleted", files: []File{{Path: prodFile, Before: []byte(overlay("v1.2.0"))}},
			conclusion: Failure, lines: []int{1}},
		{name: "target file unreadable", files: []File{change(r, prodFile, "images: [ {\n")},
			conclusion: Failure, lines: []int{1}},
		{name: "hostile tag", files: []File{change(r, webStaging, "image:\n  tag: \"`<b>x</b>\\n# y`\"\n")},
			conclusion: Failure, lines: []int{2}},
		{name: "oversized file", files: []File{change(r, webStaging, "image:\n  tag: v1.0.0-"+strings.Repeat("a", 100)+"\n"+strings.Repeat("# pad\n", 2<<20))},
			conclusion: Failure, lines: []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = wed10
			}
			repo := base()
			res, err := Evaluate(context.Background(), Input{Rules: rs, Repo: "acme/gitops", Views: planner.Views{Base: repo, History: repo}, Ran: repo,
				Files: tc.files, PR: tc.pr, Now: now})
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if res.Relevant == tc.irrelevant {
				t.Fatalf("Relevant = %v, want %v", res.Relevant, !tc.irrelevant)
			}
			if tc.irrelevant {
				return
			}
			if res.Conclusion != tc.conclusion {
				t.Errorf("Conclusion = %s, want %s\n%s", res.Conclusion, tc.conclusion, res.Summary)
			}
			if !res.Next.Equal(tc.next) {
				t.Errorf("Next = %v, want %v", res.Next, tc.next)
			}
			var lines []int
			for _, a := range res.Annotations {
				lines = append(lines, a.Line)
				if a.Message == "" || a.Path == "" {
					t.Errorf("annotation without path or message: %+v", a)
				}
			}
			if fmt.Sprint(lines) != fmt.Sprint(tc.lines) {
				t.Errorf("annotated lines = %v, want %v", lines, tc.lines)
			}
			var ann strings.Builder
			for _, a := range res.Annotations {
				fmt.Fprintf(&ann, "%s:%d: %s\n", a.Path, a.Line, a.Message)
			}
			golden(t, strings.ReplaceAll(tc.name, " ", "-")+".md",
				"conclusion: "+res.Conclusion+"\ntitle: "+res.Title+"\n\n"+res.Summary+"\n--- annotations\n"+ann.String())
		})
	}
}

func TestEvaluateWithoutHistory(t *testing.T) {
	repo := base()
	res, err := Evaluate(context.Background(), Input{Rules: mustRules(t), Repo: "acme/gitops", Views: planner.Views{Base: repo},
		Files: []File{change(repo, prodFile, overlay("v1.4.0"))}, PR: PR{Title: "PAY-1"}, Now: wed10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Conclusion != Success || !strings.Contains(res.Summary, "previous environment: not checked: no git history available") {
		t.Fatalf("without history the history gates say they were not checked:\n%s", res.Summary)
	}
}

// healthFake closes the health gate of one environment.
type healthFake struct{ sick string }

func (h healthFake) Check(_ context.Context, svc *rules.Service, env string, ref edit.Ref) (planner.GateResult, error) {
	if env == h.sick {
		return planner.GateResult{Reason: fmt.Sprintf("%s %s: check ci/smoke failed in %s", svc.Name, ref, env)}, nil
	}
	return planner.GateResult{Open: true, Reason: "healthy in " + env}, nil
}

func TestEvaluateHealthHook(t *testing.T) {
	repo := base()
	for _, sick := range []string{"", "staging"} {
		res, err := Evaluate(context.Background(), Input{Rules: mustRules(t), Repo: "acme/gitops", Views: planner.Views{Base: repo, History: repo}, Ran: repo,
			Health: healthFake{sick: sick}, Files: []File{change(repo, prodFile, overlay("v1.3.0"))}, PR: PR{Title: "PAY-1"}, Now: wed10})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"": Success, "staging": Failure}[sick]
		if res.Conclusion != want || !strings.Contains(res.Summary, "health: ") {
			t.Errorf("sick %q: conclusion %s, want %s, with a health line:\n%s", sick, res.Conclusion, want, res.Summary)
		}
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update): %v", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
