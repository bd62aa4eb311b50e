package githubtest

import (
	"fmt"
	"strconv"

	"github.com/google/go-github/v60/github"
)

// ImportMergedPull records pull request number of repo as merged from
// branch head into base by user at mergeSHA: the record of a PR whose merge
// is already in the repository's history (pushed by a test), so that its
// reviews can be asked for. The number must be free.
func (s *Server) ImportMergedPull(repoName string, number int, head, base, title, user, mergeSHA string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return err
	}
	if number <= 0 || r.issues[number] != nil {
		return fmt.Errorf("pull request number %d is taken or invalid in %s", number, repoName)
	}
	t := now()
	u := s.user(user, "User")
	r.issues[number] = &issue{id: s.newID(), number: number, title: title, user: u, state: "closed",
		created: t, updated: t, closed: t, labels: []string{},
		pr: &pull{head: head, base: base, headSHA: mergeSHA, baseSHA: mergeSHA, merged: true, mergedAt: t, mergedBy: u, mergeSHA: mergeSHA}}
	r.nextNumber = max(r.nextNumber, number)
	return nil
}

// Review submits a review of pull request number as user with state
// APPROVED, CHANGES_REQUESTED, COMMENTED or DISMISSED.
func (s *Server) Review(repoName string, number int, user, state string) error {
	switch state {
	case "APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED":
	default:
		return fmt.Errorf("review state %q", state)
	}
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
	// Recorded without a webhook: the review of a PR already merged in a
	// history a test pushed (see ImportMergedPull).
	rv := &github.PullRequestReview{ID: github.Int64(s.newID()), User: s.user(user, "User"), Body: github.String(""),
		State: github.String(state), CommitID: github.String(is.pr.headSHA), SubmittedAt: ts(now()),
		AuthorAssociation: github.String(s.association(r, user)),
		PullRequestURL:    github.String(s.apiURL(r, "pulls", strconv.Itoa(number)))}
	rv.NodeID = github.String(fmt.Sprintf("PRR_%d", rv.GetID()))
	rv.HTMLURL = github.String(s.htmlURL(r, "pull", strconv.Itoa(number)) + "#pullrequestreview-" + fmt.Sprint(rv.GetID()))
	r.ci().reviews[number] = append(r.ci().reviews[number], rv)
	return nil
}
