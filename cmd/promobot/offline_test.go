package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// run executes promobot in-process as main does and returns the exit code.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	var ee exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case err != nil:
		fmt.Fprintln(&errb, "promobot:", err)
		code = 1
	}
	return code, out.String(), errb.String()
}

// writeTree writes files (slash paths → content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// golden compares got with testdata/name.golden (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (go test -update rewrites it)\n--- got ---\n%s\n--- want ---\n%s", name, path, got, want)
	}
}

const fixtureRules = `# yaml-language-server: $schema=./promotion-rules.schema.json
version: 1
defaults:
  baseBranch: main
  labels: [promotion]
environments:
  - { name: dev, auto: true, direct: true }
  - { name: staging, auto: true }
  - name: prod
    reviewers: { users: [alice], teams: [acme/payments-leads] }
    ticket: { required: true, pattern: 'PAY-\d+', url: 'https://jira.example.com/browse/{{.Ticket}}' }
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

func overlay(env, tag string) string {
	return `# payment-service in ` + env + `. The image tag below is managed by promobot.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: payments-` + env + `
resources:
  - ../../base
images:
  - name: registry.example.com/payment-service
    newTag: ` + tag + ` # promoted by promobot
`
}

func helmValues(env, tag string) string {
	return `# web in ` + env + `
replicaCount: 2
image:
  repository: registry.example.com/web
  tag: "` + tag + `"   # promobot
  pullPolicy: IfNotPresent
`
}

const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1.7.0
        - name: proxy
          image: envoyproxy/envoy:v1.30.0
`

// fixture makes a GitOps checkout and its rules file; it returns both paths.
func fixture(t *testing.T) (rulesPath, repo string) {
	t.Helper()
	dir := t.TempDir()
	repo = filepath.Join(dir, "gitops")
	writeTree(t, repo, map[string]string{
		"apps/payment-service/base/kustomization.yaml":             "resources: [deployment.yaml]\n",
		"apps/payment-service/overlays/dev/kustomization.yaml":     overlay("dev", "v2.4.1"),
		"apps/payment-service/overlays/staging/kustomization.yaml": overlay("staging", "v2.4.0"),
		"apps/payment-service/overlays/prod-eu/kustomization.yaml": overlay("prod-eu", "v2.3.0"),
		"apps/payment-service/overlays/prod-us/kustomization.yaml": overlay("prod-us", "v2.2.0"),
		"charts/web/values-dev.yaml":                               helmValues("dev", "1.8.0"),
		"charts/web/values-staging.yaml":                           helmValues("staging", "1.7.0"),
		"clusters/prod/web/deployment.yaml":                        webDeployment,
	})
	rulesPath = filepath.Join(dir, "promotion-rules.yaml")
	writeTree(t, dir, map[string]string{"promotion-rules.yaml": fixtureRules})
	return rulesPath, repo
}

// scrub replaces the temporary checkout and rules directory so output can be compared.
func scrub(s, repo, dir string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, repo, "$REPO"), dir, "$DIR")
}

