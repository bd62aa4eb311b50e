package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/status"
)

// statusRules adds a service with a broken staging file and no prod.
const statusRules = fixtureRules + `  - name: worker
    repo: acme/gitops
    image: registry.example.com/worker
    targets:
      dev:     { kustomize: apps/worker/overlays/dev }
      staging: { kustomize: apps/worker/overlays/staging }
`

func TestStatus(t *testing.T) {
	rulesPath, repo := fixture(t)
	writeTree(t, filepath.Dir(rulesPath), map[string]string{"promotion-rules.yaml": statusRules})
	writeTree(t, repo, map[string]string{
		"apps/worker/overlays/dev/kustomization.yaml": strings.ReplaceAll(overlay("dev", "sha-0a1b2c3"), "payment-service", "worker"),
	})
	for _, output := range []string{"table", "json"} {
		t.Run(output, func(t *testing.T) {
			code, out, errOut := run(t, "status", "--rules", rulesPath, "--repo", repo, "--output", output)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, errOut)
			}
			out = scrub(out, repo, filepath.Dir(rulesPath))
			golden(t, "status-"+output, out)
			if output == "json" {
				var rep status.Report
				if err := json.Unmarshal([]byte(out), &rep); err != nil {
					t.Fatalf("json output does not parse: %v", err)
				}
			}
		})
	}
	if code, _, errOut := run(t, "status", "--rules", rulesPath, "--repo", repo, "--output", "yaml"); code != 1 || !strings.Contains(errOut, "table or json") {
		t.Fatalf("--output yaml: exit %d, %s", code, errOut)
	}
}
