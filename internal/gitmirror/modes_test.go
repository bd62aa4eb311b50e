package gitmirror

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/rules"
)

// A snapshot is a base view that knows file modes.
var _ planner.ModeView = (*Snapshot)(nil)

const overlay = "images:\n  - name: registry.example.com/web\n    newTag: v1\n"

// modesUpstream is a repository with a regular file, an executable one and
// two symbolic links: one to a file inside the repository, one outside.
func modesUpstream(t *testing.T) (*upstream, *Snapshot) {
	t.Helper()
	u := newUpstream(t)
	u.commit("main", hour(0), map[string]string{
		"apps/web/overlays/staging/kustomization.yaml": overlay,
		"apps/web/overlays/prod/kustomization.yaml":    overlay,
		"apps/web/base/kustomization.yaml":             overlay,
	})
	if err := os.Chmod(filepath.Join(u.work, "apps/web/overlays/prod/kustomization.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(u.work, "apps/web/overlays/dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../base/kustomization.yaml", filepath.Join(u.work, "apps/web/overlays/dev/kustomization.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(u.work, "apps/web/passwd.yaml")); err != nil {
		t.Fatal(err)
	}
	u.commit("main", hour(1), nil)
	m := newMirrors(t)
	mustFetch(t, m, u)
	s, err := m.Snapshot(context.Background(), testRepo, "main")
	if err != nil {
		t.Fatal(err)
	}
	return u, s
}

func TestFileMode(t *testing.T) {
	t.Parallel()
	_, s := modesUpstream(t)
	for p, want := range map[string]string{
		"apps/web/overlays/staging/kustomization.yaml": "100644",
		"apps/web/overlays/prod/kustomization.yaml":    "100755",
	} {
		if got, err := s.FileMode(p); err != nil || got != want {
			t.Errorf("FileMode(%s) = %q %v, want %q", p, got, err, want)
		}
	}
	if _, err := s.FileMode("apps/web/nope.yaml"); err == nil || fate.IsTerminal(err) && !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := s.FileMode("../etc/passwd"); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("path out of the repository: %v", err)
	}
	if _, err := s.FileMode("apps/web"); !fate.IsTerminal(err) {
		t.Errorf("directory: %v", err)
	}
}

// TestSymlinkIsRefusedClearly: a symbolic link is never followed, wherever
// it points, and the refusal names the file and says it is a link.
func TestSymlinkIsRefusedClearly(t *testing.T) {
	t.Parallel()
	_, s := modesUpstream(t)
	ctx := context.Background()
	for _, p := range []string{"apps/web/overlays/dev/kustomization.yaml", "apps/web/passwd.yaml"} {
		b, err := s.ReadFile(ctx, p)
		if err == nil {
			t.Fatalf("ReadFile(%s) followed the link: %q", p, b)
		}
		if !errors.Is(err, ErrSymlink) || !fate.IsTerminal(err) || !strings.Contains(err.Error(), p+": is a symbolic link") {
			t.Errorf("ReadFile(%s) err = %v, want a terminal error naming the file and saying it is a symbolic link", p, err)
		}
		if _, err := s.FileMode(p); !errors.Is(err, ErrSymlink) || !fate.IsTerminal(err) {
			t.Errorf("FileMode(%s) err = %v", p, err)
		}
	}

	// Through the planner: a target whose kustomization is a link is
	// refused for good, and the error says why.
	rs, err := rules.Parse("rules.yaml", []byte(`version: 1
defaults: { baseBranch: main }
environments: [ { name: dev }, { name: staging }, { name: prod } ]
services:
  - name: web
    repo: acme/gitops
    image: registry.example.com/web
    targets:
      dev:     { kustomize: apps/web/overlays/dev }
      staging: { kustomize: apps/web/overlays/staging }
      prod:    { kustomize: apps/web/overlays/prod }
`))
	if err != nil {
		t.Fatal(err)
	}
	in := intent.Intent{ID: "d:0", Kind: intent.KindUpdate, Repo: "acme/gitops", Services: []string{"web"}, To: "dev", Tag: "v2.0.0"}
	_, err = planner.Decide(ctx, rs, in, planner.Views{Base: s}, time.Now())
	t.Logf("symlink refusal: %v", err)
	if !fate.IsTerminal(err) || !strings.Contains(err.Error(), "apps/web/overlays/dev/kustomization.yaml: is a symbolic link") ||
		!strings.Contains(err.Error(), "never follows a link") {
		t.Errorf("Decide err = %v", err)
	}

	// And the executable prod overlay keeps its mode in the plan.
	in = intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"web"}, To: "prod", Tag: "v2.0.0"}
	dec, err := planner.Decide(ctx, rs, in, planner.Views{Base: s}, time.Now())
	if err != nil || dec.Plan == nil || len(dec.Plan.Edits) != 1 || dec.Plan.Edits[0].Mode != "100755" {
		t.Fatalf("Decide: %v %+v %+v", err, dec, dec.Refusal)
	}
}
