package rules

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

// targetRules has an explicit service with one target of each kind and a
// generator; the line and column of each target's value are in the tests.
const targetRules = `version: 1
environments:
  - name: dev
  - name: prod
services:
  - name: web
    repo: acme/gitops
    image: r.io/web
    targets:
      dev: { helm: charts/web/values.yaml, field: image.tag }
      prod:
        - { kustomize: overlays/prod-eu }
        - { manifest: clusters/prod/web.yaml, container: web }
generators:
  - repo: acme/gitops
    directories: 'apps/*'
    exclude: ['apps/skip']
    service:
      name: '{{.Dir}}'
      image: 'r.io/{{.Dir}}'
      targets:
        dev: { kustomize: '{{.Path}}/dev' }
`

// targetTree is a checkout in which every target of targetRules is present.
func targetTree() fstest.MapFS {
	return fstest.MapFS{
		"charts/web/values.yaml":                 {Data: []byte("image:\n  tag: v1\n")},
		"overlays/prod-eu/kustomization.yaml":    {Data: []byte("images: []\n")},
		"clusters/prod/web.yaml":                 {Data: []byte("kind: Deployment\n")},
		"apps/cart/dev/Kustomization":            {Data: []byte("resources: []\n")},
		"apps/search/dev/kustomization.yml":      {Data: []byte("resources: []\n")},
		"apps/skip/dev/kustomization.yaml":       {Data: []byte("resources: []\n")},
		"apps/README.md":                         {Data: []byte("not a service\n")},
		"charts/web/templates/deployment.yaml":   {Data: []byte("kind: Deployment\n")},
		"clusters/prod/namespace.yaml":           {Data: []byte("kind: Namespace\n")},
		"overlays/prod-eu/patches/replicas.yaml": {Data: []byte("replicas: 3\n")},
	}
}

func expandTargets(t *testing.T, fsys fs.FS) *Rules {
	t.Helper()
	r, err := Parse("rules.yaml", []byte(targetRules))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	x, err := r.Expand(context.Background(), func(string) (fs.FS, error) { return fsys, nil })
	if err != nil {
		t.Fatalf("Expand: %v", err)
	}
	return x
}

func TestOrigin(t *testing.T) {
	r, err := Parse("rules.yaml", []byte(targetRules))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	x := expandTargets(t, targetTree())
	tests := []struct {
		name    string
		rules   *Rules
		service string
		want    Origin
		ok      bool
	}{
		{"generated", x, "cart", Origin{Generator: 0, Dir: "apps/cart"}, true},
		{"another generated", x, "search", Origin{Generator: 0, Dir: "apps/search"}, true},
		{"explicit", x, "web", Origin{}, false},
		{"excluded directory", x, "skip", Origin{}, false},
		{"unknown", x, "nope", Origin{}, false},
		{"not expanded", r, "cart", Origin{}, false},
		{"built by hand", &Rules{}, "cart", Origin{}, false},
		{"nil", nil, "cart", Origin{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.rules.Origin(tt.service)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Origin(%q) = %+v, %v; want %+v, %v", tt.service, got, ok, tt.want, tt.ok)
			}
		})
	}
	// Expanding again, over a different listing, records that listing.
	y, err := x.Expand(context.Background(), func(string) (fs.FS, error) {
		return fstest.MapFS{"apps/other/dev/kustomization.yaml": {}}, nil
	})
	if err != nil {
		t.Fatalf("re-expand: %v", err)
	}
	if _, ok := y.Origin("cart"); ok {
		t.Error("re-expanded rules still know cart")
	}
	if o, ok := y.Origin("other"); !ok || o.Dir != "apps/other" {
		t.Errorf("Origin(other) = %+v, %v", o, ok)
	}
}

