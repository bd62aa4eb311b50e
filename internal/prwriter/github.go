package prwriter

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/google/go-github/v60/github"
)

// GitHub is every GitHub call the writer makes: the git data calls that
// build a commit and move a branch, the pull request calls, review
// requests, labels and commit statuses. repo is always owner/name.
//
// Errors are go-github's own (*github.ErrorResponse, the rate-limit
// errors, network errors) and unmarked: the writer reads the statuses it
// handles itself before it decides a failure's fate.
type GitHub interface {
	StatusSetter

	// CreateBlob stores content that cannot travel inline in a tree (it
	// is not UTF-8) and returns the blob's SHA.
	CreateBlob(ctx context.Context, repo string, content []byte) (sha string, err error)
	// CreateTree makes a tree that is baseTree with entries written over it.
	CreateTree(ctx context.Context, repo, baseTree string, entries []TreeEntry) (sha string, err error)
	// CreateCommit makes a commit of tree with parents (the first parent
	// first).
	CreateCommit(ctx context.Context, repo, message, tree string, parents ...string) (sha string, err error)
	// GetRef reads the commit a branch points at.
	GetRef(ctx context.Context, repo, branch string) (sha string, err error)
	// CreateRef creates a branch; GitHub answers 422 when it exists.
	CreateRef(ctx context.Context, repo, branch, sha string) error
	// UpdateRef moves a branch; without force GitHub answers 422 unless
	// the move is a fast-forward (or the branch is protected), and with
	// force it answers 422 when a ruleset or a branch protection forbids
	// force pushes.
	UpdateRef(ctx context.Context, repo, branch, sha string, force bool) error

	// CreatePull opens a pull request; GitHub answers 422 when one is
	// already open for the same head and base.
	CreatePull(ctx context.Context, repo string, pr NewPull) (PR, error)
	// EditPull sets a pull request's title and body; 404 when it is gone.
	EditPull(ctx context.Context, repo string, number int, title, body string) (PR, error)
	// ListOpenPulls lists the open pull requests from branch head (in repo)
	// into base, every page of them.
	ListOpenPulls(ctx context.Context, repo, head, base string) ([]PR, error)
	// GetPull reads a pull request, mergeability included.
	GetPull(ctx context.Context, repo string, number int) (PR, error)
	// MergePull merges a pull request if its head is still headSHA.
	MergePull(ctx context.Context, repo string, number int, headSHA string) error
	// RequestReviewers asks users and teams (slugs in repo's organization)
	// for a review. GitHub answers 422 and requests nobody when one of
	// them cannot review (not a collaborator, a team without access, the
	// pull request's author).
	RequestReviewers(ctx context.Context, repo string, number int, users, teams []string) error
	// AddLabels adds labels to a pull request.
	AddLabels(ctx context.Context, repo string, number int, labels []string) error

	// ListComments lists the comments of an issue or pull request, every
	// page of them, oldest first.
	ListComments(ctx context.Context, repo string, number int) ([]Comment, error)
	// CreateComment comments on an issue or pull request.
	CreateComment(ctx context.Context, repo string, number int, body string) (Comment, error)
	// EditComment replaces a comment's body; 404 when it is gone.
	EditComment(ctx context.Context, repo string, id int64, body string) error
}

// StatusSetter is the one call Status makes, for callers that report
// without writing.
type StatusSetter interface {
	CreateStatus(ctx context.Context, repo, sha string, s CommitStatus) error
}

// TreeEntry is one file written into a tree: inline Content, or the SHA of
// a blob made before when the content is binary.
type TreeEntry struct {
	Path    string
	Content string // used when SHA is empty
	SHA     string
	// Mode is the file's git mode: "100644" (the default when empty) or
	// "100755" for an executable.
	Mode string
}

// Comment is a comment on an issue or pull request.
type Comment struct {
	ID   int64
	Body string
}

// NewPull is a pull request to open.
type NewPull struct {
	Title, Body string
	Head, Base  string // branch names in the same repository
}

// PR is what the writer reads back about a pull request.
type PR struct {
	Number int
	URL    string // the page people open
	State  string // "open" or "closed"
	// HeadSHA, Mergeable and MergeableState are what auto-merge decides on.
	HeadSHA        string
	Mergeable      bool
	MergeableState string // "clean" when checks pass and nothing blocks
}

