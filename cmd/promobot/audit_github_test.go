package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/history/gitfixture"
)

const auditToken = "static-token-for-audit"

// githubGitOps serves the fixture history from the GitHub test server, with
// its three promobot pull requests recorded: #5 approved by bob, #6 by
// carol (after erin asked for changes and then approved), #7 (the
// rollback) merged with only a comment.
func githubGitOps(t *testing.T) (rulesPath string, s *githubtest.Server) {
	t.Helper()
	rulesPath, repo := gitopsFixture(t, gitfixture.GitOpsRules)
	s, err := githubtest.New(githubtest.Config{Dir: t.TempDir(), StaticToken: auditToken, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.CreateRepo("acme/gitops", "main", map[string]string{"README.md": "placeholder\n"}); err != nil {
		t.Fatal(err)
	}
	push := strings.Replace(s.URL(), "http://", "http://x-access-token:"+auditToken+"@", 1) + "/acme/gitops.git"
	g := gitfixture.Open(t, repo)
	g.Git(time.Time{}, gitfixture.Who{}, "push", "--quiet", "--force", push, "main")
	merges := strings.Fields(g.Git(time.Time{}, gitfixture.Who{}, "log", "--merges", "--first-parent", "--format=%H", "main"))
	if len(merges) != 3 {
		t.Fatalf("%d merges in the fixture", len(merges))
	}
	for i, n := range []int{7, 6, 5} { // newest first
		if err := s.ImportMergedPull("acme/gitops", n, "promobot/prod/web", "main", "Promote", "alice", merges[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, rv := range []struct {
		pr          int
		user, state string
	}{{5, "bob", "APPROVED"}, {6, "erin", "CHANGES_REQUESTED"}, {6, "carol", "APPROVED"}, {6, "erin", "APPROVED"}, {7, "carol", "COMMENTED"}} {
		if err := s.Review("acme/gitops", rv.pr, rv.user, rv.state); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PROMOBOT_GITHUB_TOKEN", auditToken)
	return rulesPath, s
}

func TestAuditThroughGitHub(t *testing.T) {
	rulesPath, s := githubGitOps(t)
	code, out, errOut := run(t, "audit", "--rules", rulesPath, "--github", "acme/gitops", "--github-api-url", s.APIURL(), "--env", "prod")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	golden(t, "audit-github-prod-md", strings.ReplaceAll(out, s.URL(), "http://GITHUB"))
	// Reviews were asked once per pull request, and nothing was written.
	asked := map[string]int{}
	for _, c := range s.Calls() {
		if c.Method != "GET" {
			t.Errorf("audit wrote to GitHub: %s %s", c.Method, c.Path)
		}
		asked[c.Route]++
	}
	if n := asked["GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews"]; n != 2 {
		t.Errorf("reviews listed %d times, want 2 (PRs #6 and #7 touch prod)", n)
	}
}

func TestAuditThroughGitHubRefused(t *testing.T) {
	rulesPath, s := githubGitOps(t)
	for _, tc := range []struct {
		name, repo, token, want string
	}{
		{"unknown repository", "acme/nope", auditToken, "404"},
		{"bad token", "acme/gitops", "wrong", "401"},
		{"not a repository name", "acme/../x", auditToken, "want owner/name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PROMOBOT_GITHUB_TOKEN", tc.token)
			code, out, errOut := run(t, "audit", "--rules", rulesPath, "--github", tc.repo, "--github-api-url", s.APIURL())
			if code != 1 || out != "" || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, auditToken) {
				t.Errorf("exit %d, stdout %q, stderr %s", code, out, errOut)
			}
		})
	}
}

func TestStatusThroughGitHub(t *testing.T) {
	rulesPath, s := githubGitOps(t)
	code, out, errOut := run(t, "status", "--rules", rulesPath, "--github", "acme/gitops", "--github-api-url", s.APIURL(), "--check")
	want, err := os.ReadFile("testdata/status-drift-table.golden")
	if err != nil {
		t.Fatal(err)
	}
	if code != 1 || out != string(want) || !strings.Contains(errOut, "6 drift flag(s) raised") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}
