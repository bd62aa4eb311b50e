package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/ui"
	"github.com/promobot/promobot/internal/worker"
)

// teamGen configures acme/team-g with a generator: one service per
// directory under apps/.
const teamGen = `version: 1
environments:
  - { name: dev }
  - { name: prod }
generators:
  - directories: 'apps/*'
    service:
      name: '{{.Dir}}'
      image: 'registry.example.com/team-g/{{.Dir}}'
      targets:
        dev:  { kustomize: '{{.Path}}/dev' }
        prod: { kustomize: '{{.Path}}/prod' }
`

// matrixOf is repo's matrix in the status JSON as "service/env=tag" words,
// with "!" after a cell's drift kinds; "" when the page does not list repo
// yet or is still reading a newer head.
func matrixOf(st ui.Status, repo string) string {
	for _, rp := range st.Repositories {
		if rp.Repo != repo || rp.Updating {
			continue
		}
		var out []string
		for _, s := range rp.Services {
			for _, c := range s.Cells {
				w := s.Name + "/" + c.Env + "=" + c.Tag
				for _, d := range c.Drift {
					w += "!" + d.Kind
				}
				out = append(out, w)
			}
		}
		return strings.Join(out, " ")
	}
	return ""
}

// awaitMatrix reads /api/v1/status until repo's matrix is want (each read
// of a stale matrix has it rebuilt) or ctx ends.
func awaitMatrix(t *testing.T, ctx context.Context, h *demo.Harness, repo, want string) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		st := statusJSON(t, ctx, h)
		if last = matrixOf(st, repo); last == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("matrix of %s: %q, want %q", repo, last, want)
		case <-tick.C:
		}
	}
}

// statusJSON reads /api/v1/status.
func statusJSON(t *testing.T, ctx context.Context, h *demo.Harness) ui.Status {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.StatusURL()+"api/v1/status", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /api/v1/status: %v", err)
	}
	defer resp.Body.Close()
	var st ui.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/status = %d %v", resp.StatusCode, err)
	}
	return st
}

// TestStatusPageFollowsATeamRepository: a repository configured only by
// its own file, with a generator, is on the page with every generated
// service; a hand edit (a push that makes no promotion) and a new service
// directory show without waiting for the page's periodic refresh.
func TestStatusPageFollowsATeamRepository(t *testing.T) {
	// The page's periodic refresh is out of the way: what brings the page
	// up to date is the workers' reads and the pushes.
	h, ctx := startWith(t, demo.Options{Rules: []byte(policyServerRules), UINoAuth: true, UIRefresh: time.Hour})
	gh := h.GitHub
	files := map[string]string{}
	for _, svc := range []string{"cart", "pay"} {
		for env, tag := range map[string]string{"dev": "v2", "prod": "v1"} {
			files[fmt.Sprintf("apps/%s/%s/kustomization.yaml", svc, env)] = kustomization("registry.example.com/team-g/"+svc, tag)
		}
	}
	if err := gh.CreateRepo("acme/team-g", "main", files); err != nil {
		t.Fatal(err)
	}
	sha, err := gh.Commit("acme/team-g", "main", map[string]*string{".github/promobot.yaml": ptr(teamGen)}, "promobot configuration")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.AwaitIndexed(ctx, "acme/team-g", func(r worker.Result) bool { return strings.Contains(r.Reason, sha[:7]) }); err != nil {
		t.Fatal(err)
	}
	// prod's v1 never ran in dev (the repository was created that way).
	awaitMatrix(t, ctx, h, "acme/team-g", "cart/dev=v2!hand-edit cart/prod=v1!hand-edit!skipped pay/dev=v2!hand-edit pay/prod=v1!hand-edit!skipped")

	// A person sets pay's prod by hand and adds a service: no promotion
	// follows (prod is last, dev is not automatic), the page shows both.
	if _, err := gh.Commit("acme/team-g", "main", map[string]*string{
		"apps/pay/prod/kustomization.yaml": ptr(kustomization("registry.example.com/team-g/pay", "v2")),
		"apps/ship/dev/kustomization.yaml": ptr(kustomization("registry.example.com/team-g/ship", "s1")),
	}, "hotfix pay in prod, add ship"); err != nil {
		t.Fatal(err)
	}
	awaitMatrix(t, ctx, h, "acme/team-g", "cart/dev=v2!hand-edit cart/prod=v1!hand-edit!skipped pay/dev=v2!hand-edit pay/prod=v2!hand-edit ship/dev=s1!hand-edit ship/prod=")
}
