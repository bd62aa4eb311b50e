package rules

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"
)

const genRules = `version: 1
environments: [{name: dev, auto: true}, {name: staging, auto: true}]
services:
  - {name: payments, repo: acme/gitops, image: r.example.com/payments,
     targets: {dev: {kustomize: apps/payments/dev}, staging: {kustomize: apps/payments/staging}}}
generators:
  - repo: acme/gitops
    directories: 'apps/*'
    exclude: ['apps/payments', 'apps/legacy-*']
    service:
      name: '{{.Dir}}'
      image: 'r.example.com/{{.Dir}}'
      targets:
        dev: { kustomize: '{{.Path}}/dev' }
        staging: { kustomize: '{{.Path}}/staging' }
`

func TestForPathsFindsGeneratedServicesOfAPush(t *testing.T) {
	r, err := Parse("rules.yaml", []byte(genRules))
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{
		"apps/web/dev/kustomization.yaml",
		"apps/api/staging/kustomization.yaml",
		"apps/legacy-x/dev/kustomization.yaml", // excluded
		"apps/payments/dev/kustomization.yaml", // explicit
		"README.md",
	}
	got, err := r.ForPaths(context.Background(), "acme/gitops", paths)
	if err != nil {
		t.Fatal(err)
	}
	var touched []string
	for _, se := range got.Touched("acme/gitops", paths) {
		touched = append(touched, se.Service.Name+"/"+se.Env)
	}
	want := []string{"api/staging", "payments/dev", "web/dev"}
	if len(touched) != len(want) {
		t.Fatalf("touched = %v, want %v", touched, want)
	}
	for i := range want {
		if touched[i] != want[i] {
			t.Errorf("touched = %v, want %v", touched, want)
		}
	}
	// Another repository's push expands nothing.
	other, err := r.ForPaths(context.Background(), "acme/other", paths)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(other.Services); n != 1 {
		t.Errorf("push to another repo generated %d services, want only the explicit one", n)
	}
	// The path-only file system agrees with a real listing of the same tree.
	full, err := r.Expand(context.Background(), func(string) (fs.FS, error) {
		return fstest.MapFS{"apps/web/dev/kustomization.yaml": {}, "apps/api/staging/kustomization.yaml": {}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Services) != len(got.Services) {
		t.Errorf("real listing expands %d services, ForPaths %d", len(full.Services), len(got.Services))
	}
}
