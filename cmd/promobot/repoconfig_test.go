package main

import (
	"path/filepath"
	"strings"
	"testing"
)

const policyRulesFile = `version: 1
environments: [ { name: dev } ]
services: []
policy:
  environments:
    'prod*':
      ticket: { required: true }
      reviewers: { teams: [acme/release-managers], minimum: 1 }
      autoMerge: false
  images:
    allow: ['registry.example.com/*']
`

// teamRepoConfig configures the fixture's checkout itself: no ticket in
// prod of its own (the policy requires one).
const teamRepoConfig = `# yaml-language-server: $schema=https://github.com/promobot/promobot/config/repo-config.schema.json
version: 1
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

func repoConfigFixture(t *testing.T, config string) (policyPath, repo string) {
	t.Helper()
	_, repo = fixture(t)
	dir := filepath.Dir(repo)
	writeTree(t, dir, map[string]string{"server-rules.yaml": policyRulesFile})
	writeTree(t, repo, map[string]string{".github/promobot.yaml": config})
	return filepath.Join(dir, "server-rules.yaml"), repo
}

func TestValidateRepoConfig(t *testing.T) {
	policy, repo := repoConfigFixture(t, teamRepoConfig)
	file := filepath.Join(repo, ".github", "promobot.yaml")

	code, out, errOut := run(t, "validate", file, "--policy", policy, "--repo", repo)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	for _, want := range []string{
		": ok (3 environments, 1 services)",
		"  prod: change ticket required (required by organisation policy)",
		"  prod: reviewers @acme/release-managers (at least 1 review) (required by organisation policy)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// Without --policy a file named like the configuration is still one.
	if code, out, errOut := run(t, "validate", file); code != 0 || strings.Contains(out, "organisation policy") {
		t.Fatalf("without policy: exit %d\n%s%s", code, out, errOut)
	}

	weak := strings.Replace(teamRepoConfig, "    reviewers: { users: [alice] }\n", "    reviewers: { users: [alice] }\n    autoMerge: true\n    ticket: { required: false }\n", 1)
	weak = strings.Replace(weak, "image: registry.example.com/payment-service", "image: docker.io/payment-service", 1)
	policy, repo = repoConfigFixture(t, weak)
	file = filepath.Join(repo, ".github", "promobot.yaml")
	code, out, errOut = run(t, "validate", file, "--policy", policy)
	if code != 1 || out != "" {
		t.Fatalf("weakening config: exit %d, stdout %q", code, out)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	want := []string{
		":8:", "environments[2].autoMerge", "does not allow auto-merge in prod",
		":9:", "environments[2].ticket.required", "requires a change ticket in prod",
		":12:", "services[0].image", "service payment-service: image \"docker.io/payment-service\" is not allowed",
	}
	if len(lines) != 3 {
		t.Fatalf("want 3 errors, got:\n%s", errOut)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, file+want[3*i]) || !strings.Contains(l, want[3*i+1]) || !strings.Contains(l, want[3*i+2]) {
			t.Errorf("error %d = %q, want %q %q %q", i+1, l, want[3*i], want[3*i+1], want[3*i+2])
		}
	}

	if code, _, errOut := run(t, "validate", file, "--policy", filepath.Join(repo, "missing.yaml")); code != 1 || !strings.Contains(errOut, "missing.yaml") {
		t.Fatalf("missing policy: exit %d %s", code, errOut)
	}
}

func TestPlanAndStatusReadTheCheckoutsConfiguration(t *testing.T) {
	policy, repo := repoConfigFixture(t, teamRepoConfig)
	// The policy requires a ticket in prod: refused without one, marked.
	code, out, errOut := run(t, "plan", "--rules", policy, "--repo", repo, "--service", "payment-service", "--to", "prod")
	if code != 2 || !strings.Contains(out, "FAIL change ticket: ") || !strings.Contains(out, "(required by organisation policy)") {
		t.Fatalf("plan without ticket: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, "plan", "--rules", policy, "--repo", repo, "--service", "payment-service", "--to", "prod", "--ticket", "OPS-1")
	if code != 0 || !strings.Contains(out, "# reviewers: alice, acme/release-managers") || !strings.Contains(out, "# configuration: .github/promobot.yaml") {
		t.Fatalf("plan: exit %d\n%s%s", code, out, errOut)
	}
	// A rules file that is not there: the configuration alone decides.
	code, out, errOut = run(t, "plan", "--rules", filepath.Join(repo, "none.yaml"), "--repo", repo, "--service", "payment-service", "--to", "prod")
	if code != 0 || strings.Contains(out, "organisation policy") {
		t.Fatalf("plan without policy: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, "status", "--rules", policy, "--repo", repo)
	if code != 0 || !strings.Contains(out, "payment-service") || strings.Contains(out, "web") {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
}

func TestRepoConfigPathFlag(t *testing.T) {
	for p, ok := range map[string]bool{
		".github/promobot.yaml": true, "promobot.yaml": true, "ops/promobot.yml": true,
		"": false, "/etc/passwd": false, "../x": false, "a/../../x": false, "a//b": false, `a\b`: false, "a\x00b": false, ".": false,
	} {
		if err := checkRepoConfigPath(p); (err == nil) != ok {
			t.Errorf("checkRepoConfigPath(%q) = %v, want ok %v", p, err, ok)
		}
	}
}
