package status

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/edit"
	"github.com/promobot/promobot/internal/rules"
)

const testRules = `version: 1
environments:
  - name: dev
  - name: staging
  - name: prod
services:
  - name: web
    repo: acme/gitops
    image: r.io/web
    targets:
      dev: { helm: web/dev.yaml, field: image.tag }
      staging: { kustomize: web/staging }
      prod:
        - { kustomize: web/prod-eu }
        - { kustomize: web/prod-us }
  - name: api
    repo: acme/gitops
    image: r.io/api
    targets:
      dev: { manifest: api/dev.yaml, container: api }
      prod: { manifest: api/prod.yaml, container: api }
`

// checkout is a Checkout over a map of path → content.
type checkout map[string]string

func (c checkout) ReadFile(_ context.Context, path string) ([]byte, error) {
	data, ok := c[path]
	if !ok {
		return nil, fmt.Errorf("read %s: %w", path, fs.ErrNotExist)
	}
	return []byte(data), nil
}

func (c checkout) Exists(path string) bool { _, ok := c[path]; return ok }

func helm(tag string) string { return "image:\n  tag: " + tag + "\n" }

func kustomization(tag string) string {
	return "images:\n  - name: r.io/web\n    newTag: " + tag + "\n"
}

func deployment(tag string) string {
	return "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: r.io/api:" + tag + "\n"
}

// tree is a checkout where every target of testRules reads.
func tree() checkout {
	return checkout{
		"web/dev.yaml":                     helm("v3"),
		"web/staging/kustomization.yaml":   kustomization("v2"),
		"web/prod-eu/kustomization.yaml":   kustomization("v1"),
		"web/prod-us/Kustomization":        kustomization("v1"),
		"api/dev.yaml":                     deployment("1.1"),
		"api/prod.yaml":                    deployment("1.1"),
		"web/prod-eu/patches/replicas.yml": "replicas: 3\n",
	}
}

func load(t *testing.T) *rules.Rules {
	t.Helper()
	rs, err := rules.Parse("rules.yaml", []byte(testRules))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return rs
}

func TestMatrix(t *testing.T) {
	prod := func(eu, us string, mixed bool) Cell {
		return Cell{Env: "prod", Tag: eu, Differs: eu != "v2", Mixed: mixed, Targets: []Target{
			{Path: "web/prod-eu/kustomization.yaml", Tag: eu},
			{Path: "web/prod-us/Kustomization", Tag: us},
		}}
	}
	tests := []struct {
		name   string
		change func(checkout)
		web    []Cell // the web row; api is checked once below
	}{
		{
			name: "every tag read",
			web:  []Cell{{Env: "dev", Tag: "v3"}, {Env: "staging", Tag: "v2", Differs: true}, prod("v1", "v1", false)},
		},
		{
			name:   "targets disagree",
			change: func(c checkout) { c["web/prod-us/Kustomization"] = kustomization("v0") },
			web:    []Cell{{Env: "dev", Tag: "v3"}, {Env: "staging", Tag: "v2", Differs: true}, prod("v1", "v0", true)},
		},
		{
			name:   "same tag as before",
			change: func(c checkout) { c["web/dev.yaml"] = helm("v2") },
			web:    []Cell{{Env: "dev", Tag: "v2"}, {Env: "staging", Tag: "v2"}, prod("v1", "v1", false)},
		},
		{
			name:   "no kustomization file",
			change: func(c checkout) { delete(c, "web/staging/kustomization.yaml") },
			web: []Cell{
				{Env: "dev", Tag: "v3"},
				{Env: "staging", Error: "no kustomization file"},
				{Env: "prod", Tag: "v1", Targets: prod("v1", "v1", false).Targets}, // nothing to compare with
			},
		},
		{
			name:   "image not set",
			change: func(c checkout) { c["web/dev.yaml"] = "replicas: 2\n" },
			web:    []Cell{{Env: "dev", Error: "no tag for r.io/web"}, {Env: "staging", Tag: "v2"}, prod("v1", "v1", false)},
		},
		{
			name:   "not YAML",
			change: func(c checkout) { c["web/dev.yaml"] = "image: [unclosed\n" },
			web:    []Cell{{Env: "dev", Error: "web/dev.yaml: "}, {Env: "staging", Tag: "v2"}, prod("v1", "v1", false)},
		},
		{
			name:   "missing file",
			change: func(c checkout) { delete(c, "web/dev.yaml") },
			web:    []Cell{{Env: "dev", Error: "read web/dev.yaml: file does not exist"}, {Env: "staging", Tag: "v2"}, prod("v1", "v1", false)},
		},
		{
			name:   "second target unreadable",
			change: func(c checkout) { c["web/prod-us/Kustomization"] = "images: {\n" },
			web: []Cell{{Env: "dev", Tag: "v3"}, {Env: "staging", Tag: "v2", Differs: true}, {Env: "prod", Tag: "v1", Error: "web/prod-us/Kustomization: ", Targets: []Target{
				{Path: "web/prod-eu/kustomization.yaml", Tag: "v1"},
				{Path: "web/prod-us/Kustomization", Error: "web/prod-us/Kustomization: "},
			}}},
		},
	}
	rs := load(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			co := tree()
			if tt.change != nil {
				tt.change(co)
			}
			rep := Matrix(context.Background(), rs, co)
			if !reflect.DeepEqual(rep.Environments, []string{"dev", "staging", "prod"}) {
				t.Errorf("environments = %v", rep.Environments)
			}
			if len(rep.Services) != 2 || rep.Services[0].Service != "api" || rep.Services[1].Service != "web" {
				t.Fatalf("services = %+v, want api then web", rep.Services)
			}
			api := []Cell{{Env: "dev", Tag: "1.1"}, {Env: "prod", Tag: "1.1"}}
			if got := rep.Services[0].Environments; !reflect.DeepEqual(got, api) {
				t.Errorf("api = %+v, want %+v", got, api)
			}
			got := rep.Services[1].Environments
			if len(got) != len(tt.web) {
				t.Fatalf("web = %+v, want %+v", got, tt.web)
			}
			for i := range got {
				// Errors from the YAML parser are matched by their start.
				g, w := got[i], tt.web[i]
				if !strings.HasPrefix(g.Error, w.Error) || (w.Error == "") != (g.Error == "") {
					t.Errorf("web %s error = %q, want %q…", g.Env, g.Error, w.Error)
				}
				for j := range g.Targets {
					if j < len(w.Targets) && strings.HasPrefix(g.Targets[j].Error, w.Targets[j].Error) {
						g.Targets[j].Error = w.Targets[j].Error
					}
				}
				g.Error = w.Error
				if !reflect.DeepEqual(g, w) {
					t.Errorf("web %s = %+v, want %+v", g.Env, g, w)
				}
			}
		})
	}
}

