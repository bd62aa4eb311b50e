package githubtest

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-github/v60/github"
)

// maxPushCommits is how many commits GitHub lists in a push payload.
const maxPushCommits = 20

// setRef moves name from old to new (zero new deletes) and sends the events
// GitHub would: push for branches, synchronize/closed for pull requests.
func (s *Server) setRef(r *repo, g *git.Repository, name plumbing.ReferenceName, old, new plumbing.Hash, sender *github.User) error {
	if new.IsZero() {
		if err := g.Storer.RemoveReference(name); err != nil {
			return fmt.Errorf("delete ref: %w", err)
		}
	} else if err := g.Storer.SetReference(plumbing.NewHashReference(name, new)); err != nil {
		return fmt.Errorf("set ref: %w", err)
	}
	s.refChanged(r, g, name, old, new, sender)
	return nil
}

// refChanged sends events for a ref that has already moved.
func (s *Server) refChanged(r *repo, g *git.Repository, name plumbing.ReferenceName, old, new plumbing.Hash, sender *github.User) {
	if old == new {
		return
	}
	if name.IsBranch() || name.IsTag() {
		r.pushed = now()
		ev, err := s.pushEvent(r, g, name, old, new, sender)
		if err != nil {
			s.logf("githubtest: build push event: %v", err)
		} else {
			s.hooks.enqueue("push", ev)
		}
	}
	if !name.IsBranch() {
		return
	}
	branch := name.Short()
	for _, n := range sortedNumbers(r) {
		is := r.issues[n]
		pr := is.pr
		if pr == nil || is.state != "open" || pr.head != branch {
			continue
		}
		if new.IsZero() {
			s.closeIssue(is)
			s.sendPullRequest(r, is, "closed", sender, nil)
			continue
		}
		before := pr.headSHA
		pr.headSHA = new.String()
		is.updated = now()
		ev := s.pullRequestEvent(r, is, "synchronize", sender, nil)
		ev.Before, ev.After = github.String(before), github.String(pr.headSHA)
		s.hooks.enqueue("pull_request", ev)
	}
}

func (s *Server) pushEvent(r *repo, g *git.Repository, name plumbing.ReferenceName, old, new plumbing.Hash, sender *github.User) (*github.PushEvent, error) {
	ev := &github.PushEvent{
		Ref:     github.String(name.String()),
		Before:  github.String(old.String()),
		After:   github.String(new.String()),
		Created: github.Bool(old.IsZero()),
		Deleted: github.Bool(new.IsZero()),
		Forced:  github.Bool(!old.IsZero() && !new.IsZero() && !isAncestor(g, old, new)),
		Repo:    s.pushRepo(r),
		Pusher:  &github.CommitAuthor{Name: sender.Login, Email: github.String(sender.GetLogin() + "@users.noreply.example.com")},
		Sender:  sender,
		Commits: []*github.HeadCommit{},
	}
	switch {
	case old.IsZero():
		ev.Compare = github.String(s.htmlURL(r, "compare", name.Short()))
	default:
		ev.Compare = github.String(s.htmlURL(r, "compare", old.String()[:12]+"..."+new.String()[:12]))
	}
	if !new.IsZero() {
		shas, err := newCommits(r, name, old, new)
		if err != nil {
			return nil, err
		}
		for _, h := range shas {
			c, err := g.CommitObject(h)
			if err != nil {
				return nil, fmt.Errorf("read commit: %w", err)
			}
			hc, err := s.headCommit(r, c)
			if err != nil {
				return nil, err
			}
			ev.Commits = append(ev.Commits, hc)
		}
		c, err := g.CommitObject(new)
		if err == nil {
			if ev.HeadCommit, err = s.headCommit(r, c); err != nil {
				return nil, err
			}
		}
	}
	if s.cfg.InstallationID != 0 {
		ev.Installation = &github.Installation{ID: github.Int64(s.cfg.InstallationID), NodeID: github.String(fmt.Sprintf("I_%d", s.cfg.InstallationID))}
	}
	return ev, nil
}

