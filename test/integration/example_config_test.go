package integration

import (
	"os"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/worker"
)

// TestExampleConfigExplicitBesideGenerator runs promobot on the shipped
// example rules, where a generator (apps/*) stands beside explicitly listed
// services. A command naming an explicit service must reach the worker and
// promote it: a guess at generated service names never drops a delivery.
func TestExampleConfigExplicitBesideGenerator(t *testing.T) {
	example, err := os.ReadFile("../../config/promotion-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	values := func(tag string) string {
		return "image:\n  repository: registry.example.com/web\n  tag: " + tag + "\n"
	}
	h, ctx := startWith(t, demo.Options{
		Rules: example,
		GitOpsFiles: map[string]string{
			"charts/web/values-dev.yaml":     values("v1.4.0"),
			"charts/web/values-staging.yaml": values("v1.3.0"),
			// A generated service beside the explicit ones.
			"apps/cart/overlays/dev/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
				"images:\n  - name: registry.example.com/cart\n    newTag: v2.0.0\n",
			"apps/cart/overlays/staging/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
				"images:\n  - name: registry.example.com/cart\n    newTag: v1.9.0\n",
		},
	})
	issue, err := h.GitHub.CreateIssue(demo.GitOpsRepo, "Release web", "bob")
	if err != nil {
		t.Fatal(err)
	}
	comment(t, ctx, h, issue, "bob", "/promote staging web cart")
	r := expect(t, ctx, h, 0, worker.Opened)
	rs := replies(h, issue)
	if len(rs) != 1 || !strings.Contains(rs[0].Body, "**web**: opened PR") || !strings.Contains(rs[0].Body, "**cart**: opened PR") {
		t.Fatalf("reply %+v (result %s)", rs, r.Reason)
	}
	for _, head := range []string{"promobot/staging/web", "promobot/staging/cart"} {
		if n := countOpenHead(h, head); n != 1 {
			t.Errorf("%d open PRs on %s, want 1", n, head)
		}
	}
}
