package rules

import (
	"context"
	"io/fs"
	"reflect"
	"testing"
	"testing/fstest"
)

// TestForNamesExplicitServiceWins: on the example rules (an apps/*
// generator beside the explicit service web), guessing the names of a
// command such as "/promote prod web cart" keeps the explicit web, adds the
// guess cart, and never fails because of a guess.
func TestForNamesExplicitServiceWins(t *testing.T) {
	r := loadExample(t)
	got, err := r.ForNames(context.Background(), []string{"prod", "web", "cart", "Payment-Service", "x_", "web.lock", "cart"})
	if err != nil {
		t.Fatalf("a guess failed the rules: %v", err)
	}
	web, ok := got.Service("web")
	if !ok || web.Targets["dev"][0].Helm != "charts/web/values-dev.yaml" {
		t.Fatalf("web = %+v, want the explicit service", web)
	}
	if _, generated := got.Origin("web"); generated {
		t.Error("web is recorded as generated")
	}
	cart, ok := got.Service("cart")
	if o, generated := got.Origin("cart"); !ok || !generated || o.Dir != "apps/cart" || cart.Targets["dev"][0].Kustomize != "apps/cart/overlays/dev" {
		t.Errorf("cart = %+v, origin %+v", cart, o)
	}
	// Left out: an upper-case name (not a service name), x_ (its image
	// would be invalid), web.lock (its branch would be invalid).
	if want := []string{"cart", "payment-service", "prod", "web"}; !reflect.DeepEqual(names(got.ServicesIn("acme/gitops")), want) {
		t.Errorf("services = %v, want %v", names(got.ServicesIn("acme/gitops")), want)
	}
	// Guessing from a guess starts from the file again.
	again, err := got.ForNames(context.Background(), []string{"search"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"payment-service", "search", "web"}; !reflect.DeepEqual(names(again.ServicesIn("acme/gitops")), want) {
		t.Errorf("services = %v, want %v", names(again.ServicesIn("acme/gitops")), want)
	}
}

// TestForNamesBuildOfAnExplicitService: a build of acme/web, the source of
// the explicit service web, guesses apps/web; the explicit service is the
// one the build matches.
func TestForNamesBuildOfAnExplicitService(t *testing.T) {
	r, err := Parse("rules.yaml", []byte(`version: 1
environments: [{name: dev, auto: true}, {name: staging}]
services:
  - name: web
    repo: acme/gitops
    image: r.example.com/web
    source: {repo: acme/web, workflow: .github/workflows/build.yml}
    targets: {dev: {helm: charts/web/dev.yaml, field: image.tag}, staging: {helm: charts/web/staging.yaml, field: image.tag}}
generators:
  - repo: acme/gitops
    directories: 'apps/*'
    service:
      name: '{{.Dir}}'
      image: 'r.example.com/{{.Dir}}'
      source: {repo: 'acme/{{.Dir}}'}
      targets: {dev: {kustomize: '{{.Path}}/dev'}, staging: {kustomize: '{{.Path}}/staging'}}
`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.ForNames(context.Background(), []string{"web"})
	if err != nil {
		t.Fatalf("the guess apps/web failed the rules: %v", err)
	}
	svcs := got.MatchWorkflow("acme/web", ".github/workflows/build.yml", "main")
	if len(svcs) != 1 || svcs[0].Name != "web" || svcs[0].Targets["dev"][0].Helm != "charts/web/dev.yaml" {
		t.Fatalf("matched %+v, want the explicit web", svcs)
	}
	// A real listing with apps/web is still an error: there the clash is
	// in the repository, and excluding the directory is the fix.
	_, err = r.Expand(context.Background(), func(string) (fs.FS, error) {
		return fstest.MapFS{"apps/web/dev/kustomization.yaml": {}}, nil
	})
	if err == nil {
		t.Error("Expand accepted a generated service named like an explicit one")
	}
}

// TestForPathsExplicitServiceWins: a push that changes a file under
// apps/web beside web's own file neither fails nor replaces web.
func TestForPathsExplicitServiceWins(t *testing.T) {
	r := loadExample(t)
	paths := []string{"charts/web/values-dev.yaml", "apps/web/README.md", "apps/cart/overlays/dev/kustomization.yaml", "apps/Bad/x", "apps/x_/y"}
	got, err := r.ForPaths(context.Background(), "acme/gitops", paths)
	if err != nil {
		t.Fatalf("a guessed directory failed the rules: %v", err)
	}
	var touched []string
	for _, se := range got.Touched("acme/gitops", paths) {
		touched = append(touched, se.Service.Name+"/"+se.Env)
	}
	if want := []string{"cart/dev", "web/dev"}; !reflect.DeepEqual(touched, want) {
		t.Errorf("touched = %v, want %v", touched, want)
	}
}

// FuzzForNames: no name, however odd, makes ForNames fail or changes an
// explicit service; every service it adds validates like any other.
func FuzzForNames(f *testing.F) {
	for _, s := range []string{"web", "cart", "prod", "Payment-Service", "payment-service", "x_", "web.lock", "..", ".", "a/b", "", "legacy-x", "-", "a b", "ü", "sample"} {
		f.Add(s, "web")
	}
	r, err := Load(examplePath)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got, err := r.ForNames(context.Background(), []string{a, b})
		if err != nil {
			t.Fatalf("ForNames(%q, %q): %v", a, b, err)
		}
		for i := range r.Services {
			want := &r.Services[i]
			s, ok := got.Service(want.Name)
			if !ok || !reflect.DeepEqual(s, want) {
				t.Fatalf("explicit service %s became %+v", want.Name, s)
			}
			if _, generated := got.Origin(want.Name); generated {
				t.Fatalf("explicit service %s recorded as generated", want.Name)
			}
		}
		for _, s := range got.Services[len(r.Services):] {
			if _, ok := got.Origin(s.Name); !ok {
				t.Fatalf("guessed service %s has no origin", s.Name)
			}
			if _, err := got.Branch(got.First(&s), s.Name); err != nil {
				t.Fatalf("guessed service %s: %v", s.Name, err)
			}
		}
	})
}
