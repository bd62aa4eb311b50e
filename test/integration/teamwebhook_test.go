package integration

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/worker"
)

// teamABuilds is teamA with a source: acme/orders' builds update dev.
const teamABuilds = `version: 1
environments:
  - { name: dev, auto: true }
  - name: prod
    reviewers: { teams: [acme/team-a] }
services:
  - name: orders
    image: registry.example.com/team-a/orders
    source: { repo: acme/orders, workflow: .github/workflows/build.yml, branch: main, tag: 'sha-{{.ShortSHA}}' }
    targets:
      dev:  { kustomize: apps/orders/dev }
      prod: { kustomize: apps/orders/prod }
`

// teamBAuto is teamB whose frozen environment follows dev by itself.
const teamBAuto = `version: 1
environments:
  - { name: dev }
  - { name: frozen, auto: true }
  - { name: prod-eu }
services:
  - name: billing
    image: registry.example.com/team-b/billing
    targets:
      dev:     { kustomize: apps/billing/dev }
      frozen:  { kustomize: apps/billing/frozen }
      prod-eu: { kustomize: apps/billing/prod-eu }
`

// buildOf is a successful workflow_run of repo's build at sha (octokit's
// example payload, rewritten).
func buildOf(t *testing.T, h *demo.Harness, repo, sha string, run int) []byte {
	t.Helper()
	raw, err := h.WorkflowRun(demo.Build{SHA: sha, Message: "build", RunNumber: run})
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	_, name, _ := strings.Cut(repo, "/")
	r := p["repository"].(map[string]any)
	r["full_name"], r["name"], r["html_url"] = repo, name, h.GitHub.URL()+"/"+repo
	if hr, ok := p["workflow_run"].(map[string]any)["head_repository"].(map[string]any); ok {
		hr["full_name"], hr["name"] = repo, name
	}
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sendDirect delivers a signed webhook to promobot and returns its answer.
func sendDirect(t *testing.T, ctx context.Context, h *demo.Harness, event string, payload []byte) string {
	t.Helper()
	mac := hmac.New(sha256.New, h.Secret)
	mac.Write(payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.WebhookURL(), bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", demo.DeliveryID())
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTeamRepositoriesPromoteFromWebhooks: team repositories configured
// only by their own .github/promobot.yaml are promoted by the builds and
// pushes GitHub delivers. Each team's push of its configuration makes a
// worker read and index it; the webhook classifies later events with the
// index. A push that breaks one configuration stops that repository's
// intents (a failed promobot/config status on the commit) and not the
// other's.
func TestTeamRepositoriesPromoteFromWebhooks(t *testing.T) {
	h, ctx := startWith(t, demo.Options{Rules: []byte(policyServerRules)})
	gh := h.GitHub
	for repo, files := range map[string]map[string]string{
		"acme/orders": {"main.go": "package main\n", ".github/workflows/build.yml": "name: build\non: push\njobs: {}\n"},
		"acme/team-a": {
			"apps/orders/dev/kustomization.yaml":  kustomization("registry.example.com/team-a/orders", "v2.0.0"),
			"apps/orders/prod/kustomization.yaml": kustomization("registry.example.com/team-a/orders", "v1.0.0"),
		},
		"acme/team-b": {
			"apps/billing/dev/kustomization.yaml":     kustomization("registry.example.com/team-b/billing", "v3.0.0"),
			"apps/billing/frozen/kustomization.yaml":  kustomization("registry.example.com/team-b/billing", "v2.0.0"),
			"apps/billing/prod-eu/kustomization.yaml": kustomization("registry.example.com/team-b/billing", "v1.0.0"),
		},
	} {
		if err := gh.CreateRepo(repo, "main", files); err != nil {
			t.Fatal(err)
		}
	}

	// Each team adds its configuration with a push; a worker reads it.
	for _, team := range []struct{ repo, config string }{{"acme/team-a", teamABuilds}, {"acme/team-b", teamBAuto}} {
		sha, err := gh.Commit(team.repo, "main", map[string]*string{".github/promobot.yaml": &team.config}, "promobot configuration")
		if err != nil {
			t.Fatal(err)
		}
		r, err := h.AwaitIndexed(ctx, team.repo, func(r worker.Result) bool { return strings.Contains(r.Reason, sha[:7]) })
		if err != nil {
			t.Fatal(err)
		}
		if r.Outcome != worker.Skipped || !strings.Contains(r.Reason, "indexed") {
			t.Fatalf("configuration read of %s: %s (%s)", team.repo, r.Outcome, r.Reason)
		}
	}

	// Team A: a build of acme/orders, delivered by GitHub, updates dev.
	src, err := gh.Commit("acme/orders", "main", map[string]*string{"CHANGELOG.md": ptr("faster checkout\n")}, "faster checkout")
	if err != nil {
		t.Fatal(err)
	}
	gh.Deliver("workflow_run", buildOf(t, h, "acme/orders", src, 7))
	r := expect(t, ctx, h, 0, worker.Opened)
	if r.Intent.Repo != "acme/team-a" || r.Intent.To != "dev" || r.Intent.Tag != "sha-"+src[:7] {
		t.Fatalf("build promoted %s %v to %s at %s, want acme/team-a orders to dev at sha-%s", r.Intent.Repo, r.Intent.Services, r.Intent.To, r.Intent.Tag, src[:7])
	}
	pr, err := h.PRIn("acme/team-a", r.PR)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pr.Body, "**Configuration:** `.github/promobot.yaml` of acme/team-a") {
		t.Errorf("PR body does not name the team's configuration:\n%s", pr.Body)
	}

	// Team B: a push to dev, delivered by GitHub, promotes to frozen, which
	// the organisation policy's window closes.
	dev := kustomization("registry.example.com/team-b/billing", "v3.1.0")
	if _, err := gh.Commit("acme/team-b", "main", map[string]*string{"apps/billing/dev/kustomization.yaml": &dev}, "billing v3.1.0 to dev"); err != nil {
		t.Fatal(err)
	}
	r = expect(t, ctx, h, 1, worker.Refused)
	if r.Intent.Repo != "acme/team-b" || r.Intent.From != "dev" || r.Intent.To != "frozen" || !strings.Contains(r.Reason, `inside the deny window "* * * * *"`) {
		t.Fatalf("push gave %s %s→%s %s (%s), want acme/team-b dev→frozen refused by the policy's window", r.Intent.Repo, r.Intent.From, r.Intent.To, r.Outcome, r.Reason)
	}

	// A pull request that weakens the policy in team B gets promobot/config
	// failure, annotated on the offending line.
	weak := strings.Replace(teamBAuto, "  - { name: prod-eu }\n", "  - { name: prod-eu, ticket: { required: false } }\n", 1)
	head, err := gh.Commit("acme/team-b", "no-tickets", map[string]*string{".github/promobot.yaml": &weak}, "no tickets in prod-eu")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gh.OpenPullRequest("acme/team-b", "no-tickets", "main", "No tickets in prod-eu", "", "dave"); err != nil {
		t.Fatal(err)
	}
	r = expect(t, ctx, h, 2, worker.Refused)
	if r.Intent.Repo != "acme/team-b" || r.Intent.Source.SHA != head {
		t.Fatalf("result #2 is %s on %s@%s, want the configuration check of the pull request's head", r.Intent.Kind, r.Intent.Repo, r.Intent.Source.SHA)
	}
	var checks []string
	for _, cr := range gh.CheckRuns("acme/team-b", head) {
		if cr.Name != checkout.ConfigCheckName {
			continue
		}
		checks = append(checks, cr.Conclusion)
		if len(cr.Annotations) != 1 {
			t.Fatalf("annotations %+v, want one", cr.Annotations)
		}
		a := cr.Annotations[0]
		if a.Path != ".github/promobot.yaml" || a.StartLine != 5 || a.Level != "failure" || a.Title != "weakens the organisation policy" {
			t.Errorf("annotation %+v, want a failure on .github/promobot.yaml line 5 that weakens the organisation policy", a)
		}
	}
	if len(checks) != 1 || checks[0] != "failure" {
		t.Fatalf("%s check runs on the head: %v, want one failure", checkout.ConfigCheckName, checks)
	}

	// A push breaks team A's configuration: read, reported, indexed as invalid.
	broken := strings.Replace(teamABuilds, "  - name: prod\n", "  - name: prod\n    autoMerge: true\n", 1)
	bad, err := gh.Commit("acme/team-a", "main", map[string]*string{".github/promobot.yaml": &broken}, "let prod merge itself")
	if err != nil {
		t.Fatal(err)
	}
	if r, err = h.AwaitIndexed(ctx, "acme/team-a", func(r worker.Result) bool { return r.Outcome == worker.Refused }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Reason, "invalid repository configuration") {
		t.Errorf("configuration read %s (%s), want the invalid configuration", r.Outcome, r.Reason)
	}
	var status []string
	for _, st := range gh.Statuses("acme/team-a", bad) {
		if st.Context == checkout.ConfigStatusContext {
			status = append(status, st.State+" "+st.Description)
		}
	}
	if len(status) != 1 || !strings.HasPrefix(status[0], "failure .github/promobot.yaml:5:") {
		t.Fatalf("promobot/config statuses on the breaking commit: %q", status)
	}

	// Team A's builds produce nothing now; team B's pushes still promote.
	src2, err := gh.Commit("acme/orders", "main", map[string]*string{"CHANGELOG.md": ptr("slower checkout\n")}, "slower checkout")
	if err != nil {
		t.Fatal(err)
	}
	if got := sendDirect(t, ctx, h, "workflow_run", buildOf(t, h, "acme/orders", src2, 8)); !strings.Contains(got, `"intents":0`) {
		t.Errorf("a build for a repository with an invalid configuration was answered %s, want no intent", got)
	}
	frozen := kustomization("registry.example.com/team-b/billing", "v3.2.0")
	if _, err := gh.Commit("acme/team-b", "main", map[string]*string{"apps/billing/dev/kustomization.yaml": &frozen}, "billing v3.2.0 to dev"); err != nil {
		t.Fatal(err)
	}
	if r = expect(t, ctx, h, 3, worker.Refused); r.Intent.Repo != "acme/team-b" {
		t.Fatalf("result #3 is for %s, want acme/team-b", r.Intent.Repo)
	}
}

func ptr(s string) *string { return &s }

// TestUnconfiguredRepositoryAnsweredOnce: commands in a repository that has
// the App installed but no configuration get one answer, with how to add
// one; later commands there get none.
func TestUnconfiguredRepositoryAnsweredOnce(t *testing.T) {
	h, ctx := startWith(t, demo.Options{})
	gh := h.GitHub
	if err := gh.CreateRepo("acme/website", "main", map[string]string{"index.html": "<p>hi</p>\n"}); err != nil {
		t.Fatal(err)
	}
	issue, err := gh.CreateIssue("acme/website", "ship it", "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"/promote prod", "/promote prod web", "/promote staging"} {
		if _, err := gh.Comment("acme/website", issue, "alice", body); err != nil {
			t.Fatal(err)
		}
	}
	told, quiet := 0, 0
	for n := range 3 {
		r := expect(t, ctx, h, n, worker.Skipped)
		switch r.Reason {
		case "told how to add a configuration":
			told++
		case "already told this repository how to add a configuration":
			quiet++
		default:
			t.Errorf("result #%d: %s", n, r.Reason)
		}
	}
	var replies []string
	for _, c := range gh.Comments("acme/website", issue) {
		if strings.HasSuffix(c.User, "[bot]") {
			replies = append(replies, c.Body)
		}
	}
	if told != 1 || quiet != 2 || len(replies) != 1 || !strings.Contains(replies[0], "add `.github/promobot.yaml`") {
		t.Errorf("told %d, quiet %d, replies %q: want one answer with how to add a configuration", told, quiet, replies)
	}
}
