package githubtest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/go-github/v60/github"
)

// review is one submitted pull request review.
type review struct {
	id        int64
	user      *github.User
	state     string // APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED
	body      string
	commit    string
	submitted time.Time
}

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
	is.pr.reviews = append(is.pr.reviews, &review{id: s.newID(), user: s.user(user, "User"), state: state,
		commit: is.pr.headSHA, submitted: now()})
	return nil
}

// handleListReviews lists a pull request's reviews, oldest first, paged
// like GitHub (per_page up to 100, Link header).
func (s *Server) handleListReviews(c *reqCtx) {
	is, ok := c.pull()
	if !ok {
		return
	}
	n := strconv.Itoa(is.number)
	base := s.URL() + "/" + c.repo.fullName()
	out := make([]*github.PullRequestReview, 0, len(is.pr.reviews))
	for _, rv := range is.pr.reviews {
		html := base + "/pull/" + n + "#pullrequestreview-" + strconv.FormatInt(rv.id, 10)
		out = append(out, &github.PullRequestReview{
			ID: github.Int64(rv.id), NodeID: github.String(fmt.Sprintf("PRR_%d", rv.id)), User: rv.user,
			Body: github.String(rv.body), State: github.String(rv.state), CommitID: github.String(rv.commit),
			HTMLURL: github.String(html), PullRequestURL: github.String(s.URL() + "/repos/" + c.repo.fullName() + "/pulls/" + n),
			AuthorAssociation: github.String("MEMBER"), SubmittedAt: ts(rv.submitted),
		})
	}
	c.json(http.StatusOK, paginate(c, out))
}
