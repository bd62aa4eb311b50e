package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
