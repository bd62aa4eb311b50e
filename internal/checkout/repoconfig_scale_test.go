package checkout

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/gitmirror"
	"github.com/promobot/promobot/internal/rules"
)

// Scale of the repository configuration benchmark: 100 team repositories,
// each configuring 20 services over 3 environments.
const (
	scaleRepos    = 100
	scaleServices = 20
)

// scaleConfig is a repository configuration of n services.
func scaleConfig(team, n int) string {
	var b strings.Builder
	b.WriteString("version: 1\nenvironments:\n  - { name: dev, auto: true }\n  - { name: staging, auto: true }\n  - name: prod\n    reviewers: { teams: [acme/team-" + fmt.Sprint(team) + "] }\nservices:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: svc-%02d\n    image: registry.example.com/team-%d/svc-%02d\n    source: { repo: acme/svc-%d-%02d, workflow: .github/workflows/build.yml, branch: main }\n    targets:\n", i, team, i, team, i)
		for _, env := range []string{"dev", "staging", "prod"} {
			fmt.Fprintf(&b, "      %s: { kustomize: apps/svc-%02d/overlays/%s }\n", env, i, env)
		}
	}
	return b.String()
}

type scale struct {
	server *rules.Rules
	repos  []string
	heads  []*gitmirror.Snapshot
}

var (
	scaleOnce sync.Once
	scaleSet  *scale
	scaleErr  error
)

// scaleFixture serves the 100 repositories from the GitHub test server,
// mirrors them and returns each base branch head (built once per process).
func scaleFixture(tb testing.TB) *scale {
	tb.Helper()
	scaleOnce.Do(func() {
		dir, err := makeTemp()
		if err != nil {
			scaleErr = err
			return
		}
		gh, err := githubtest.New(githubtest.Config{Dir: filepath.Join(dir, "github"), StaticToken: token})
		if err != nil {
			scaleErr = err
			return
		}
		server, err := rules.Parse("promotion-rules.yaml", []byte(policyRules))
		if err != nil {
			scaleErr = err
			return
		}
		// The 100 repositories' configurations are branches of one served
		// repository, mirrored with one fetch: what a load costs is
		// reading and parsing the file at a commit, whichever mirror
		// holds it.
		scaleGH = gh
		if err := gh.CreateRepo("acme/teams", "main", map[string]string{"README.md": "teams\n"}); err != nil {
			scaleErr = err
			return
		}
		for i := range scaleRepos {
			cfg := scaleConfig(i, scaleServices)
			if _, err := gh.Commit("acme/teams", fmt.Sprintf("team-%03d", i), map[string]*string{rules.DefaultRepoConfigPath: &cfg}, "configure"); err != nil {
				scaleErr = err
				return
			}
		}
		s := &scale{server: server}
		m := gitmirror.New(filepath.Join(dir, "mirrors"))
		creds := func(context.Context) (string, string, error) { return "x-access-token", token, nil }
		ctx := context.Background()
		if err := m.Fetch(ctx, "acme/teams", gh.URL()+"/acme/teams.git", creds); err != nil {
			scaleErr = err
			return
		}
		v, err := m.View("acme/teams")
		if err != nil {
			scaleErr = err
			return
		}
		for i := range scaleRepos {
			head, err := v.Snapshot(ctx, fmt.Sprintf("team-%03d", i))
			if err != nil {
				scaleErr = err
				return
			}
			s.repos, s.heads = append(s.repos, fmt.Sprintf("acme/team-%03d", i)), append(s.heads, head)
		}
		scaleSet = s
	})
	if scaleErr != nil {
		tb.Fatal(scaleErr)
	}
	return scaleSet
}

// TestRepoConfigScale: 100 repositories × 20 services, every service's
// intent in each repository at one commit: the configuration is parsed
// once per repository and commit, every other intent is a cache hit.
func TestRepoConfigScale(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 100 repositories")
	}
	s := scaleFixture(t)
	src := &Source{}
	ctx := context.Background()
	for i, repo := range s.repos {
		for j := range scaleServices {
			rs, err := src.RulesAt(ctx, s.server, repo, s.heads[i], nil)
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("svc-%02d", j)
			if _, ok := rs.Service(name); !ok {
				t.Fatalf("%s: no service %s", repo, name)
			}
			if prod, _ := rs.Env(name, "prod"); !prod.Ticket.Required {
				t.Fatalf("%s: the policy's ticket is not merged in", repo)
			}
		}
	}
	st := src.ConfigStats()
	if st.Misses != scaleRepos || st.Hits != scaleRepos*(scaleServices-1) {
		t.Fatalf("stats %+v, want %d misses (one per repository and commit) and %d hits", st, scaleRepos, scaleRepos*(scaleServices-1))
	}
}

// BenchmarkRepoConfigLoad measures the configuration load of one intent:
// cold (the first intent of a commit parses, validates and merges the
// repository's 20-service configuration read from the mirror) and warm
// (every later intent of that commit).
func BenchmarkRepoConfigLoad(b *testing.B) {
	s := scaleFixture(b)
	ctx := context.Background()
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			src := &Source{} // an empty cache: every load parses
			if _, err := src.RulesAt(ctx, s.server, s.repos[i%scaleRepos], s.heads[i%scaleRepos], nil); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("warm", func(b *testing.B) {
		src := &Source{}
		for i, repo := range s.repos {
			if _, err := src.RulesAt(ctx, s.server, repo, s.heads[i], nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := src.RulesAt(ctx, s.server, s.repos[i%scaleRepos], s.heads[i%scaleRepos], nil); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

var (
	scaleDir string
	scaleGH  *githubtest.Server
)

func makeTemp() (string, error) {
	d, err := os.MkdirTemp("", "promobot-scale-")
	scaleDir = d
	return d, err
}

func TestMain(m *testing.M) {
	code := m.Run()
	if scaleGH != nil {
		scaleGH.Close()
	}
	if scaleDir != "" {
		_ = os.RemoveAll(scaleDir) // a temporary directory: nothing to report
	}
	os.Exit(code)
}
