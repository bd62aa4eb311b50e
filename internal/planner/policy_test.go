package planner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

const serverPolicy = `version: 1
environments: [ { name: dev } ]
services: []
policy:
  environments:
    'prod*':
      ticket: { required: true }
      reviewers: { teams: [acme/release-managers], minimum: 1 }
      windows: [ { deny: '0 0 24 12 *', duration: 72h, timezone: UTC } ]
      soak: 0s
      autoMerge: false
`

// teamConfig is acme/gitops's own configuration: prod without a ticket,
// reviewers of its own, auto-merge left to the policy.
const teamConfig = `version: 1
environments:
  - { name: dev, auto: true, direct: true }
  - { name: staging, auto: true }
  - name: prod
    reviewers: { users: [alice] }
services:
  - name: payment-service
    image: registry.example.com/payment-service
    targets:
      dev:     { kustomize: apps/payment-service/overlays/dev }
      staging: { kustomize: apps/payment-service/overlays/staging }
      prod:
        - { kustomize: apps/payment-service/overlays/prod-eu }
        - { kustomize: apps/payment-service/overlays/prod-us }
`

func policyRules(t *testing.T) *rules.Rules {
	t.Helper()
	server, err := rules.Parse("rules.yaml", []byte(serverPolicy))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.ParseRepoConfig(rules.ConfigSource{Repo: "acme/gitops", Path: ".github/promobot.yaml", Commit: "c0ffee0123456789c0ffee0123456789c0ffee01"}, []byte(teamConfig), server.Policy)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestPolicyMarkedInBody pins the PR body of a promotion decided with a
// repository configuration: the policy's reviewers and gates are marked,
// the configuration commit is named and recorded in the metadata block.
func TestPolicyMarkedInBody(t *testing.T) {
	rs := policyRules(t)
	in := intent.Intent{
		ID: "9a1b:0", Kind: intent.KindPromote, DeliveryID: "9a1b", Repo: "acme/gitops",
		Services: []string{"payment-service"}, From: "staging", To: "prod", Tag: "v1.3.0", Ticket: "PAY-123", Requester: "alice",
	}
	dec, err := Decide(context.Background(), rs, in, Views{Base: repo("sha-2222222", "v1.3.0", "v1.2.0", "v1.2.0")}, now)
	if err != nil || dec.Plan == nil {
		t.Fatalf("Decide: %v %+v", err, dec)
	}
	if strings.Join(dec.Plan.Reviewers.Teams, ",") != "acme/release-managers" || strings.Join(dec.Plan.Reviewers.Users, ",") != "alice" {
		t.Errorf("reviewers %+v: the policy's are requested besides the repository's", dec.Plan.Reviewers)
	}
	got := dec.Plan.Body
	golden := filepath.Join("testdata", "policy-promotion.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if got != string(want) {
		t.Errorf("body differs from %s (run with -update after checking):\n%s", golden, got)
	}
	md, ok := ParseMetadata(got)
	if !ok || md.Config == nil || md.Config.Commit != "c0ffee0123456789c0ffee0123456789c0ffee01" || md.Config.Path != ".github/promobot.yaml" {
		t.Errorf("metadata lacks the configuration commit: %+v", md.Config)
	}
}

func TestPolicyGatesRefuse(t *testing.T) {
	rs := policyRules(t)
	base := intent.Intent{ID: "x:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"payment-service"}, From: "staging", To: "prod", Tag: "v1.3.0"}
	for _, tc := range []struct {
		name   string
		ticket string
		at     time.Time
		gate   string
	}{
		{"policy ticket required", "", now, GateTicket},
		{"policy window enforced", "PAY-1", time.Date(2026, 12, 25, 12, 0, 0, 0, time.UTC), GateWindow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			in.Ticket = tc.ticket
			dec, err := Decide(context.Background(), rs, in, Views{Base: repo("sha-2222222", "v1.3.0", "v1.2.0", "v1.2.0")}, tc.at)
			if err != nil || dec.Refusal == nil {
				t.Fatalf("Decide: %v %+v, want a refusal", err, dec)
			}
			for _, g := range dec.Refusal.Gates {
				if g.Gate == tc.gate {
					if g.Open || !g.Policy {
						t.Fatalf("gate %+v: want closed and marked as the policy's", g)
					}
					if !strings.Contains(GateSummary([]GateResult{g}), "(required by organisation policy)") {
						t.Fatalf("summary %q unmarked", GateSummary([]GateResult{g}))
					}
					return
				}
			}
			t.Fatalf("no %s gate in %+v", tc.gate, dec.Refusal.Gates)
		})
	}
}
