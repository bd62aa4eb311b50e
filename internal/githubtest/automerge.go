package githubtest

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
)

// autoMerge is a pull request's auto-merge request (GraphQL
// enablePullRequestAutoMerge): GitHub merges it itself once its required
// checks and reviews are satisfied.
type autoMerge struct {
	method      string // merge, squash or rebase
	enabledBy   *github.User
	enabledAt   time.Time
	title, body *string
}

func (s *Server) autoMergeJSON(r *repo, is *issue) *github.PullRequestAutoMerge {
	am := r.ci().autoMerge[is.number]
	if am == nil || is.state != "open" {
		return nil
	}
	return &github.PullRequestAutoMerge{EnabledBy: am.enabledBy, MergeMethod: github.String(am.method),
		CommitTitle: am.title, CommitMessage: am.body}
}

// checksChanged lets auto-merge act on the open pull requests whose head
// is sha, after a status or check run on it changed.
func (s *Server) checksChanged(r *repo, sha string) {
	for _, n := range sortedNumbers(r) {
		if is := r.issues[n]; is.pr != nil && is.state == "open" && is.pr.headSHA == sha {
			s.tryAutoMerge(r, is)
		}
	}
}

// checksChangedAll lets auto-merge act on every open pull request (the
// branch protection changed).
func (s *Server) checksChangedAll(r *repo) {
	for _, n := range sortedNumbers(r) {
		if is := r.issues[n]; is.pr != nil && is.state == "open" {
			s.tryAutoMerge(r, is)
		}
	}
}

// tryAutoMerge merges is if auto-merge is enabled and nothing blocks it,
// as the user who enabled it, sending closed and push like the merge button.
func (s *Server) tryAutoMerge(r *repo, is *issue) {
	am := r.ci().autoMerge[is.number]
	if am == nil || is.state != "open" {
		return
	}
	_, state := s.computeMergeState(r, is, s.baseTip(r, is))
	if state != "clean" && state != "unstable" {
		return
	}
	o := mergeOpts{MergeMethod: am.method, CommitMessage: am.body}
	if am.title != nil {
		o.CommitTitle = *am.title
	}
	if _, status, msg := s.merge(r, is, am.enabledBy, o); status != 200 {
		s.logf("githubtest: auto-merge of %s#%d: %d %s", r.fullName(), is.number, status, msg)
		return
	}
	delete(r.ci().autoMerge, is.number)
}

// enableAutoMerge is enablePullRequestAutoMerge; it answers GitHub's
// refusal ("" when enabled).
func (s *Server) enableAutoMerge(r *repo, is *issue, method string, by *github.User, title, body *string) string {
	method = strings.ToLower(method)
	if method == "" {
		method = "merge"
	}
	switch {
	case !r.ci().settings.AllowAutoMerge:
		return "Auto merge is not allowed for this repository"
	case is.state != "open":
		return "Pull request is closed"
	}
	if msg := mergeMethodRefusal(r, method); msg != "" {
		return msg
	}
	switch _, state := s.computeMergeState(r, is, s.baseTip(r, is)); state {
	case "clean", "unstable", "dirty", "draft":
		return "Pull request Pull request is in " + state + " status"
	}
	r.ci().autoMerge[is.number] = &autoMerge{method: method, enabledBy: by, enabledAt: now(), title: title, body: body}
	return ""
}

// EnableAutoMerge enables auto-merge on pull request number as user, as
// the GraphQL mutation does.
func (s *Server) EnableAutoMerge(repoName string, number int, method, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return err
	}
	is := r.issues[number]
	if is == nil || is.pr == nil {
		return fmt.Errorf("pull request %d not found in %s", number, repoName)
	}
	if msg := s.enableAutoMerge(r, is, method, s.user(user, "User"), nil, nil); msg != "" {
		return fmt.Errorf("enable auto-merge: %s", msg)
	}
	return nil
}

// pullDetail is a single pull request as GitHub answers it, with the
// members it sends as null rather than leaving out: mergeable and
// rebaseable before the background computation, auto_merge and merged_by
// when unset.
type pullDetail struct {
	*github.PullRequest
	Mergeable  *bool                        `json:"mergeable"`
	Rebaseable *bool                        `json:"rebaseable"`
	AutoMerge  *github.PullRequestAutoMerge `json:"auto_merge"`
	MergedBy   *github.User                 `json:"merged_by"`
}

func (s *Server) pullDetail(r *repo, is *issue) pullDetail {
	pr := s.pullJSON(r, is, true)
	return pullDetail{PullRequest: pr, Mergeable: pr.Mergeable, Rebaseable: pr.Rebaseable, AutoMerge: pr.AutoMerge, MergedBy: pr.MergedBy}
}
