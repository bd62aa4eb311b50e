package githubtest

import (
	"net/http"
	"sort"

	"github.com/google/go-github/v60/github"
)

// handleListInstallations answers GET /app/installations (App JWT): the
// App's one installation, or none.
func (s *Server) handleListInstallations(c *reqCtx) {
	out := []*github.Installation{}
	if s.cfg.InstallationID != 0 {
		out = append(out, s.installation(s.installationAccount()))
	}
	c.json(http.StatusOK, paginate(c, out))
}

// handleInstallationRepos answers GET /installation/repositories: the
// repositories an installation token may reach, sorted by full name and
// paginated, with GitHub's total_count and repository_selection. Any other
// credential is refused with 403, as GitHub does.
func (s *Server) handleInstallationRepos(c *reqCtx) {
	if c.p == nil || c.p.kind != authInstallation {
		c.error(http.StatusForbidden, "You must authenticate with an installation access token in order to list repositories for an installation.")
		return
	}
	names := make([]string, 0, len(s.repos))
	for name, r := range s.repos {
		if c.p.canAccess(r) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	repos := make([]*github.Repository, 0, len(names))
	for _, name := range names {
		repos = append(repos, s.repoJSON(s.repos[name]))
	}
	selection := "all"
	if c.p.repos != nil {
		selection = "selected"
	}
	c.json(http.StatusOK, map[string]any{
		"total_count":          len(repos),
		"repository_selection": selection,
		"repositories":         paginate(c, repos),
	})
}
