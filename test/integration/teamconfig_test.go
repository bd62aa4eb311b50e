package integration

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/worker"
)

// policyServerRules: the server's rules keep the sample's own GitOps
// repository and add the organisation policy every team repository is
// merged with.
const policyServerRules = `version: 1
environments:
  - { name: dev, auto: true, direct: true }
  - { name: prod }
services:
  - name: payment-service
    repo: acme/gitops
    image: registry.example.com/payment-service
    targets:
      dev:  { kustomize: apps/payment-service/overlays/dev }
      prod: { kustomize: apps/payment-service/overlays/prod }
policy:
  environments:
    'prod*':
      ticket: { required: true }
      reviewers: { teams: [acme/release-managers], minimum: 1 }
      autoMerge: false
    'frozen':
      windows: [ { deny: '* * * * *', duration: 1h, timezone: UTC } ]
  images:
    allow: ['registry.example.com/*']
  repositories:
    allow: ['acme/*']
`

// teamA configures acme/team-a: dev then prod, its own prod reviewers.
const teamA = `# yaml-language-server: $schema=https://github.com/promobot/promobot/config/repo-config.schema.json
version: 1
environments:
  - { name: dev, auto: true }
  - name: prod
    reviewers: { teams: [acme/team-a] }
services:
  - name: orders
    image: registry.example.com/team-a/orders
    targets:
      dev:  { kustomize: apps/orders/dev }
      prod: { kustomize: apps/orders/prod }
`

// teamB configures acme/team-b: dev, a frozen environment, prod-eu.
const teamB = `version: 1
environments:
  - { name: dev }
  - { name: frozen }
  - { name: prod-eu }
services:
  - name: billing
    image: registry.example.com/team-b/billing
    targets:
      dev:     { kustomize: apps/billing/dev }
      frozen:  { kustomize: apps/billing/frozen }
      prod-eu: { kustomize: apps/billing/prod-eu }
`

func kustomization(image, tag string) string {
	return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\nimages:\n  - name: " + image + "\n    newTag: " + tag + "\n"
}

var published atomic.Int64

// publish queues a promotion intent as the webhook would for a command in
// repo: the worker reads the repository's own configuration for it.
func publish(t *testing.T, ctx context.Context, h *demo.Harness, repo, svc, from, to, ticket string) {
	t.Helper()
	n := published.Add(1)
	in := intent.Intent{
		ID: fmt.Sprintf("team-%d:0", n), Kind: intent.KindPromote, DeliveryID: fmt.Sprintf("team-%d", n), Event: "push",
		InstallationID: demo.InstallationID, Repo: repo, Services: []string{svc}, From: from, To: to,
		Ticket: ticket, Requester: "alice", CreatedAt: time.Now(),
		Source: intent.SourceRef{Repo: repo, SHA: h.GitHub.Branches(repo)["main"], Ref: "main", HTMLBase: "https://github.com"},
	}
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	data, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.App.Queue().Publish(ctx, []queue.Message{{Subject: in.Subject(), ID: in.ID, Data: data}}); err != nil {
		t.Fatal(err)
	}
}

