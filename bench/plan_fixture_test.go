package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/webhook"
)

// The monorepo of the planning benchmark: nServices services, each with a
// base and four overlays; dev already runs newTag (the push just landed),
// every other environment runs oldTag.
const (
	nServices = 200
	oldTag    = "sha-4f1c2d9"
	newTag    = "sha-9e8d7c6"
	gitopsSHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
)

var overlayEnvs = []string{"dev", "staging", "prod-eu", "prod-us"}

func svcName(i int) string { return fmt.Sprintf("svc-%03d", i) }

func devPath(i int) string {
	return "apps/" + svcName(i) + "/overlays/dev/kustomization.yaml"
}

// overlayFile is a realistic overlay: comments, labels, a patch, a
// generator and a second image that must stay untouched.
func overlayFile(svc, env, tag string) string {
	return `# ` + svc + ` — ` + env + ` overlay.
# Owned by the shop platform team. The image tag below is managed by promobot:
# do not edit newTag by hand, open a promotion instead.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ` + svc + `-` + env + `
resources:
  - ../../base
labels:
  - pairs:
      app.kubernetes.io/part-of: shop
      environment: ` + env + `
patches:
  - path: replicas.yaml
    target:
      kind: Deployment
      name: ` + svc + `
configMapGenerator:
  - name: ` + svc + `-env
    literals:
      - LOG_LEVEL=info
images:
  # the service itself
  - name: registry.example.com/` + svc + `
    newTag: ` + tag + ` # promoted by promobot
  - name: docker.io/library/busybox # init container, pinned by hand
    newTag: "1.36"
`
}

// genMonorepo writes the monorepo under dir.
func genMonorepo(tb testing.TB, dir string) {
	tb.Helper()
	write := func(p, content string) {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	for i := range nServices {
		svc := svcName(i)
		write("apps/"+svc+"/base/kustomization.yaml", "resources:\n  - deployment.yaml\n")
		write("apps/"+svc+"/base/deployment.yaml", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: `+svc+`
spec:
  selector: { matchLabels: { app: `+svc+` } }
  template:
    metadata: { labels: { app: `+svc+` } }
    spec:
      containers:
        - name: `+svc+`
          image: registry.example.com/`+svc+`
`)
		for _, env := range overlayEnvs {
			tag := oldTag
			if env == "dev" {
				tag = newTag
			}
			write("apps/"+svc+"/overlays/"+env+"/kustomization.yaml", overlayFile(svc, env, tag))
			write("apps/"+svc+"/overlays/"+env+"/replicas.yaml", "- op: replace\n  path: /spec/replicas\n  value: 2\n")
		}
	}
}

// planRules has one generator for all services.
const planRules = `version: 1
defaults:
  baseBranch: main
  labels: [promotion]
environments:
  - { name: dev, auto: true, direct: true }
  - { name: staging, auto: true }
  - name: prod
    reviewers: { teams: [acme/shop-leads] }
    ticket: { required: true, pattern: 'SHOP-\d+', url: 'https://jira.example.com/browse/{{.Ticket}}' }
generators:
  - repo: acme/gitops
    directories: 'apps/*'
    service:
      name: '{{.Dir}}'
      image: 'registry.example.com/{{.Dir}}'
      targets:
        dev:     { kustomize: '{{.Path}}/overlays/dev' }
        staging: { kustomize: '{{.Path}}/overlays/staging' }
        prod:
          - { kustomize: '{{.Path}}/overlays/prod-eu' }
          - { kustomize: '{{.Path}}/overlays/prod-us' }
`

// loadPlanRules parses the rules and expands the generator over the checkout.
func loadPlanRules(tb testing.TB, repo string) *rules.Rules {
	tb.Helper()
	rs, err := rules.Parse("promotion-rules.yaml", []byte(planRules))
	if err != nil {
		tb.Fatal(err)
	}
	rs, err = rs.Expand(context.Background(), func(string) (fs.FS, error) { return os.DirFS(repo), nil })
	if err != nil {
		tb.Fatal(err)
	}
	if len(rs.Services) != nServices {
		tb.Fatalf("generator made %d services, want %d", len(rs.Services), nServices)
	}
	return rs
}

// pushPayload is the push GitHub sends when one commit on main bumps every
// dev overlay (e.g. a platform-wide rebuild), in the shape of a real delivery.
func pushPayload(tb testing.TB) []byte {
	tb.Helper()
	modified := make([]string, nServices)
	for i := range modified {
		modified[i] = devPath(i)
	}
	user := map[string]any{"name": "promobot[bot]", "email": "promobot[bot]@users.noreply.github.com", "username": "promobot[bot]"}
	commit := map[string]any{
		"id":        gitopsSHA,
		"tree_id":   "f9d2a07e9488b91af2641b26b9407fe22a451433",
		"distinct":  true,
		"message":   "Set dev of 200 services to " + newTag + "\n\nRebuild after base image update SHOP-1234.",
		"timestamp": "2024-05-14T09:12:44+02:00",
		"url":       "https://github.com/acme/gitops/commit/" + gitopsSHA,
		"author":    user,
		"committer": user,
		"added":     []string{},
		"removed":   []string{},
		"modified":  modified,
	}
	owner := map[string]any{"login": "acme", "id": 9919, "type": "Organization", "html_url": "https://github.com/acme"}
	p := map[string]any{
		"ref":         "refs/heads/main",
		"before":      "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
		"after":       gitopsSHA,
		"created":     false,
		"deleted":     false,
		"forced":      false,
		"base_ref":    nil,
		"compare":     "https://github.com/acme/gitops/compare/0d1a26e67d8f...6dcb09b5b578",
		"commits":     []any{commit},
		"head_commit": commit,
		"repository": map[string]any{
			"id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": "gitops", "full_name": "acme/gitops",
			"private": true, "owner": owner, "html_url": "https://github.com/acme/gitops",
			"clone_url": "https://github.com/acme/gitops.git", "default_branch": "main", "master_branch": "main",
		},
		"pusher":       map[string]any{"name": "promobot[bot]", "email": "promobot[bot]@users.noreply.github.com"},
		"organization": map[string]any{"login": "acme", "id": 9919},
		"sender":       map[string]any{"login": "promobot[bot]", "id": 41898282, "type": "Bot"},
		"installation": map[string]any{"id": 4242, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI0Mg=="},
	}
	b, err := json.Marshal(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func pushDelivery(payload []byte, n int) webhook.Delivery {
	return webhook.Delivery{
		Event:    "push",
		ID:       fmt.Sprintf("72d3162e-cc78-11e3-81ab-%012d", n),
		Payload:  payload,
		Received: time.Date(2024, 5, 14, 7, 12, 45, 0, time.UTC),
	}
}

// memView is the checkout read into memory: the planner's RepoView without
// disk I/O, to separate planning from reading.
type memView map[string][]byte

func (m memView) Commit() string { return gitopsSHA }

func (m memView) ReadFile(_ context.Context, p string) ([]byte, error) {
	b, ok := m[p]
	if !ok {
		return nil, fmt.Errorf("read %s: %w", p, fs.ErrNotExist)
	}
	return b, nil
}

func (m memView) Exists(p string) bool { _, ok := m[p]; return ok }

func readTree(tb testing.TB, dir string) memView {
	tb.Helper()
	m := memView{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		m[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// planMedian is the median of a non-empty list of durations.
func planMedian(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

func planMillis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
