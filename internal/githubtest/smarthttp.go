package githubtest

import (
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// serveGit serves git smart HTTP (clone, fetch, push) through git http-backend.
func (s *Server) serveGit(w http.ResponseWriter, r *http.Request) {
	owner, name, rest := r.PathValue("owner"), r.PathValue("repo"), r.PathValue("rest")
	if !strings.HasSuffix(name, ".git") {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	name = strings.TrimSuffix(name, ".git")
	switch rest {
	case "info/refs", "git-upload-pack", "git-receive-pack":
	default:
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	p := s.gitAuth(r)
	if p == nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
		http.Error(w, "Invalid username or token. Password authentication is not supported for Git operations.", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	rp := s.repos[owner+"/"+name]
	s.mu.Unlock()
	if rp == nil || !p.canAccess(rp) {
		http.Error(w, "Repository not found.", http.StatusNotFound)
		return
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		http.Error(w, "git not installed", http.StatusInternalServerError)
		return
	}
	h := &cgi.Handler{
		Path: gitPath, Args: []string{"http-backend"}, Root: "/",
		Env: []string{"GIT_PROJECT_ROOT=" + s.cfg.Dir, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=" + p.login,
			"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME=" + os.TempDir()},
	}
	if rest != "git-receive-pack" {
		h.ServeHTTP(w, r)
		return
	}
	// A push moves refs behind go-git's back: snapshot branches and tags and
	// send the events GitHub would for each change.
	s.mu.Lock()
	defer s.mu.Unlock()
	before := refSnapshot(rp)
	h.ServeHTTP(w, r)
	after := refSnapshot(rp)
	g, err := rp.open()
	if err != nil {
		s.logf("githubtest: open after push: %v", err)
		return
	}
	sender := p.asUser(s)
	for name, old := range before {
		if _, ok := after[name]; !ok {
			s.refChanged(rp, g, name, old, plumbing.ZeroHash, sender)
		}
	}
	for name, nw := range after {
		if old := before[name]; old != nw {
			s.refChanged(rp, g, name, old, nw, sender)
		}
	}
}

func refSnapshot(r *repo) map[plumbing.ReferenceName]plumbing.Hash {
	out := map[plumbing.ReferenceName]plumbing.Hash{}
	g, err := r.open()
	if err != nil {
		return out
	}
	iter, err := g.Storer.IterReferences()
	if err != nil {
		return out
	}
	_ = iter.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() == plumbing.HashReference && (ref.Name().IsBranch() || ref.Name().IsTag()) {
			out[ref.Name()] = ref.Hash()
		}
		return nil
	})
	return out
}
