package githubtest

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/go-github/v60/github"
)

var reviewStates = map[string]string{"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}

func (s *Server) handleCreateReview(c *reqCtx) {
	is, ok := c.pull()
	if !ok {
		return
	}
	var in struct {
		CommitID *string `json:"commit_id"`
		Body     string  `json:"body"`
		Event    string  `json:"event"`
	}
	if !c.decode(&in) {
		return
	}
	state, known := reviewStates[in.Event]
	switch {
	case in.Event == "":
		state = "PENDING"
	case !known:
		c.unprocessable("", fieldError{Resource: "PullRequestReview", Field: "event", Code: "invalid"})
		return
	}
	u := c.p.asUser(s)
	if is.state != "open" && state != "COMMENTED" && state != "PENDING" {
		c.json(http.StatusUnprocessableEntity, map[string]any{"message": "Unprocessable Entity",
			"errors": []string{"Can not " + map[string]string{"APPROVED": "approve", "CHANGES_REQUESTED": "request changes on"}[state] + " a closed pull request"}, "documentation_url": docsURL})
		return
	}
	if is.user.GetLogin() == u.GetLogin() && (state == "APPROVED" || state == "CHANGES_REQUESTED") {
		verb := map[string]string{"APPROVED": "approve", "CHANGES_REQUESTED": "request changes on"}[state]
		c.json(http.StatusUnprocessableEntity, map[string]any{"message": "Unprocessable Entity",
			"errors": []string{"Review Can not " + verb + " your own pull request"}, "documentation_url": docsURL})
		return
	}
	if (state == "CHANGES_REQUESTED" || state == "COMMENTED") && in.Body == "" {
		c.json(http.StatusUnprocessableEntity, map[string]any{"message": "Unprocessable Entity",
			"errors": []string{"Review body is required for " + map[string]string{"CHANGES_REQUESTED": "REQUEST_CHANGES", "COMMENTED": "COMMENT"}[state] + " event"}, "documentation_url": docsURL})
		return
	}
	commit := is.pr.headSHA
	if in.CommitID != nil {
		commit = *in.CommitID
	}
	rv := &github.PullRequestReview{ID: github.Int64(s.newID()), User: u, Body: github.String(in.Body), State: github.String(state),
		CommitID: github.String(commit), AuthorAssociation: github.String(s.association(c.repo, u.GetLogin())),
		HTMLURL:        github.String(s.htmlURL(c.repo, "pull", strconv.Itoa(is.number)) + "#pullrequestreview-" + fmt.Sprint(s.nextID)),
		PullRequestURL: github.String(s.apiURL(c.repo, "pulls", strconv.Itoa(is.number)))}
	rv.NodeID = github.String(fmt.Sprintf("PRR_%d", rv.GetID()))
	if state != "PENDING" {
		rv.SubmittedAt = ts(now())
	}
	ci := c.repo.ci()
	ci.reviews[is.number] = append(ci.reviews[is.number], rv)
	if state != "PENDING" {
		s.hooks.enqueue("pull_request_review", &github.PullRequestReviewEvent{Action: github.String("submitted"), Review: rv,
			PullRequest: s.pullJSON(c.repo, is, false), Repo: s.repoJSON(c.repo), Sender: u, Installation: s.eventInstallation()})
		s.checksChanged(c.repo, is.pr.headSHA)
	}
	c.json(http.StatusOK, rv)
}

func (s *Server) handleListReviews(c *reqCtx) {
	is, ok := c.pull()
	if !ok {
		return
	}
	out := append([]*github.PullRequestReview{}, c.repo.ci().reviews[is.number]...)
	c.json(http.StatusOK, paginate(c, out))
}

// approvals counts the users with write access whose latest deciding
// review of is approves it.
func approvals(r *repo, is *issue) int {
	latest := map[string]string{}
	for _, rv := range r.ci().reviews[is.number] {
		if st := rv.GetState(); st == "APPROVED" || st == "CHANGES_REQUESTED" || st == "DISMISSED" {
			latest[rv.GetUser().GetLogin()] = st
		}
	}
	n := 0
	for login, st := range latest {
		switch r.perms[login] {
		case "admin", "maintain", "write":
			if st == "APPROVED" {
				n++
			}
		}
	}
	return n
}

// Approve submits an approving review of pull request number as user,
// through the same path as the API (webhook, auto-merge).
func (s *Server) Approve(repoName string, number int, user string) error {
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
	u := s.user(user, "User")
	rv := &github.PullRequestReview{ID: github.Int64(s.newID()), User: u, Body: github.String(""), State: github.String("APPROVED"),
		CommitID: github.String(is.pr.headSHA), SubmittedAt: ts(now()), AuthorAssociation: github.String(s.association(r, user))}
	rv.NodeID = github.String(fmt.Sprintf("PRR_%d", rv.GetID()))
	r.ci().reviews[number] = append(r.ci().reviews[number], rv)
	s.hooks.enqueue("pull_request_review", &github.PullRequestReviewEvent{Action: github.String("submitted"), Review: rv,
		PullRequest: s.pullJSON(r, is, false), Repo: s.repoJSON(r), Sender: u, Installation: s.eventInstallation()})
	s.checksChanged(r, is.pr.headSHA)
	return nil
}
