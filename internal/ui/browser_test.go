package ui_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/ui"
	"github.com/promobot/promobot/internal/worker"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "copy the browser test's screenshots to docs/screenshots")

const chromium = "/usr/bin/chromium"

// browserRules are the demo's rules with a 24h soak before prod: a
// promotion to prod right after staging waits on the soak gate.
const browserRules = `version: 1
defaults:
  baseBranch: main
  labels: [promotion]
environments:
  - name: dev
    auto: true
    direct: true
  - name: staging
    auto: true
  - name: prod
    soak: 24h
    health: { checks: ['argocd/{{.Service}}-{{.Env}}'] }
    ticket:
      required: true
      pattern: 'PAY-\d+'
      url: 'https://jira.example.com/browse/{{.Ticket}}'
services:
  - name: payment-service
    repo: acme/gitops
    image: registry.example.com/payment-service
    source:
      repo: acme/payment-service
      workflow: .github/workflows/build.yml
      branch: main
      tag: 'sha-{{.ShortSHA}}'
    targets:
      dev:     { kustomize: apps/payment-service/overlays/dev }
      staging: { kustomize: apps/payment-service/overlays/staging }
      prod:    { kustomize: apps/payment-service/overlays/prod }
`

// TestBrowserSignInMatrixTimelineAndGate drives the real page in headless
// Chromium: sign-in through the GitHub test server's OAuth flow, the
// matrix with the right tags, a service's timeline, a PR link, and a
// promotion waiting on the soak gate with its reason.
func TestBrowserSignInMatrixTimelineAndGate(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: .ci/run installs Debian's chromium package", chromium)
		}
		t.Skipf("%s is missing (apt-get install chromium); the browser test needs it", chromium)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// promobot's address must be known before it starts: it is the OAuth callback's.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	public := "http://" + addr
	h, err := demo.Start(ctx, demo.Options{Dir: t.TempDir(), Log: zerolog.Nop(), Rules: []byte(browserRules), Listen: addr,
		UIOAuth: &ui.OAuth{ClientID: "Iv1.b7owser0000test", ClientSecrets: [][]byte{[]byte("0123456789abcdef0123456789abcdef01234567")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.GitHub.SetOAuthClient("Iv1.b7owser0000test", "0123456789abcdef0123456789abcdef01234567", public+"/auth/callback")
	h.GitHub.SetUserAccess("alice", demo.GitOpsRepo)
	h.GitHub.SignInAs("alice")

	// A build: dev is committed, a staging PR opens; a reviewer merges it;
	// alice asks for prod, which waits on the soak gate.
	sha, err := h.SourceCommit("PAY-123: round refunds to the cent")
	if err != nil {
		t.Fatal(err)
	}
	payload, err := h.WorkflowRun(demo.Build{SHA: sha, Message: "PAY-123: round refunds to the cent", RunNumber: 42})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Send(ctx, "workflow_run", demo.DeliveryID(), payload); err != nil {
		t.Fatal(err)
	}
	tag := "sha-" + sha[:7]
	stg := awaitOutcome(ctx, t, h, func(r worker.Result) bool { return r.Outcome == worker.Opened })
	if _, err := h.GitHub.Merge(demo.GitOpsRepo, stg.PR, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := h.GitHub.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	pr, err := h.PR(stg.PR)
	if err != nil {
		t.Fatal(err)
	}
	id, err := h.RequestPromotion(ctx, demo.Request{Env: "prod", Requester: "alice", Ticket: "PAY-123", PR: pr})
	if err != nil {
		t.Fatal(err)
	}
	wait := awaitOutcome(ctx, t, h, func(r worker.Result) bool { return r.Intent.ID == id })
	if wait.Outcome != worker.Delayed || wait.Gate != "soak time" {
		t.Fatalf("prod: %s on gate %q (%s), want delayed by the soak gate", wait.Outcome, wait.Gate, wait.Reason)
	}
	h.App.SettleStatusPage() // the matrix is the one after the merge, not one being read
	// Argo CD reports prod healthy on the GitOps repository's head.
	if err := h.GitHub.SetStatus(demo.GitOpsRepo, "main", "argocd/payment-service-prod", "success",
		"https://argocd.example.com/applications/payment-service-prod", "argocd[bot]"); err != nil {
		t.Fatal(err)
	}

	dir := os.Getenv("PROMOBOT_SCREENSHOTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	shots := newBrowser(ctx, t)

	// Sign in: / redirects to GitHub's authorize, which sends the browser back.
	shots.do(chromedp.Navigate(public+"/"), chromedp.WaitVisible(chromedp.CSS("table.matrix")))
	// The health report travels webhook → queue → worker → KV → the page's
	// watch: reload until it shows (bounded by ctx).
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(shots.text("main"), "argocd/payment-service-prod") {
		select {
		case <-ctx.Done():
			t.Fatalf("prod's health never showed:\n%s", shots.text("main"))
		case <-tick.C:
		}
		shots.do(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("table.matrix")))
	}
	matrix := shots.text("main")
	for _, want := range []string{"payment-service", tag, "sha-0a1b2c3", "Waiting", "on gate soak time", "has run in staging since", "healthy"} {
		if !strings.Contains(matrix, want) {
			t.Errorf("matrix lacks %q:\n%s", want, matrix)
		}
	}
	if hd := shots.text("header"); !strings.Contains(hd, "Signed in as alice") {
		t.Errorf("header = %q", hd)
	}
	shots.save(filepath.Join(dir, "status-matrix.png"))

	// The service's timeline.
	shots.do(chromedp.Click(chromedp.CSS(`a[href="/repos/acme/gitops/services/payment-service"]`)),
		chromedp.WaitVisible(chromedp.CSS("table.timeline")))
	timeline := shots.text("main")
	for _, want := range []string{"Timeline", "staging", "sha-0a1b2c3 → " + tag, fmt.Sprintf("#%d", stg.PR), "PAY-123"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("timeline lacks %q:\n%s", want, timeline)
		}
	}
	shots.save(filepath.Join(dir, "service-timeline.png"))

	// The staging PR's link leads to the PR on GitHub.
	shots.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`table.timeline a[href$="/pull/%d"]`, stg.PR))),
		chromedp.WaitVisible(chromedp.CSS("h1 span")))
	url, err := chromedp.Run(shots.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if heading := shots.text("h1"); url != pr.HTMLURL || !strings.Contains(heading, fmt.Sprintf("#%d", stg.PR)) {
		t.Errorf("PR link led to %s (%q), want %s", url, heading, pr.HTMLURL)
	}

	// A phone's width: the matrix stays readable.
	shots.do(chromedp.EmulateViewport(390, 844), chromedp.Navigate(public+"/"), chromedp.WaitVisible(chromedp.CSS("table.matrix")))
	shots.save(filepath.Join(dir, "status-phone.png"))
	t.Logf("screenshots in %s", dir)

	if *updateScreenshots {
		for _, name := range []string{"status-matrix.png", "service-timeline.png"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("..", "..", "docs", "screenshots", name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func awaitOutcome(ctx context.Context, t *testing.T, h *demo.Harness, match func(worker.Result) bool) worker.Result {
	t.Helper()
	for n := 0; ; n++ {
		r, err := h.Await(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if match(r) {
			return r
		}
	}
}

// browser is one headless Chromium with a fresh profile.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(ctx context.Context, t *testing.T) *browser {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return &browser{t: t, ctx: bctx}
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

func (b *browser) save(path string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
