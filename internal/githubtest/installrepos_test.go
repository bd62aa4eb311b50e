package githubtest

import (
	"net/http"
	"testing"

	"github.com/google/go-github/v60/github"
)

// TestInstallationRepositories: an installation token lists its
// repositories (paginated, with total_count); the App JWT lists its
// installations; a personal token is refused as GitHub refuses it.
func TestInstallationRepositories(t *testing.T) {
	e := newEnv(t)
	if err := e.s.CreateRepo("acme/team-a", "main", map[string]string{"README.md": "a\n"}); err != nil {
		t.Fatal(err)
	}
	gh, _ := e.installationClient()
	var names []string
	opts := &github.ListOptions{PerPage: 1}
	for {
		page, resp, err := gh.Apps.ListRepos(e.ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if page.GetTotalCount() != 2 {
			t.Errorf("total_count = %d, want 2", page.GetTotalCount())
		}
		for _, r := range page.Repositories {
			names = append(names, r.GetFullName())
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if len(names) != 2 || names[0] != "acme/gitops" || names[1] != "acme/team-a" {
		t.Errorf("installation repositories = %v, want [acme/gitops acme/team-a]", names)
	}

	code, _, body := e.raw("GET", "/api/v3/installation/repositories", "token "+testStatic, "")
	if code != http.StatusForbidden {
		t.Errorf("GET /installation/repositories with a personal token = %d %s, want 403", code, body)
	}
	requiredKeys(t, "GET /installation/repositories refusal", body, "message", "documentation_url")

	insts, _, err := e.appClient().Apps.ListInstallations(e.ctx, nil)
	if err != nil || len(insts) != 1 || insts[0].GetID() != testInstID {
		t.Errorf("GET /app/installations = %v %v, want the one installation %d", insts, err, testInstID)
	}
	e.s.SetInstallation(0)
	if insts, _, err = e.appClient().Apps.ListInstallations(e.ctx, nil); err != nil || len(insts) != 0 {
		t.Errorf("GET /app/installations uninstalled = %v %v, want none", insts, err)
	}
}