func TestMatrixNoServices(t *testing.T) {
	rs, err := rules.Parse("rules.yaml", []byte("version: 1\nenvironments:\n  - name: dev\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	rep := Matrix(context.Background(), rs, checkout{})
	if rep.Services == nil || len(rep.Services) != 0 {
		t.Errorf("services = %#v, want an empty list (JSON [] rather than null)", rep.Services)
	}
}

func TestCheckImage(t *testing.T) {
	rs := load(t)
	web, _ := rs.Service("web")
	api, _ := rs.Service("api")
	tests := []struct {
		name     string
		svc      *rules.Service
		target   rules.Target
		data     string
		want     string // "" for no error
		notFound bool
	}{
		{"helm sets it", web, rules.Target{Helm: "v.yaml", Field: "image.tag"}, helm("v1"), "", false},
		{"helm field missing", web, rules.Target{Helm: "v.yaml", Field: "image.tag"}, "image: {}\n", `v.yaml does not set the image: field "image.tag"`, true},
		{"manifest sets it", api, rules.Target{Manifest: "d.yaml", Container: "api"}, deployment("1"), "", false},
		{"manifest container missing", api, rules.Target{Manifest: "d.yaml", Container: "worker"}, deployment("1"), `d.yaml does not set the image: no container "worker"`, true},
		{"kustomization sets it", web, rules.Target{Kustomize: "k"}, kustomization("v1"), "", false},
		{"kustomization without images", web, rules.Target{Kustomize: "k"}, "resources: []\n", "", false},
		{"not YAML", web, rules.Target{Helm: "v.yaml", Field: "image.tag"}, "image: [unclosed\n", "v.yaml: ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckImage(tt.svc, tt.target, tt.target.TargetFile(nil), []byte(tt.data))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("CheckImage: %v", err)
			case tt.want == "":
				return
			case err == nil || !strings.HasPrefix(err.Error(), tt.want):
				t.Fatalf("CheckImage = %v, want %q…", err, tt.want)
			}
			if errors.Is(err, edit.ErrNotFound) != tt.notFound {
				t.Errorf("errors.Is(%v, edit.ErrNotFound) = %v", err, !tt.notFound)
			}
		})
	}
}

func TestWriteTable(t *testing.T) {
	tests := []struct {
		name string
		rep  Report
		want string
	}{
		{
			name: "no services",
			rep:  Report{Environments: []string{"dev", "prod"}, Services: []Row{}},
			want: "SERVICE  DEV  PROD\n",
		},
		{
			name: "every mark",
			rep: Report{Environments: []string{"dev", "staging", "prod"}, Services: []Row{
				{Service: "api", Environments: []Cell{{Env: "dev", Tag: "1.1"}, {Env: "prod", Tag: "1.0", Differs: true}}},
				{Service: "web", Environments: []Cell{{Env: "dev", Error: "no tag for r.io/web"}, {Env: "staging", Tag: "v2"}, {Env: "prod", Tag: "v1", Differs: true, Mixed: true}}},
			}},
			want: "SERVICE  DEV  STAGING  PROD\n" +
				"api      1.1  -        1.0 *\n" +
				"web      ?    v2       v1 ! *\n" +
				"\n" +
				"? web in dev: no tag for r.io/web\n" +
				"* differs from the previous environment\n" +
				"! the environment's targets run different tags (--output json lists them)\n",
		},
		{
			name: "only differs",
			rep: Report{Environments: []string{"dev", "prod"}, Services: []Row{
				{Service: "api", Environments: []Cell{{Env: "dev", Tag: "2"}, {Env: "prod", Tag: "1", Differs: true}}},
			}},
			want: "SERVICE  DEV  PROD\napi      2    1 *\n\n* differs from the previous environment\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.rep.WriteTable(&b); err != nil {
				t.Fatalf("WriteTable: %v", err)
			}
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestWriteTableError(t *testing.T) {
	rep := Report{Environments: []string{"dev"}, Services: []Row{{Service: "api", Environments: []Cell{{Env: "dev", Error: "boom"}}}}}
	if err := rep.WriteTable(failWriter{}); err == nil || !strings.Contains(err.Error(), "write status") {
		t.Fatalf("WriteTable to a failing writer: %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
