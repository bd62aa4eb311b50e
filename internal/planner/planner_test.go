package planner

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
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

var update = flag.Bool("update", false, "rewrite golden files")

const testRules = `version: 1
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
    reviewers: { users: [alice], teams: [acme/payments-leads] }
    ticket:
      required: true
      pattern: '[A-Z][A-Z0-9]+-\d+'
      url: 'https://jira.example.com/browse/{{.Ticket}}'
services:
  - name: payment-service
    repo: acme/gitops
    image: registry.example.com/payment-service
    targets:
      dev:     { kustomize: apps/payment-service/overlays/dev }
      staging: { kustomize: apps/payment-service/overlays/staging }
      prod:
        - { kustomize: apps/payment-service/overlays/prod-eu }
        - { kustomize: apps/payment-service/overlays/prod-us }
  - name: web
    repo: acme/gitops
    image: registry.example.com/web
    targets:
      dev:     { helm: charts/web/values-dev.yaml, field: image.tag }
      staging: { helm: charts/web/values-staging.yaml, field: image.tag }
      prod:    { manifest: clusters/prod/web/deployment.yaml, container: web }
`

func overlay(tag string) string {
	return fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
images:
  - name: registry.example.com/payment-service
    newTag: %s # set by promobot
`, tag)
}

// mapView is a repository fixture: path → content.
type mapView struct {
	sha   string
	files map[string]string
}

func (m mapView) Commit() string { return m.sha }
func (m mapView) ReadFile(_ context.Context, p string) ([]byte, error) {
	s, ok := m.files[p]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", p, fs.ErrNotExist)
	}
	return []byte(s), nil
}
func (m mapView) Exists(p string) bool { _, ok := m.files[p]; return ok }

func repo(dev, staging, prodEU, prodUS string) mapView {
	return mapView{sha: "0123456789abcdef0123456789abcdef01234567", files: map[string]string{
		"apps/payment-service/overlays/dev/kustomization.yaml":     overlay(dev),
		"apps/payment-service/overlays/staging/kustomization.yaml": overlay(staging),
		"apps/payment-service/overlays/prod-eu/kustomization.yaml": overlay(prodEU),
		"apps/payment-service/overlays/prod-us/kustomization.yaml": overlay(prodUS),
		"charts/web/values-dev.yaml":                               "image:\n  repository: registry.example.com/web\n  tag: v1.0.0\n",
		"charts/web/values-staging.yaml":                           "image:\n  repository: registry.example.com/web\n  tag: v0.9.0\n",
		"clusters/prod/web/deployment.yaml":                        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: registry.example.com/web:v0.8.0\n",
	}}
}

func mustRules(t *testing.T) *rules.Rules {
	t.Helper()
	rs, err := rules.Parse("rules.yaml", []byte(testRules))
	if err != nil {
		t.Fatalf("parse rules: %v", err)
	}
	return rs
}

var now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestDecide(t *testing.T) {
	rs := mustRules(t)
	base := repo("sha-2222222", "sha-1111111", "v1.2.0", "v1.2.0")
	for _, tc := range []struct {
		name      string
		in        intent.Intent
		view      mapView
		wantSkip  string // substring
		wantRefus string // substring
		wantPaths []string
		wantTags  []string
		direct    bool
	}{
		{
			name:      "build updates dev directly",
			in:        intent.Intent{ID: "d:0", Kind: intent.KindUpdate, Repo: "acme/gitops", Services: []string{"payment-service"}, To: "dev", Tag: "sha-3333333"},
			view:      base,
			wantPaths: []string{"apps/payment-service/overlays/dev/kustomization.yaml"},
			wantTags:  []string{"sha-3333333"},
			direct:    true,
		},
		{
			name:      "promote dev to staging takes dev's tag",
			in:        intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"payment-service"}, From: "dev", To: "staging"},
			view:      base,
			wantPaths: []string{"apps/payment-service/overlays/staging/kustomization.yaml"},
			wantTags:  []string{"sha-2222222"},
		},
		{
			name:     "promote when staging already runs dev's tag is a skip",
			in:       intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"payment-service"}, From: "dev", To: "staging"},
			view:     repo("sha-2222222", "sha-2222222", "v1", "v1"),
			wantSkip: "already runs sha-2222222",
		},
		{
			name:      "prod has two regional targets, changed together",
			in:        intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"payment-service"}, To: "prod", Tag: "v1.3.0", Ticket: "PAY-7"},
			view:      base,
			wantPaths: []string{"apps/payment-service/overlays/prod-eu/kustomization.yaml", "apps/payment-service/overlays/prod-us/kustomization.yaml"},
			wantTags:  []string{"v1.3.0", "v1.3.0"},
		},
		{
			name:      "prod without a ticket is refused",
			in:        intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"payment-service"}, To: "prod", Tag: "v1.3.0"},
			view:      base,
			wantRefus: "requires a change ticket",
		},
		{
			name:      "ticket found in the source commit message",
			in:        intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"payment-service"}, To: "prod", Tag: "v1.3.0", Source: intent.SourceRef{Message: "PAY-12: faster refunds"}},
			view:      base,
			wantPaths: []string{"apps/payment-service/overlays/prod-eu/kustomization.yaml", "apps/payment-service/overlays/prod-us/kustomization.yaml"},
			wantTags:  []string{"v1.3.0", "v1.3.0"},
		},
		{
			name:      "semver downgrade refused on promote",
			in:        intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"payment-service"}, To: "prod", Tag: "v1.1.0", Ticket: "PAY-7"},
			view:      base,
			wantRefus: "older than v1.2.0",
		},
		{
			name:      "rollback may downgrade",
			in:        intent.Intent{ID: "d:0", Kind: intent.KindRollback, Repo: "acme/gitops", Services: []string{"payment-service"}, To: "prod", Tag: "v1.1.0", Ticket: "PAY-7"},
			view:      base,
			wantPaths: []string{"apps/payment-service/overlays/prod-eu/kustomization.yaml", "apps/payment-service/overlays/prod-us/kustomization.yaml"},
			wantTags:  []string{"v1.1.0", "v1.1.0"},
		},
		{
			name:      "tag outside the pattern refused",
			in:        intent.Intent{ID: "d:0", Kind: intent.KindUpdate, Repo: "acme/gitops", Services: []string{"payment-service"}, To: "dev", Tag: "latest"},
			view:      base,
			wantRefus: "does not match the tag pattern",
		},
		{
			name:      "helm values promotion",
			in:        intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"web"}, From: "dev", To: "staging"},
			view:      base,
			wantPaths: []string{"charts/web/values-staging.yaml"},
			wantTags:  []string{"v1.0.0"},
		},
		{
			name:      "manifest promotion",
			in:        intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"web"}, To: "prod", Tag: "v1.0.0", Ticket: "WEB-1"},
			view:      base,
			wantPaths: []string{"clusters/prod/web/deployment.yaml"},
			wantTags:  []string{"v1.0.0"},
		},
		{
			name:      "unknown service refused",
			in:        intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"nope"}, To: "prod"},
			view:      base,
			wantRefus: `unknown service "nope"`,
		},
		{
			name:      "service of another repository refused",
			in:        intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "evil/gitops", Services: []string{"payment-service"}, To: "staging"},
			view:      base,
			wantRefus: "lives in acme/gitops",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec, err := Decide(context.Background(), rs, tc.in, Views{Base: tc.view}, now)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			switch {
			case tc.wantSkip != "":
				if !strings.Contains(dec.Skip, tc.wantSkip) {
					t.Fatalf("want skip %q, got %+v", tc.wantSkip, dec)
				}
				return
			case tc.wantRefus != "":
				if dec.Refusal == nil || !strings.Contains(dec.Refusal.Reason, tc.wantRefus) {
					t.Fatalf("want refusal %q, got skip=%q refusal=%+v plan=%v", tc.wantRefus, dec.Skip, dec.Refusal, dec.Plan != nil)
				}
				return
			}
			p := dec.Plan
			if p == nil {
				t.Fatalf("want a plan, got skip=%q refusal=%+v", dec.Skip, dec.Refusal)
			}
			if p.Direct != tc.direct {
				t.Errorf("Direct = %v, want %v", p.Direct, tc.direct)
			}
			if len(p.Edits) != len(tc.wantPaths) {
				t.Fatalf("edits = %d, want %d", len(p.Edits), len(tc.wantPaths))
			}
			for i, e := range p.Edits {
				if e.Path != tc.wantPaths[i] {
					t.Errorf("edit %d path = %s, want %s", i, e.Path, tc.wantPaths[i])
				}
				if p.Changes[i].New.Tag != tc.wantTags[i] {
					t.Errorf("edit %d tag = %s, want %s", i, p.Changes[i].New.Tag, tc.wantTags[i])
				}
				if got := changedLines(string(e.Old), string(e.New)); got != 1 {
					t.Errorf("edit %d changes %d lines, want exactly the tag line:\n%s", i, got, e.New)
				}
			}
		})
	}
}

func changedLines(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(al) != len(bl) {
		return -1
	}
	n := 0
	for i := range al {
		if al[i] != bl[i] {
			n++
		}
	}
	return n
}

func TestDecideBranchStates(t *testing.T) {
	rs := mustRules(t)
	base := repo("sha-2222222", "sha-1111111", "v1.2.0", "v1.2.0")
	in := intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"payment-service"}, From: "dev", To: "staging"}
	for _, tc := range []struct {
		name                   string
		branchTag              string
		current, stale, supers bool
	}{
		{"branch proposes an older build", "sha-0000001", false, false, true},
		{"branch already holds this plan", "sha-2222222", true, false, false},
		{"branch was merged", "sha-1111111", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			branch := repo("sha-2222222", tc.branchTag, "v1.2.0", "v1.2.0")
			dec, err := Decide(context.Background(), rs, in, Views{Base: base, Branches: anyBranch(branch)}, now)
			if err != nil || dec.Plan == nil {
				t.Fatalf("Decide: %v %+v", err, dec)
			}
			p := dec.Plan
			if p.BranchCurrent != tc.current || p.BranchStale != tc.stale || (len(p.Supersedes) > 0) != tc.supers {
				t.Errorf("current=%v stale=%v supersedes=%v, want %v %v %v", p.BranchCurrent, p.BranchStale, p.Supersedes, tc.current, tc.stale, tc.supers)
			}
			if tc.supers && !strings.Contains(p.Body, tc.branchTag) {
				t.Errorf("body does not say which proposal is replaced:\n%s", p.Body)
			}
		})
	}
}

func TestMissingTargetFileIsTerminal(t *testing.T) {
	rs := mustRules(t)
	view := repo("sha-2222222", "sha-1111111", "v1", "v1")
	delete(view.files, "apps/payment-service/overlays/staging/kustomization.yaml")
	in := intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"payment-service"}, From: "dev", To: "staging"}
	_, err := Decide(context.Background(), rs, in, Views{Base: view}, now)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("want terminal missing-file error, got %v", err)
	}
}

// TestBodyGolden pins the rendered PR body and title of a prod promotion.
func TestBodyGolden(t *testing.T) {
	rs := mustRules(t)
	in := intent.Intent{
		ID: "7f3c:0", Kind: intent.KindPromote, DeliveryID: "7f3c", Repo: "acme/gitops",
		Services: []string{"payment-service"}, From: "staging", To: "prod", Tag: "v1.3.0", Requester: "alice",
		Source: intent.SourceRef{
			Repo: "acme/payment-service", SHA: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", Message: "PAY-123: faster refunds",
			CommitURL: "https://github.com/acme/payment-service/commit/a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
			RunURL:    "https://github.com/acme/payment-service/actions/runs/42", RunNumber: 42,
			CommentURL: "https://github.com/acme/gitops/pull/7#issuecomment-1",
		},
	}
	dec, err := Decide(context.Background(), rs, in, Views{Base: repo("sha-2222222", "v1.3.0", "v1.2.0", "v1.2.0")}, now)
	if err != nil || dec.Plan == nil {
		t.Fatalf("Decide: %v %+v", err, dec)
	}
	got := "title: " + dec.Plan.Title + "\nbranch: " + dec.Plan.Branch + "\nlabels: " + strings.Join(dec.Plan.Labels, ",") +
		"\n\n" + dec.Plan.Body + "\n---- commit message ----\n" + dec.Plan.CommitMessage
	golden := filepath.Join("testdata", "prod-promotion.golden")
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
	md, ok := ParseMetadata(dec.Plan.Body)
	if !ok || md.Intent != in.ID || len(md.Services) != 2 || md.Services[0].To != "v1.3.0" || md.Services[0].From != "v1.2.0" {
		t.Errorf("metadata block does not read back: %+v %v", md, ok)
	}
}

func TestMetadataCannotBeBrokenByInput(t *testing.T) {
	p := &Plan{Target: intent.Target{Repo: "acme/gitops", Service: "x", Env: "prod"}, Changes: []Change{{Service: "x", Path: "a --> <b>", Old: refOf("v1"), New: refOf("v2")}}}
	body, err := RenderBody(p, intent.Intent{ID: "--> <!--", Kind: intent.KindPromote}, "")
	if err != nil {
		t.Fatal(err)
	}
	md, ok := ParseMetadata(body)
	if !ok || md.Intent != "--> <!--" || md.Services[0].Path != "a --> <b>" {
		t.Errorf("metadata did not survive hostile values: %+v %v\n%s", md, ok, body)
	}
	start, end := strings.LastIndex(body, metaOpen)+len(metaOpen), strings.LastIndex(body, metaClose)
	if end < start || strings.Contains(body[start:end], "-->") || strings.Contains(body[start:end], "<") {
		t.Errorf("hostile input could close the metadata comment early:\n%s", body)
	}
}

func refOf(tag string) edit.Ref { return edit.Ref{Tag: tag} }

func TestGroupedPromotion(t *testing.T) {
	rs := mustRules(t)
	in := intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"payment-service", "web"}, From: "dev", To: "staging"}
	dec, err := Decide(context.Background(), rs, in, Views{Base: repo("sha-2222222", "sha-1111111", "v1", "v1")}, now)
	if err != nil || dec.Plan == nil {
		t.Fatalf("Decide: %v %+v", err, dec)
	}
	if len(dec.Plan.Edits) != 2 || dec.Plan.Branch != "promobot/staging/_group" {
		t.Errorf("grouped plan: %d edits on %s", len(dec.Plan.Edits), dec.Plan.Branch)
	}
	if !strings.Contains(dec.Plan.Title, "payment-service") || !strings.Contains(dec.Plan.Title, "web") {
		t.Errorf("grouped title %q does not name both services", dec.Plan.Title)
	}
	// One service already there: the group goes ahead with the other.
	dec, err = Decide(context.Background(), rs, in, Views{Base: repo("sha-2222222", "sha-2222222", "v1", "v1")}, now)
	if err != nil || dec.Plan == nil {
		t.Fatalf("Decide: %v %+v", err, dec)
	}
	if len(dec.Plan.Changes) != 1 || dec.Plan.Changes[0].Service != "web" {
		t.Errorf("changes = %+v, want only web", dec.Plan.Changes)
	}
}

// TestGroupBranchKeepsPendingServices: push 1 put web on the group branch;
// push 2 changes only payment-service. The rebuilt branch must still carry web.
func TestGroupBranchKeepsPendingServices(t *testing.T) {
	rs := mustRules(t)
	base := repo("sha-2222222", "sha-1111111", "v1", "v1")
	branch := repo("sha-2222222", "sha-1111111", "v1", "v1")
	branch.files = map[string]string{}
	for k, v := range base.files {
		branch.files[k] = v
	}
	branch.files["charts/web/values-staging.yaml"] = "image:\n  repository: registry.example.com/web\n  tag: v1.0.0\n"
	in := intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"payment-service"}, From: "dev", To: "staging", Group: true}
	dec, err := Decide(context.Background(), rs, in, Views{Base: base, Branches: anyBranch(branch)}, now)
	if err != nil || dec.Plan == nil {
		t.Fatalf("Decide: %v %+v", err, dec)
	}
	if got := changedServices(dec.Plan.Changes); len(got) != 2 || got[0] != "payment-service" || got[1] != "web" {
		t.Errorf("grouped plan services = %v, want payment-service and the pending web", got)
	}
	if dec.Plan.Branch != "promobot/staging/_group" {
		t.Errorf("branch = %s", dec.Plan.Branch)
	}
}

// anyBranch answers every branch name with v.
func anyBranch(v RepoView) Branches {
	return BranchFunc(func(context.Context, string) (RepoView, error) { return v, nil })
}
