package chatops

import (
	"context"
	"strings"

	"github.com/google/go-github/v60/github"
)

// GitHub is every GitHub call ChatOps makes. It is declared here, where it
// is used, so a test fakes these few calls and nothing else. Errors are
// GitHub's own: ChatOps reads their status and marks their fate itself.
type GitHub interface {
	// Permission is user's permission on repo ("admin", "maintain",
	// "write", "triage", "read" or "none").
	Permission(ctx context.Context, repo, user string) (string, error)
	// TeamMembership is the state of user's membership in the team
	// org/slug ("active" or "pending").
	TeamMembership(ctx context.Context, org, slug, user string) (string, error)
	// React puts a reaction ("eyes") on an issue comment.
	React(ctx context.Context, repo string, commentID int64, content string) error
	// PullRequest reads pull request number.
	PullRequest(ctx context.Context, repo string, number int) (PullRequest, error)
	// PullRequestFiles lists one page of the paths a pull request changes
	// (page 0 is the first); next is 0 after the last page.
	PullRequestFiles(ctx context.Context, repo string, number, page int) (paths []string, next int, err error)
	// IssueComments lists one page of an issue's comments, oldest first
	// (page 0 is the first); next is 0 after the last page.
	IssueComments(ctx context.Context, repo string, issue, page int) (comments []Comment, next int, err error)
	// CreateComment comments on an issue and returns the comment's id.
	CreateComment(ctx context.Context, repo string, issue int, body string) (int64, error)
	// EditComment replaces an issue comment's body.
	EditComment(ctx context.Context, repo string, commentID int64, body string) error
}

// PullRequest is what ChatOps reads of a pull request.
type PullRequest struct {
	Body     string
	Merged   bool
	User     string // the author's login
	UserType string // the author's account type: "User", "Bot", "Organization"
	HeadRef  string // the head branch
	HeadRepo string // owner/name of the head branch's repository
}

// Comment is one issue comment.
type Comment struct {
	ID       int64
	Body     string
	User     string // the author's login
	UserType string // the author's account type
}

// REST adapts a go-github client (github.com/google/go-github/v60/github) to GitHub.
func REST(gh *github.Client) GitHub { return rest{gh} }

type rest struct{ gh *github.Client }

// perPage is GitHub's largest page: the fewest calls for a long list.
const perPage = 100

func (r rest) Permission(ctx context.Context, repo, user string) (string, error) {
	owner, name, _ := strings.Cut(repo, "/")
	p, _, err := r.gh.Repositories.GetPermissionLevel(ctx, owner, name, user)
	if err != nil {
		return "", err
	}
	return p.GetPermission(), nil
}

func (r rest) TeamMembership(ctx context.Context, org, slug, user string) (string, error) {
	m, _, err := r.gh.Teams.GetTeamMembershipBySlug(ctx, org, slug, user)
	if err != nil {
		return "", err
	}
	return m.GetState(), nil
}

func (r rest) React(ctx context.Context, repo string, commentID int64, content string) error {
	owner, name, _ := strings.Cut(repo, "/")
	_, _, err := r.gh.Reactions.CreateIssueCommentReaction(ctx, owner, name, commentID, content)
	return err
}

func (r rest) PullRequest(ctx context.Context, repo string, number int) (PullRequest, error) {
	owner, name, _ := strings.Cut(repo, "/")
	pr, _, err := r.gh.PullRequests.Get(ctx, owner, name, number)
	if err != nil {
		return PullRequest{}, err
	}
	return PullRequest{
		Body:     pr.GetBody(),
		Merged:   pr.GetMerged(),
		User:     pr.GetUser().GetLogin(),
		UserType: pr.GetUser().GetType(),
		HeadRef:  pr.GetHead().GetRef(),
		HeadRepo: pr.GetHead().GetRepo().GetFullName(),
	}, nil
}

func (r rest) PullRequestFiles(ctx context.Context, repo string, number, page int) ([]string, int, error) {
	owner, name, _ := strings.Cut(repo, "/")
	fs, resp, err := r.gh.PullRequests.ListFiles(ctx, owner, name, number, &github.ListOptions{PerPage: perPage, Page: page})
	if err != nil {
		return nil, 0, err
	}
	paths := make([]string, 0, len(fs))
	for _, f := range fs {
		paths = append(paths, f.GetFilename())
	}
	return paths, resp.NextPage, nil
}

func (r rest) IssueComments(ctx context.Context, repo string, issue, page int) ([]Comment, int, error) {
	owner, name, _ := strings.Cut(repo, "/")
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: perPage, Page: page}}
	cs, resp, err := r.gh.Issues.ListComments(ctx, owner, name, issue, opts)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Comment, 0, len(cs))
	for _, c := range cs {
		out = append(out, Comment{ID: c.GetID(), Body: c.GetBody(), User: c.GetUser().GetLogin(), UserType: c.GetUser().GetType()})
	}
	return out, resp.NextPage, nil
}

func (r rest) CreateComment(ctx context.Context, repo string, issue int, body string) (int64, error) {
	owner, name, _ := strings.Cut(repo, "/")
	c, _, err := r.gh.Issues.CreateComment(ctx, owner, name, issue, &github.IssueComment{Body: github.String(body)})
	if err != nil {
		return 0, err
	}
	return c.GetID(), nil
}

func (r rest) EditComment(ctx context.Context, repo string, commentID int64, body string) error {
	owner, name, _ := strings.Cut(repo, "/")
	_, _, err := r.gh.Issues.EditComment(ctx, owner, name, commentID, &github.IssueComment{Body: github.String(body)})
	return err
}
