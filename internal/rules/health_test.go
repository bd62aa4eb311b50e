package rules

import (
	"reflect"
	"testing"
	"time"
)

func TestHealthAndMergeMethod(t *testing.T) {
	const text = `version: 1
environments:
  - name: dev
    health: { checks: ['continuous-delivery/{{.Service}}-{{.Env}}', 'smoke'] }
  - name: staging
    autoMerge: true
    mergeMethod: squash
    health:
      checks: ['argocd/{{.Service}}']
      timeout: 45m
  - name: prod
services:
  - name: web
    repo: acme/gitops
    image: registry.example.com/web
    targets:
      dev: { kustomize: apps/web/dev }
      staging: { kustomize: apps/web/staging }
      prod: { kustomize: apps/web/prod }
`
	rs, err := Parse("health.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		env     string
		checks  []string
		timeout time.Duration
		method  string
	}{
		{"dev", []string{"continuous-delivery/web-dev", "smoke"}, DefaultHealthTimeout, ""},
		{"staging", []string{"argocd/web"}, 45 * time.Minute, "squash"},
		{"prod", nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			got, err := rs.HealthChecks("web", tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.checks) {
				t.Errorf("HealthChecks = %q, want %q", got, tt.checks)
			}
			es, _ := rs.Env("web", tt.env)
			if es.HealthTimeout != tt.timeout || es.MergeMethod != tt.method {
				t.Errorf("timeout %v method %q, want %v %q", es.HealthTimeout, es.MergeMethod, tt.timeout, tt.method)
			}
		})
	}
	if got := rs.HealthFor("acme/gitops", "argocd/web"); len(got) != 1 || got[0].Env != "staging" || got[0].Service.Name != "web" {
		t.Errorf("HealthFor(argocd/web) = %+v", got)
	}
	if got := rs.HealthFor("acme/other", "argocd/web"); len(got) != 0 {
		t.Errorf("HealthFor in another repository = %+v", got)
	}
	if got := rs.HealthFor("acme/gitops", "argocd/api"); len(got) != 0 {
		t.Errorf("HealthFor of an unnamed check = %+v", got)
	}
}