func TestCheckTargets(t *testing.T) {
	noImage := errors.New("no image here")
	tests := []struct {
		name   string
		change func(fstest.MapFS)
		check  func(*Service, Target, string, []byte) error
		want   []string // "line:col field: message" of each problem, in order
	}{
		{name: "all present", check: func(*Service, Target, string, []byte) error { return nil }},
		{name: "nil check accepts", check: nil},
		{
			name:   "missing file",
			change: func(m fstest.MapFS) { delete(m, "charts/web/values.yaml") },
			want:   []string{"10:20 services[0].targets.dev[0].helm: service web: charts/web/values.yaml does not exist"},
		},
		{
			name: "missing kustomize directory",
			change: func(m fstest.MapFS) {
				delete(m, "overlays/prod-eu/kustomization.yaml")
				delete(m, "overlays/prod-eu/patches/replicas.yaml")
			},
			want: []string{"12:24 services[0].targets.prod[0].kustomize: service web: overlays/prod-eu does not exist"},
		},
		{
			name:   "kustomize directory without a kustomization",
			change: func(m fstest.MapFS) { delete(m, "overlays/prod-eu/kustomization.yaml") },
			want:   []string{"12:24 services[0].targets.prod[0].kustomize: service web: overlays/prod-eu has no kustomization.yaml, kustomization.yml, Kustomization"},
		},
		{
			name: "directory where a file belongs",
			change: func(m fstest.MapFS) {
				delete(m, "clusters/prod/web.yaml")
				m["clusters/prod/web.yaml/deployment.yaml"] = &fstest.MapFile{}
			},
			want: []string{"13:23 services[0].targets.prod[1].manifest: service web: read clusters/prod/web.yaml: "},
		},
		{
			name:   "not a regular file",
			change: func(m fstest.MapFS) { m["clusters/prod/web.yaml"].Mode = fs.ModeNamedPipe },
			want:   []string{"13:23 services[0].targets.prod[1].manifest: service web: clusters/prod/web.yaml is not a regular file"},
		},
		{
			name:   "oversized file",
			change: func(m fstest.MapFS) { m["charts/web/values.yaml"].Data = make([]byte, maxTargetSize+1) },
			want:   []string{"10:20 services[0].targets.dev[0].helm: service web: read charts/web/values.yaml: larger than"},
		},
		{
			name:   "generated service at its generator",
			change: func(m fstest.MapFS) { delete(m, "apps/search/dev/kustomization.yml") },
			want:   []string{"22:27 generators[0].service.targets.dev[0].kustomize: service search (from apps/search): apps/search/dev does not exist"},
		},
		{
			name: "check refuses",
			check: func(svc *Service, tg Target, path string, data []byte) error {
				if tg.Kind() == "kustomize" {
					return nil
				}
				return errors.New(path + " refused for " + svc.Name + ": " + strings.TrimSpace(string(data)))
			},
			want: []string{
				"10:20 services[0].targets.dev[0].helm: service web: charts/web/values.yaml refused for web: image:\n  tag: v1",
				"13:23 services[0].targets.prod[1].manifest: service web: clusters/prod/web.yaml refused for web: kind: Deployment",
			},
		},
		{
			name:  "check sees generated services",
			check: func(svc *Service, tg Target, path string, _ []byte) error { return errIf(svc.Name == "cart", noImage) },
			want:  []string{"22:27 generators[0].service.targets.dev[0].kustomize: service cart (from apps/cart): no image here"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := targetTree()
			r := expandTargets(t, fsys)
			if tt.change != nil {
				tt.change(fsys)
			}
			got, err := r.CheckTargets(context.Background(), fsys, tt.check)
			if err != nil {
				t.Fatalf("CheckTargets: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(got), len(tt.want), got)
			}
			for i, fe := range got {
				line := fmt.Sprintf("%d:%d %s: %s", fe.Line, fe.Column, fe.Field, fe.Msg)
				if !strings.HasPrefix(line, tt.want[i]) || fe.File != "rules.yaml" {
					t.Errorf("problem %d = %s %q, want prefix %q", i+1, fe.File, line, tt.want[i])
				}
			}
		})
	}
}

func errIf(cond bool, err error) error {
	if cond {
		return err
	}
	return nil
}

func TestCheckTargetsCancelled(t *testing.T) {
	fsys := targetTree()
	r := expandTargets(t, fsys)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.CheckTargets(ctx, fsys, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("CheckTargets with a cancelled context: %v", err)
	}
}
