package history_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/history/gitfixture"
	"github.com/promobot/promobot/internal/rules"
)

// A history whose target files turn into broken YAML, a symlink, a
// directory and an oversized file: the walk records what it can read and
// never fails or follows the link.
func TestWalkSurvivesHostileFiles(t *testing.T) {
	r := gitfixture.New(t)
	who := gitfixture.Who{Name: "Mallory", Email: "m@example.com"}
	at := func(h int) time.Time { return gitfixture.Hour(h) }
	dev := "apps/web/dev/kustomization.yaml"
	stg := "apps/web/staging/kustomization.yaml"
	kust := func(tag string) string {
		return "images:\n  - name: registry.example.com/web\n    newTag: " + tag + "\n"
	}
	r.Commit(at(0), who, "start", map[string]string{dev: kust("v1"), stg: kust("v1"), "apps/api/dev/values.yaml": "image:\n  tag: a1\n"})
	r.Commit(at(1), who, "broken yaml", map[string]string{dev: "images: [\n"})
	if err := os.Remove(filepath.Join(r.Dir, dev)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../etc/passwd", filepath.Join(r.Dir, dev)); err != nil {
		t.Fatal(err)
	}
	r.Commit(at(2), who, "symlink", nil)
	if err := os.Remove(filepath.Join(r.Dir, dev)); err != nil {
		t.Fatal(err)
	}
	r.Commit(at(3), who, "back", map[string]string{dev: kust("v2")})
	r.Commit(at(4), who, "huge", map[string]string{stg: kust("v3") + "# " + strings.Repeat("x", history.MaxBlobSize) + "\n"})
	if err := os.Remove(filepath.Join(r.Dir, "apps/api/dev/values.yaml")); err != nil {
		t.Fatal(err)
	}
	r.Commit(at(5), who, "a directory where a file was", map[string]string{"apps/api/dev/values.yaml/x": "y\n"})
	r.Commit(at(6), who, "Promobot-Intent: spoofed\x01\nPromobot-Gate: "+strings.Repeat("g", 500)+" (open)\n", map[string]string{"README.md": "x\n"})

	rs, err := rules.Parse("rules.yaml", []byte(`version: 1
environments: [{name: dev}, {name: staging}]
services:
  - name: web
    repo: acme/gitops
    image: registry.example.com/web
    targets:
      dev: { kustomize: apps/web/dev }
      staging: { kustomize: apps/web/staging }
  - name: api
    repo: acme/gitops
    image: registry.example.com/api
    targets:
      dev: { helm: apps/api/dev/values.yaml, field: image.tag }
`))
	if err != nil {
		t.Fatal(err)
	}
	st, head, err := history.OpenDir(r.Dir, "main")
	if err != nil {
		t.Fatal(err)
	}
	h, err := history.Walk(context.Background(), st, head, rs, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range h.Changes {
		got = append(got, c.Subject+": "+c.Service+"/"+c.Env+" "+c.From+"->"+c.To)
	}
	want := []string{
		"a directory where a file was: api/dev a1->",
		"huge: web/staging v1->",
		"back: web/dev ->v2",
		"broken yaml: web/dev v1->",
		"start: api/dev ->a1",
		"start: web/dev ->v1",
		"start: web/staging ->v1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	errs := map[string]string{}
	for _, c := range h.Current {
		errs[c.Service+"/"+c.Env] = c.Error
	}
	if !strings.Contains(errs["web/staging"], "over") || !strings.Contains(errs["api/dev"], "no file") || errs["web/dev"] != "" {
		t.Errorf("current errors: %q", errs)
	}
}