// CommitStatus is one status on a commit.
type CommitStatus struct {
	State       string // error, failure, pending or success
	Context     string
	Description string
	TargetURL   string // optional
}

// Git file modes the writer writes.
const (
	ModeFile       = "100644"
	ModeExecutable = "100755"
)

// GitHub pages lists at 30 items unless asked for more, and gives at most
// 100 a page. maxPages bounds a listing that never ends (10,000 items).
const (
	maxPerPage = 100
	maxPages   = 100
)

// REST adapts a go-github v60 client to GitHub.
func REST(gh *github.Client) GitHub { return rest{gh} }

type rest struct{ gh *github.Client }

func split(repo string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" {
		return "", "", fmt.Errorf("invalid repository %q", repo)
	}
	return owner, name, nil
}

func (r rest) CreateBlob(ctx context.Context, repo string, content []byte) (string, error) {
	owner, name, err := split(repo)
	if err != nil {
		return "", err
	}
	b, _, err := r.gh.Git.CreateBlob(ctx, owner, name, &github.Blob{
		Content: github.String(base64.StdEncoding.EncodeToString(content)), Encoding: github.String("base64"),
	})
	return b.GetSHA(), err
}

func (r rest) CreateTree(ctx context.Context, repo, baseTree string, entries []TreeEntry) (string, error) {
	owner, name, err := split(repo)
	if err != nil {
		return "", err
	}
	es := make([]*github.TreeEntry, 0, len(entries))
	for _, e := range entries {
		mode := e.Mode
		if mode == "" {
			mode = ModeFile
		}
		te := &github.TreeEntry{Path: github.String(e.Path), Mode: github.String(mode), Type: github.String("blob")}
		if e.SHA != "" {
			te.SHA = github.String(e.SHA)
		} else {
			te.Content = github.String(e.Content)
		}
		es = append(es, te)
	}
	t, _, err := r.gh.Git.CreateTree(ctx, owner, name, baseTree, es)
	return t.GetSHA(), err
}

func (r rest) CreateCommit(ctx context.Context, repo, message, tree string, parents ...string) (string, error) {
	owner, name, err := split(repo)
	if err != nil {
		return "", err
	}
	ps := make([]*github.Commit, 0, len(parents))
	for _, p := range parents {
		ps = append(ps, &github.Commit{SHA: github.String(p)})
	}
	c, _, err := r.gh.Git.CreateCommit(ctx, owner, name, &github.Commit{
		Message: github.String(message),
		Tree:    &github.Tree{SHA: github.String(tree)},
		Parents: ps,
	}, nil)
	return c.GetSHA(), err
}

func (r rest) GetRef(ctx context.Context, repo, branch string) (string, error) {
	owner, name, err := split(repo)
	if err != nil {
		return "", err
	}
	ref, _, err := r.gh.Git.GetRef(ctx, owner, name, "heads/"+branch)
	return ref.GetObject().GetSHA(), err
}

func branchRef(branch, sha string) *github.Reference {
	return &github.Reference{Ref: github.String("refs/heads/" + branch), Object: &github.GitObject{SHA: github.String(sha)}}
}

func (r rest) CreateRef(ctx context.Context, repo, branch, sha string) error {
	owner, name, err := split(repo)
	if err != nil {
		return err
	}
	_, _, err = r.gh.Git.CreateRef(ctx, owner, name, branchRef(branch, sha))
	return err
}

func (r rest) UpdateRef(ctx context.Context, repo, branch, sha string, force bool) error {
	owner, name, err := split(repo)
	if err != nil {
		return err
	}
	_, _, err = r.gh.Git.UpdateRef(ctx, owner, name, branchRef(branch, sha), force)
	return err
}

func pull(pr *github.PullRequest) PR {
	return PR{
		Number: pr.GetNumber(), URL: pr.GetHTMLURL(), State: pr.GetState(),
		HeadSHA: pr.GetHead().GetSHA(), Mergeable: pr.GetMergeable(), MergeableState: pr.GetMergeableState(),
	}
}

func (r rest) CreatePull(ctx context.Context, repo string, p NewPull) (PR, error) {
	owner, name, err := split(repo)
	if err != nil {
		return PR{}, err
	}
	pr, _, err := r.gh.PullRequests.Create(ctx, owner, name, &github.NewPullRequest{
		Title: github.String(p.Title), Body: github.String(p.Body),
		Head: github.String(p.Head), Base: github.String(p.Base),
		// The branch is promobot's: it rebuilds it on every promotion, so
		// pushes from others would be lost.
		MaintainerCanModify: github.Bool(false),
	})
	return pull(pr), err
}