// newCommits lists, oldest first, the commits new brings that old (or, for a
// new ref, any other branch) did not have; at most maxPushCommits, the newest.
func newCommits(r *repo, name plumbing.ReferenceName, old, new plumbing.Hash) ([]plumbing.Hash, error) {
	args := []string{"rev-list", "--reverse", new.String()}
	if old.IsZero() {
		for ref, h := range refSnapshot(r) {
			if ref != name {
				args = append(args, "^"+h.String())
			}
		}
	} else {
		args = append(args, "^"+old.String())
	}
	out, err := runGit(context.Background(), r.dir, nil, args...)
	if err != nil {
		return nil, err
	}
	var hs []plumbing.Hash
	for _, l := range strings.Fields(string(out)) {
		hs = append(hs, plumbing.NewHash(l))
	}
	if len(hs) > maxPushCommits {
		hs = hs[len(hs)-maxPushCommits:]
	}
	return hs, nil
}

func (s *Server) headCommit(r *repo, c *object.Commit) (*github.HeadCommit, error) {
	added, removed, modified, err := fileChanges(c)
	if err != nil {
		return nil, fmt.Errorf("commit changes: %w", err)
	}
	sha := c.Hash.String()
	return &github.HeadCommit{
		ID: github.String(sha), TreeID: github.String(c.TreeHash.String()),
		Distinct: github.Bool(true), Message: github.String(c.Message),
		Timestamp: &github.Timestamp{Time: c.Author.When},
		URL:       github.String(s.htmlURL(r, "commit", sha)),
		Author:    &github.CommitAuthor{Name: github.String(c.Author.Name), Email: github.String(c.Author.Email), Login: loginFromEmail(c.Author.Email)},
		Committer: &github.CommitAuthor{Name: github.String(c.Committer.Name), Email: github.String(c.Committer.Email), Login: loginFromEmail(c.Committer.Email)},
		Added:     added, Removed: removed, Modified: modified,
	}, nil
}

// loginFromEmail recovers the login of a noreply address ("123+login@users.noreply...").
func loginFromEmail(email string) *string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || !strings.HasPrefix(domain, "users.noreply.") {
		return nil
	}
	if _, l, ok := strings.Cut(local, "+"); ok {
		return github.String(l)
	}
	return github.String(local)
}

func (s *Server) pushRepo(r *repo) *github.PushEventRepository {
	full := s.repoJSON(r)
	owner := s.user(r.owner, "Organization")
	owner.Name = github.String(r.owner)
	return &github.PushEventRepository{
		ID: full.ID, NodeID: full.NodeID, Name: full.Name, FullName: full.FullName,
		Owner: owner, Private: full.Private, HTMLURL: full.HTMLURL, CloneURL: full.CloneURL,
		URL: full.HTMLURL, DefaultBranch: full.DefaultBranch, MasterBranch: full.DefaultBranch,
		Organization: github.String(r.owner),
		CreatedAt:    ts(r.created), PushedAt: ts(now()), UpdatedAt: ts(now()),
		PullsURL: github.String(s.apiURL(r, "pulls{/number}")),
	}
}

func (s *Server) eventInstallation() *github.Installation {
	if s.cfg.InstallationID == 0 {
		return nil
	}
	return &github.Installation{ID: github.Int64(s.cfg.InstallationID), NodeID: github.String(fmt.Sprintf("I_%d", s.cfg.InstallationID))}
}

func (s *Server) pullRequestEvent(r *repo, is *issue, action string, sender *github.User, changes *github.EditChange) *github.PullRequestEvent {
	return &github.PullRequestEvent{
		Action: github.String(action), Number: github.Int(is.number),
		PullRequest: s.pullJSON(r, is, false), Repo: s.repoJSON(r), Sender: sender,
		Installation: s.eventInstallation(), Changes: changes,
	}
}

func (s *Server) sendPullRequest(r *repo, is *issue, action string, sender *github.User, changes *github.EditChange) {
	s.hooks.enqueue("pull_request", s.pullRequestEvent(r, is, action, sender, changes))
}
