package rules

import (
	"context"
	"io/fs"
	"slices"
	"testing"
	"testing/fstest"
)

func TestOwnerWarnings(t *testing.T) {
	r, err := Parse("rules.yaml", []byte(`version: 1
environments:
  - name: staging
  - name: prod
    reviewers: { users: [alice], teams: [acme/leads, other/sre] }
services:
  - name: web
    repo: acme/gitops
    image: registry.example.com/web
    targets:
      staging: { kustomize: apps/web/staging }
      prod:    { kustomize: apps/web/prod }
    environments:
      staging: { reviewers: { teams: [Elsewhere/qa, ACME/qa] } }
  - name: api
    repo: acme/gitops
    image: registry.example.com/api
    targets:
      prod: { kustomize: apps/api/prod }
  - name: tool
    repo: other/infra
    image: registry.example.com/tool
    targets:
      prod: { kustomize: apps/tool/prod }
generators:
  - repo: acme/gitops
    directories: 'gen/*'
    service:
      name: '{{.Dir}}'
      image: 'registry.example.com/{{.Dir}}'
      targets:
        prod: { kustomize: '{{.Path}}/prod' }
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"environment staging: reviewer team Elsewhere/qa belongs to Elsewhere, but acme/gitops belongs to acme: GitHub can ask only teams of acme for a review, so pull requests of service web will not request it",
		"environment prod: reviewer team other/sre belongs to other, but acme/gitops belongs to acme: GitHub can ask only teams of acme for a review, so pull requests of service web, service api, the services generated from gen/* will not request it",
		"environment prod: reviewer team acme/leads belongs to acme, but other/infra belongs to other: GitHub can ask only teams of other for a review, so pull requests of service tool will not request it",
	}
	if got := r.OwnerWarnings(); !slices.Equal(got, want) {
		t.Errorf("warnings:\n%q\nwant\n%q", got, want)
	}
	// Expanded rules warn the same, once per generator.
	x, err := r.Expand(context.Background(), func(string) (fs.FS, error) {
		return fstest.MapFS{"gen/a/prod/kustomization.yaml": {}, "gen/b/prod/kustomization.yaml": {}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := x.OwnerWarnings(); !slices.Equal(got, want) {
		t.Errorf("expanded warnings:\n%q\nwant\n%q", got, want)
	}
	// Nothing to say.
	ok, err := Parse("rules.yaml", []byte(`version: 1
environments: [ { name: prod, reviewers: { teams: [acme/leads] } } ]
services:
  - { name: web, repo: acme/gitops, image: r.io/web, targets: { prod: { kustomize: apps/web } } }
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := ok.OwnerWarnings(); got != nil {
		t.Errorf("warnings = %q", got)
	}
}
