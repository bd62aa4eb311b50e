package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
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
