package rules

import (
	"context"
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func gitops() fstest.MapFS {
	return fstest.MapFS{
		"apps/payment-service/overlays/dev/kustomization.yaml": {},
		"apps/cart/overlays/dev/kustomization.yaml":            {},
		"apps/search/overlays/dev/kustomization.yaml":          {},
		"apps/legacy-billing/overlays/dev/kustomization.yaml":  {},
		"apps/README.md": {},
	}
}

func reposOf(m map[string]fs.FS) func(string) (fs.FS, error) {
	return func(repo string) (fs.FS, error) {
		f, ok := m[repo]
		if !ok {
			return nil, errors.New("no such repo")
		}
		return f, nil
	}
}

func TestExpandExample(t *testing.T) {
	r := loadExample(t)
	x, err := r.Expand(context.Background(), reposOf(map[string]fs.FS{"acme/gitops": gitops()}))
	if err != nil {
		t.Fatalf("Expand: %v", err)
	}
	if got := names(x.ServicesIn("acme/gitops")); !reflect.DeepEqual(got, []string{"cart", "payment-service", "search", "web"}) {
		t.Fatalf("services = %v", got)
	}
	cart, ok := x.Service("cart")
	if !ok || cart.Image != "registry.example.com/cart" || cart.Repo != "acme/gitops" ||
		cart.Targets["prod"][0].Kustomize != "apps/cart/overlays/prod" {
		t.Errorf("cart = %+v", cart)
	}
	// generated services answer like explicit ones
	if got := x.Touched("acme/gitops", []string{"apps/cart/overlays/staging/kustomization.yaml"}); len(got) != 1 || got[0].Service.Name != "cart" || got[0].Env != "staging" {
		t.Errorf("Touched = %v", got)
	}
	if s, ok := x.Env("cart", "prod"); !ok || s.Soak == 0 {
		t.Errorf("Env(cart, prod) = %+v %v", s, ok)
	}
	// the original is unchanged and expanding twice does not duplicate
	if len(r.Services) != 2 {
		t.Errorf("original changed: %d services", len(r.Services))
	}
	x2, err := x.Expand(context.Background(), reposOf(map[string]fs.FS{"acme/gitops": gitops()}))
	if err != nil || len(x2.Services) != len(x.Services) {
		t.Errorf("re-expand: %v, %d services", err, len(x2.Services))
	}
}

func TestExpandErrors(t *testing.T) {
	gen := func(dirs, exclude, name string) string {
		return base + `generators:
  - repo: acme/gitops
    directories: '` + dirs + `'
    exclude: [` + exclude + `]
    service:
      name: '` + name + `'
      image: 'r.io/{{.Dir}}'
      targets:
        dev: { kustomize: '{{.Path}}/dev' }
`
	}
	fsys := fstest.MapFS{
		"apps/web/dev/kustomization.yaml":      {},
		"apps/cart/dev/kustomization.yaml":     {},
		"apps/Bad_Name/dev/kustomization.yaml": {},
		"team/cart/dev/kustomization.yaml":     {},
	}
	repos := reposOf(map[string]fs.FS{"acme/gitops": fsys})
	tests := []struct {
		name, text string
		field      string
		line       int
		msg        string
	}{
		{"generated name clashes with explicit", gen("apps/*", "'apps/Bad_Name'", "{{.Dir}}"), "generators[0].service.name", 17, `apps/web: duplicate service "web"`},
		{"generated invalid name", gen("apps/*", "'apps/web'", "{{.Dir}}"), "generators[0].service.name", 17, `apps/Bad_Name: invalid service name "Bad_Name"`},
		{"generated duplicates among themselves", gen("*/cart", "", "{{.Dir}}"), "generators[0].service.name", 17, `duplicate service "cart"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustParse(t, tt.text)
			_, err := r.Expand(context.Background(), repos)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want Errors, got %v", err)
			}
			for _, e := range errs {
				if e.Field == tt.field && e.Line == tt.line && strings.Contains(e.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("want %s:%d %q, got:\n%v", tt.field, tt.line, tt.msg, err)
		})
	}
	// excluding the clashing directory keeps the explicit service
	r := mustParse(t, gen("apps/*", "'apps/web', 'apps/Bad_*'", "{{.Dir}}"))
	x, err := r.Expand(context.Background(), repos)
	if err != nil {
		t.Fatalf("Expand: %v", err)
	}
	if got := names(x.ServicesIn("acme/gitops")); !reflect.DeepEqual(got, []string{"cart", "web"}) {
		t.Errorf("services = %v", got)
	}
	if w, _ := x.Service("web"); w.Image != "registry.example.com/web" {
		t.Errorf("explicit web replaced: %+v", w)
	}
	// a repository that cannot be listed is an error, not an empty expansion
	if _, err := r.Expand(context.Background(), reposOf(nil)); err == nil {
		t.Error("Expand with missing repo succeeded")
	}
}

func TestExpandIgnoresFiles(t *testing.T) {
	r := loadExample(t)
	fsys := fstest.MapFS{"apps/notes.txt": {}}
	x, err := r.Expand(context.Background(), reposOf(map[string]fs.FS{"acme/gitops": fsys}))
	if err != nil || len(x.Services) != 2 {
		t.Fatalf("Expand = %v, %d services", err, len(x.Services))
	}
}
