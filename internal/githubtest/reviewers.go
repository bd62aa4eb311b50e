package githubtest

import (
	"fmt"
	"net/http"
	"strings"
)

// Review requests: GitHub refuses the whole request with 422 when one
// user or team in it cannot review, and requests nobody in that case.

const reviewDocs = "https://docs.github.com/rest/pulls/review-requests#request-reviewers-for-a-pull-request"

// Messages GitHub answers a refused review request with.
const (
	msgReviewAuthor = "Review cannot be requested from pull request author."
	msgNotCollabFmt = "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the %s repository."
)

var teamPermLevels = map[string]bool{"pull": true, "triage": true, "push": true, "maintain": true, "admin": true, "none": true}

// SetTeamPermission gives team ("org/slug", org being repo's owner) perm on
// repo: pull, triage, push, maintain, admin, or none to take access away.
// The team is created if it does not exist.
//
// A team of the repository's organisation that has members (AddTeamMember)
// and no permission set here has pull access: the setup older tests and
// the demo use. Set "none" to model a team without access.
func (s *Server) SetTeamPermission(repoName, team, perm string) error {
	if !teamPermLevels[perm] {
		return fmt.Errorf("unknown team permission %q", perm)
	}
	org, slug, ok := strings.Cut(team, "/")
	if !ok || org == "" || slug == "" || strings.Contains(slug, "/") {
		return fmt.Errorf("team %q is not org/slug", team)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return err
	}
	if !strings.EqualFold(org, r.owner) {
		return fmt.Errorf("team %s belongs to %s, not to %s's owner", team, org, repoName)
	}
	k := strings.ToLower(team)
	if s.teams[k] == nil {
		s.teams[k] = map[string]bool{}
	}
	r.extras().teamPerms[strings.ToLower(slug)] = perm
	return nil
}

// teamCanReview reports whether slug names a team of r's organisation with
// access to r. A slug is all GitHub takes: "org/slug" names no team.
func (s *Server) teamCanReview(r *repo, slug string) bool {
	if slug == "" || strings.Contains(slug, "/") {
		return false
	}
	if _, ok := s.teams[strings.ToLower(r.owner+"/"+slug)]; !ok {
		return false
	}
	perm, set := r.extras().teamPerms[strings.ToLower(slug)]
	return !set || perm != "none"
}

// userCanReview reports whether login has access to r: as a collaborator
// or through a team of r's organisation that has access.
func (s *Server) userCanReview(r *repo, login string) bool {
	for u, p := range r.perms {
		if strings.EqualFold(u, login) && p != "" && p != "none" {
			return true
		}
	}
	prefix := strings.ToLower(r.owner) + "/"
	for k, members := range s.teams {
		slug, ok := strings.CutPrefix(k, prefix)
		if !ok || !s.teamCanReview(r, slug) {
			continue
		}
		for m := range members {
			if strings.EqualFold(m, login) {
				return true
			}
		}
	}
	return false
}

func (s *Server) handleRequestReviewers(c *reqCtx) {
	is, ok := c.pull()
	if !ok {
		return
	}
	var in struct {
		Reviewers     []string `json:"reviewers"`
		TeamReviewers []string `json:"team_reviewers"`
	}
	if !c.decode(&in) {
		return
	}
	r := c.repo
	for _, u := range in.Reviewers {
		if strings.EqualFold(u, is.user.GetLogin()) {
			c.refuse(http.StatusUnprocessableEntity, msgReviewAuthor, reviewDocs)
			return
		}
	}
	for _, u := range in.Reviewers {
		if !s.userCanReview(r, u) {
			c.refuse(http.StatusUnprocessableEntity, fmt.Sprintf(msgNotCollabFmt, r.fullName()), reviewDocs)
			return
		}
	}
	for _, t := range in.TeamReviewers {
		if !s.teamCanReview(r, t) {
			c.refuse(http.StatusUnprocessableEntity, fmt.Sprintf(msgNotCollabFmt, r.fullName()), reviewDocs)
			return
		}
	}
	sender := c.p.asUser(s)
	for _, u := range in.Reviewers {
		if !contains(is.pr.reviewers, u) {
			is.pr.reviewers = append(is.pr.reviewers, u)
			ev := s.pullRequestEvent(r, is, "review_requested", sender, nil)
			ev.RequestedReviewer = s.user(u, "User")
			s.hooks.enqueue("pull_request", ev)
		}
	}
	for _, t := range in.TeamReviewers {
		if !contains(is.pr.teams, t) {
			is.pr.teams = append(is.pr.teams, t)
			ev := s.pullRequestEvent(r, is, "review_requested", sender, nil)
			ev.RequestedTeam = s.teamJSON(r.owner, t)
			s.hooks.enqueue("pull_request", ev)
		}
	}
	is.updated = now()
	c.json(http.StatusCreated, s.pullJSON(r, is, false))
}