// TestTeamRepositoriesFollowTheirConfigurationAndThePolicy: two team
// repositories configure themselves; each promotion follows its own rules
// plus the server's policy. A push that breaks one repository's
// configuration stops its promotions with a failed promobot/config status,
// and the other repository's promotions still run.
func TestTeamRepositoriesFollowTheirConfigurationAndThePolicy(t *testing.T) {
	h, ctx := startWith(t, demo.Options{Rules: []byte(policyServerRules)})
	gh := h.GitHub
	for repo, files := range map[string]map[string]string{
		"acme/team-a": {
			".github/promobot.yaml":               teamA,
			"apps/orders/dev/kustomization.yaml":  kustomization("registry.example.com/team-a/orders", "v2.0.0"),
			"apps/orders/prod/kustomization.yaml": kustomization("registry.example.com/team-a/orders", "v1.0.0"),
		},
		"acme/team-b": {
			".github/promobot.yaml":                   teamB,
			"apps/billing/dev/kustomization.yaml":     kustomization("registry.example.com/team-b/billing", "v3.0.0"),
			"apps/billing/frozen/kustomization.yaml":  kustomization("registry.example.com/team-b/billing", "v2.0.0"),
			"apps/billing/prod-eu/kustomization.yaml": kustomization("registry.example.com/team-b/billing", "v1.0.0"),
		},
	} {
		if err := gh.CreateRepo(repo, "main", files); err != nil {
			t.Fatal(err)
		}
	}
	gh.AddTeamMember("acme", "release-managers", "carol")
	gh.AddTeamMember("acme", "team-a", "dave")

	// Team A: the policy's ticket is required.
	publish(t, ctx, h, "acme/team-a", "orders", "dev", "prod", "")
	r := expect(t, ctx, h, 0, worker.Refused)
	if !strings.Contains(r.Reason, "ticket") {
		t.Fatalf("refusal %q, want the policy's ticket", r.Reason)
	}

	// With a ticket: a PR that requests the policy's reviewers besides the team's own.
	publish(t, ctx, h, "acme/team-a", "orders", "dev", "prod", "OPS-1")
	r = expect(t, ctx, h, 1, worker.Opened)
	pr, err := h.PRIn("acme/team-a", r.PR)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(pr.TeamReviewers, "release-managers") || !contains(pr.TeamReviewers, "team-a") {
		t.Errorf("team reviewers %v: want the policy's release-managers and the team's own", pr.TeamReviewers)
	}
	configCommit := gh.Branches("acme/team-a")["main"]
	for _, want := range []string{
		"change ticket: ticket OPS-1 (required by organisation policy)",
		"@acme/release-managers, at least 1 review: required by organisation policy",
		"**Configuration:** `.github/promobot.yaml` of acme/team-a at " + configCommit[:7],
		`"config":{"repo":"acme/team-a","path":".github/promobot.yaml","commit":"` + configCommit + `"}`,
	} {
		if !strings.Contains(pr.Body, want) {
			t.Errorf("PR body lacks %q:\n%s", want, pr.Body)
		}
	}

	// Team B: the policy's freeze window applies to its frozen environment.
	publish(t, ctx, h, "acme/team-b", "billing", "dev", "frozen", "")
	r = expect(t, ctx, h, 2, worker.Refused)
	if !strings.Contains(r.Reason, `inside the deny window "* * * * *"`) {
		t.Fatalf("refusal %q, want the policy's window", r.Reason)
	}

	// A push breaks team A's configuration: its promotions stop.
	broken := strings.Replace(teamA, "  - name: prod\n", "  - name: prod\n    autoMerge: true\n", 1)
	bad, err := gh.Commit("acme/team-a", "main", map[string]*string{".github/promobot.yaml": &broken}, "let prod merge itself")
	if err != nil {
		t.Fatal(err)
	}
	publish(t, ctx, h, "acme/team-a", "orders", "dev", "prod", "OPS-2")
	r = expect(t, ctx, h, 3, worker.Failed)
	if !strings.Contains(r.Reason, "invalid repository configuration") {
		t.Errorf("failure %q, want the invalid configuration", r.Reason)
	}
	var status []string
	for _, st := range gh.Statuses("acme/team-a", bad) {
		if st.Context == checkout.ConfigStatusContext {
			status = append(status, st.State+" "+st.Description+" "+st.TargetURL)
		}
	}
	if len(status) != 1 || !strings.HasPrefix(status[0], "failure .github/promobot.yaml:6:") ||
		!strings.Contains(status[0], "environments[1].autoMerge") || !strings.HasSuffix(status[0], "/acme/team-a/blob/"+bad+"/.github/promobot.yaml#L6") {
		t.Fatalf("promobot/config statuses on the breaking commit: %q", status)
	}

	// Team B still promotes, with the policy's reviewers.
	publish(t, ctx, h, "acme/team-b", "billing", "frozen", "prod-eu", "OPS-3")
	r = expect(t, ctx, h, 4, worker.Opened)
	pr, err = h.PRIn("acme/team-b", r.PR)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(pr.TeamReviewers, "release-managers") {
		t.Errorf("team reviewers %v: want the policy's", pr.TeamReviewers)
	}
}