func TestValidate(t *testing.T) {
	rulesPath, repo := fixture(t)
	dir := filepath.Dir(rulesPath)

	t.Run("valid", func(t *testing.T) {
		code, out, errOut := run(t, "validate", rulesPath)
		if code != 0 || !strings.Contains(out, ": ok (3 environments, 2 services)") || errOut != "" {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	})
	t.Run("valid with repo", func(t *testing.T) {
		code, out, errOut := run(t, "validate", rulesPath, "--repo", repo)
		if code != 0 || !strings.Contains(out, "ok") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	})

	t.Run("every rules error at once", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.yaml")
		writeTree(t, dir, map[string]string{"bad.yaml": `version: 1
environments:
  - name: dev
  - name: prod
    ticket: { required: true, pattern: 'PAY-(\d+' }
services:
  - name: payment-service
    repo: acme/gitops
    image: registry.example.com/payment-service
    colour: blue
    targets:
      dev: { kustomize: apps/payment-service/overlays/dev }
      qa: { kustomize: apps/payment-service/overlays/qa }
`})
		code, out, errOut := run(t, "validate", bad)
		if code != 1 || out != "" {
			t.Fatalf("exit %d, stdout %q", code, out)
		}
		lines := strings.Split(strings.TrimSpace(scrub(errOut, repo, dir)), "\n")
		want := []string{
			"$DIR/bad.yaml:5:", "environments[1].ticket.pattern", // bad regex
			"$DIR/bad.yaml:10:", `unknown field "colour"`,
			"$DIR/bad.yaml:13:", `unknown environment "qa"`,
		}
		if len(lines) != 3 {
			t.Fatalf("want 3 errors, got %d:\n%s", len(lines), errOut)
		}
		for i, l := range lines {
			if !strings.HasPrefix(l, want[2*i]) || !strings.Contains(l, want[2*i+1]) {
				t.Errorf("error %d = %q, want %q … %q", i+1, l, want[2*i], want[2*i+1])
			}
		}
	})

	t.Run("missing files in the checkout", func(t *testing.T) {
		_, repo := fixture(t)
		for _, p := range []string{
			"apps/payment-service/overlays/prod-us/kustomization.yaml",
			"charts/web/values-staging.yaml",
		} {
			if err := os.Remove(filepath.Join(repo, filepath.FromSlash(p))); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Remove(filepath.Join(repo, "apps/payment-service/overlays/prod-us")); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := run(t, "validate", rulesPath, "--repo", repo)
		if code != 1 || out != "" {
			t.Fatalf("exit %d, stdout %q, stderr %s", code, out, errOut)
		}
		golden(t, "validate-missing", scrub(errOut, repo, dir))
	})

	t.Run("image not set", func(t *testing.T) {
		_, repo := fixture(t)
		writeTree(t, repo, map[string]string{
			// helm: no image.tag; manifest: no container "web"; kustomize
			// without an images entry is fine (promobot adds it).
			"charts/web/values-dev.yaml":                           "image:\n  repository: registry.example.com/web\n",
			"clusters/prod/web/deployment.yaml":                    strings.ReplaceAll(webDeployment, "name: web\n          image", "name: api\n          image"),
			"apps/payment-service/overlays/dev/kustomization.yaml": "resources: [../../base]\n",
		})
		code, out, errOut := run(t, "validate", rulesPath, "--repo", repo)
		if code != 1 || out != "" {
			t.Fatalf("exit %d, stdout %q, stderr %s", code, out, errOut)
		}
		golden(t, "validate-image", scrub(errOut, repo, dir))
	})

	t.Run("missing repo", func(t *testing.T) {
		code, _, errOut := run(t, "validate", rulesPath, "--repo", filepath.Join(dir, "nope"))
		if code != 1 || !strings.Contains(errOut, "nope") {
			t.Fatalf("exit %d, stderr %s", code, errOut)
		}
	})
}

// generatedTree is a monorepo with n services under apps/, each with three overlays.
func generatedTree(n int) map[string]string {
	files := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("svc-%02d", i)
		for _, env := range []string{"dev", "staging", "prod"} {
			files["apps/"+name+"/overlays/"+env+"/kustomization.yaml"] = strings.ReplaceAll(overlay(env, "v1.0.0"), "payment-service", name)
		}
	}
	files["apps/README.md"] = "not a service\n"
	return files
}

const generatorRules = `version: 1
environments:
  - { name: dev, auto: true, direct: true }
  - { name: staging, auto: true }
  - { name: prod }
generators:
  - repo: acme/gitops
    directories: 'apps/*'
    exclude: ['apps/legacy-*']
    service:
      name: '{{.Dir}}'
      image: 'registry.example.com/{{.Dir}}'
      targets:
        dev:     { kustomize: '{{.Path}}/overlays/dev' }
        staging: { kustomize: '{{.Path}}/overlays/staging' }
        prod:    { kustomize: '{{.Path}}/overlays/prod' }
`