func (r rest) EditPull(ctx context.Context, repo string, number int, title, body string) (PR, error) {
	owner, name, err := split(repo)
	if err != nil {
		return PR{}, err
	}
	pr, _, err := r.gh.PullRequests.Edit(ctx, owner, name, number, &github.PullRequest{Title: github.String(title), Body: github.String(body)})
	return pull(pr), err
}

func (r rest) ListOpenPulls(ctx context.Context, repo, head, base string) ([]PR, error) {
	owner, name, err := split(repo)
	if err != nil {
		return nil, err
	}
	opts := &github.PullRequestListOptions{
		State: "open", Head: owner + ":" + head, Base: base,
		ListOptions: github.ListOptions{PerPage: maxPerPage},
	}
	var out []PR
	for pages := 0; ; pages++ {
		prs, resp, err := r.gh.PullRequests.List(ctx, owner, name, opts)
		if err != nil {
			return nil, err
		}
		for _, pr := range prs {
			out = append(out, pull(pr))
		}
		if resp == nil || resp.NextPage == 0 || pages >= maxPages {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

func (r rest) GetPull(ctx context.Context, repo string, number int) (PR, error) {
	owner, name, err := split(repo)
	if err != nil {
		return PR{}, err
	}
	pr, _, err := r.gh.PullRequests.Get(ctx, owner, name, number)
	return pull(pr), err
}

func (r rest) MergePull(ctx context.Context, repo string, number int, headSHA string) error {
	owner, name, err := split(repo)
	if err != nil {
		return err
	}
	_, _, err = r.gh.PullRequests.Merge(ctx, owner, name, number, "", &github.PullRequestOptions{SHA: headSHA, MergeMethod: "merge"})
	return err
}

func (r rest) RequestReviewers(ctx context.Context, repo string, number int, users, teams []string) error {
	owner, name, err := split(repo)
	if err != nil {
		return err
	}
	_, _, err = r.gh.PullRequests.RequestReviewers(ctx, owner, name, number, github.ReviewersRequest{Reviewers: users, TeamReviewers: teams})
	return err
}

func (r rest) ListComments(ctx context.Context, repo string, number int) ([]Comment, error) {
	owner, name, err := split(repo)
	if err != nil {
		return nil, err
	}
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: maxPerPage}}
	var out []Comment
	for pages := 0; ; pages++ {
		cs, resp, err := r.gh.Issues.ListComments(ctx, owner, name, number, opts)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			out = append(out, Comment{ID: c.GetID(), Body: c.GetBody()})
		}
		if resp == nil || resp.NextPage == 0 || pages >= maxPages {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

func (r rest) CreateComment(ctx context.Context, repo string, number int, body string) (Comment, error) {
	owner, name, err := split(repo)
	if err != nil {
		return Comment{}, err
	}
	c, _, err := r.gh.Issues.CreateComment(ctx, owner, name, number, &github.IssueComment{Body: github.String(body)})
	return Comment{ID: c.GetID(), Body: c.GetBody()}, err
}

func (r rest) EditComment(ctx context.Context, repo string, id int64, body string) error {
	owner, name, err := split(repo)
	if err != nil {
		return err
	}
	_, _, err = r.gh.Issues.EditComment(ctx, owner, name, id, &github.IssueComment{Body: github.String(body)})
	return err
}

func (r rest) AddLabels(ctx context.Context, repo string, number int, labels []string) error {
	owner, name, err := split(repo)
	if err != nil {
		return err
	}
	_, _, err = r.gh.Issues.AddLabelsToIssue(ctx, owner, name, number, labels)
	return err
}

func (r rest) CreateStatus(ctx context.Context, repo, sha string, s CommitStatus) error {
	owner, name, err := split(repo)
	if err != nil {
		return err
	}
	st := &github.RepoStatus{State: github.String(s.State), Context: github.String(s.Context), Description: github.String(s.Description)}
	if s.TargetURL != "" {
		st.TargetURL = github.String(s.TargetURL)
	}
	_, _, err = r.gh.Repositories.CreateStatus(ctx, owner, name, sha, st)
	return err
}