func TestValidateGenerators(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "gitops")
	files := generatedTree(12)
	files["apps/legacy-billing/overlays/dev/kustomization.yaml"] = "resources: []\n" // excluded: no staging, no prod
	writeTree(t, repo, files)
	writeTree(t, dir, map[string]string{"rules.yaml": generatorRules})
	rulesPath := filepath.Join(dir, "rules.yaml")

	code, out, errOut := run(t, "validate", rulesPath, "--repo", repo)
	if code != 0 || !strings.Contains(out, "ok (3 environments, 12 services)") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	// Without the checkout generators are not expanded.
	if code, out, _ := run(t, "validate", rulesPath); code != 0 || !strings.Contains(out, "0 services") {
		t.Fatalf("without --repo: exit %d, %s", code, out)
	}

	// Two generated services lose an overlay: both named, at the generator's line.
	for _, p := range []string{"apps/svc-03/overlays/staging", "apps/svc-07/overlays/prod"} {
		if err := os.RemoveAll(filepath.Join(repo, filepath.FromSlash(p))); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut = run(t, "validate", rulesPath, "--repo", repo)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	golden(t, "validate-generated", scrub(errOut, repo, dir))
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		// Tag taken from staging; both prod targets change.
		{"plan-kustomize-prod", []string{"--service", "payment-service", "--to", "prod", "--ticket", "PAY-42"}, 0},
		{"plan-helm-staging", []string{"--service", "web", "--to", "staging"}, 0},
		{"plan-manifest-prod", []string{"--service", "web", "--to", "prod", "--tag", "1.8.0", "--ticket", "PAY-7"}, 0},
		{"plan-first-env", []string{"--service", "payment-service", "--to", "dev", "--tag", "v2.5.0"}, 0},
		{"plan-refused-ticket", []string{"--service", "payment-service", "--to", "prod"}, 2},
		{"plan-nothing-to-do", []string{"--service", "web", "--to", "prod", "--tag", "1.7.0", "--ticket", "PAY-7"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rulesPath, repo := fixture(t)
			before := snapshot(t, repo)
			code, out, errOut := run(t, append([]string{"plan", "--rules", rulesPath, "--repo", repo}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			golden(t, tt.name, out)
			if after := snapshot(t, repo); after != before {
				t.Error("plan without --write changed the checkout")
			}
			if code == 0 && strings.Contains(out, "--- a/") {
				gitApply(t, repo, out)
			}
		})
	}
}

// gitApply checks that the printed diff is a patch git accepts for the checkout.
func gitApply(t *testing.T, repo, diff string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Log("git not installed: patch not checked")
		return
	}
	cmd := exec.Command("git", "apply", "--check", "-")
	cmd.Dir = repo
	cmd.Stdin = strings.NewReader(diff)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("git apply --check: %v\n%s", err, out)
	}
}

func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		fmt.Fprintf(&b, "%s\n%s\n", p, data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPlanWrite(t *testing.T) {
	rulesPath, repo := fixture(t)
	args := []string{"plan", "--rules", rulesPath, "--repo", repo, "--service", "payment-service", "--to", "prod", "--ticket", "PAY-42"}
	code, first, errOut := run(t, append(args, "--write")...)
	if code != 0 || !strings.Contains(first, "+    newTag: v2.4.0 # promoted by promobot") {
		t.Fatalf("exit %d\n%s\n%s", code, first, errOut)
	}
	for _, p := range []string{"prod-eu", "prod-us"} {
		if !strings.Contains(errOut, "wrote apps/payment-service/overlays/"+p+"/kustomization.yaml") {
			t.Errorf("stderr does not report writing %s: %s", p, errOut)
		}
		got, err := os.ReadFile(filepath.Join(repo, "apps/payment-service/overlays", p, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		// Only the tag changed: every other byte stays.
		if want := overlay(p, "v2.4.0"); string(got) != want {
			t.Errorf("%s after --write:\n%s\nwant:\n%s", p, got, want)
		}
	}
	code, again, errOut := run(t, args...)
	if code != 0 || !strings.HasPrefix(again, "nothing to do:") {
		t.Fatalf("second plan: exit %d\n%s\n%s", code, again, errOut)
	}
}

func TestPlanErrors(t *testing.T) {
	rulesPath, repo := fixture(t)
	tests := []struct {
		name, want string
		args       []string
	}{
		{"unknown service", `unknown service "nope"`, []string{"--service", "nope", "--to", "prod"}},
		{"first env needs a tag", "--tag is required", []string{"--service", "web", "--to", "dev"}},
		{"invalid tag", "invalid tag", []string{"--service", "web", "--to", "staging", "--tag", "bad tag!"}},
		{"missing service flag", `required flag(s) "service"`, []string{"--to", "prod"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := run(t, append([]string{"plan", "--rules", rulesPath, "--repo", repo}, tt.args...)...)
			if code != 1 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, errOut, tt.want)
			}
		})
	}
	code, out, _ := run(t, "plan", "--rules", rulesPath, "--repo", repo, "--service", "web", "--to", "qa", "--tag", "1.0.0")
	if code != 2 || !strings.Contains(out, `no environment "qa"`) {
		t.Fatalf("unknown environment: exit %d, %s", code, out)
	}
}

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
				var rep statusReport
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
