// Package prwriter applies a plan to GitHub idempotently: one commit made
// through the Git Data API on a deterministic branch (or directly on the base
// branch), one pull request per target that later promotions update, the
// environment's reviewers and labels, and the replies and statuses people see.
package prwriter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"
)

// File is one file's full new content.
type File struct {
	Path    string
	Content []byte
}

// Change is what to write. The planner's Plan is translated into it by the worker.
type Change struct {
	Repo       string // owner/name
	Key        string // target key (repo/service/env): one PR per key
	BaseBranch string
	BaseSHA    string // the commit the edits were computed against
	BaseTree   string // its root tree
	Branch     string // promotion branch (ignored when Direct)
	// BranchExists says whether Branch exists now (known from the mirror).
	BranchExists bool
	// BranchCurrent says the branch already holds exactly these files: no commit needed.
	BranchCurrent bool
	// BranchStale says the branch proposes nothing the base does not run:
	// its PR was merged or closed, so the remembered PR must not be reused.
	BranchStale   bool
	Direct        bool
	Files         []File
	CommitMessage string
	Title, Body   string
	Users, Teams  []string // reviewers; teams as org/slug
	Labels        []string
	AutoMerge     bool
}

// Result is what was done.
type Result struct {
	CommitSHA string
	Number    int
	URL       string
	Created   bool  // a new PR was opened
	Merged    bool  // auto-merged
	MergeErr  error // why an auto-merge did not happen, when GitHub said no
}

// PRRecord is what the writer remembers per target, so that an update
// needs no search call.
type PRRecord struct {
	Number int    `json:"number"`
	Branch string `json:"branch"`
}

// StateStore remembers the PR of each target key.
type StateStore interface {
	GetPR(ctx context.Context, key string) (PRRecord, bool, error)
	PutPR(ctx context.Context, key string, r PRRecord) error
}

// ErrBaseMoved means a direct commit lost a race with another push to the
// base branch; re-planning on the new head fixes it.
var ErrBaseMoved = errors.New("base branch moved")

// Writer applies changes. It is safe for concurrent use on different keys;
// the caller's lease keeps one key to one writer at a time.
type Writer struct {
	State StateStore
}

// Apply writes c. Re-applying the same change after a crash at any point
// finds what was already made and finishes the job.
func (w *Writer) Apply(ctx context.Context, gh *github.Client, c Change) (Result, error) {
	owner, name, ok := strings.Cut(c.Repo, "/")
	if !ok {
		return Result{}, fmt.Errorf("invalid repository %q", c.Repo)
	}
	if c.Direct {
		sha, err := w.commit(ctx, gh, owner, name, c)
		if err != nil {
			return Result{}, err
		}
		_, _, err = gh.Git.UpdateRef(ctx, owner, name, &github.Reference{
			Ref: github.String("refs/heads/" + c.BaseBranch), Object: &github.GitObject{SHA: github.String(sha)},
		}, false)
		if isStatus(err, http.StatusUnprocessableEntity) {
			// Either someone pushed meanwhile (re-plan on the new head) or the
			// branch refuses direct pushes (protected): only the first retries.
			ref, _, rerr := gh.Git.GetRef(ctx, owner, name, "heads/"+c.BaseBranch)
			if rerr == nil && ref.GetObject().GetSHA() != c.BaseSHA {
				return Result{}, fmt.Errorf("update %s: %w", c.BaseBranch, ErrBaseMoved)
			}
			return Result{}, fmt.Errorf("update %s (protected? use direct: false): %w", c.BaseBranch, err)
		}
		if err != nil {
			return Result{}, fmt.Errorf("update %s: %w", c.BaseBranch, err)
		}
		return Result{CommitSHA: sha}, nil
	}

	var res Result
	if !c.BranchCurrent {
		sha, err := w.commit(ctx, gh, owner, name, c)
		if err != nil {
			return Result{}, err
		}
		if err := setBranch(ctx, gh, owner, name, c.Branch, sha, c.BranchExists); err != nil {
			return Result{}, err
		}
		res.CommitSHA = sha
	}
	pr, created, err := w.ensurePR(ctx, gh, owner, name, c)
	if err != nil {
		return Result{}, err
	}
	res.Number, res.URL, res.Created = pr.GetNumber(), pr.GetHTMLURL(), created
	if c.AutoMerge {
		// The PR exists whatever happens here: a merge GitHub refuses (checks
		// pending, not mergeable yet) leaves it for people to merge, and is
		// not a failed promotion.
		merged, err := tryMerge(ctx, gh, owner, name, pr.GetNumber())
		res.Merged, res.MergeErr = merged, err
	}
	return res, nil
}

// commit makes one commit with every file on top of BaseSHA: a tree with
// inline contents (no blob calls for text) and a commit.
func (w *Writer) commit(ctx context.Context, gh *github.Client, owner, name string, c Change) (string, error) {
	entries := make([]*github.TreeEntry, 0, len(c.Files))
	for _, f := range c.Files {
		e := &github.TreeEntry{Path: github.String(f.Path), Mode: github.String("100644"), Type: github.String("blob")}
		if utf8.Valid(f.Content) {
			e.Content = github.String(string(f.Content))
		} else {
			blob, _, err := gh.Git.CreateBlob(ctx, owner, name, &github.Blob{
				Content: github.String(encodeBase64(f.Content)), Encoding: github.String("base64"),
			})
			if err != nil {
				return "", fmt.Errorf("create blob %s: %w", f.Path, err)
			}
			e.SHA = blob.SHA
		}
		entries = append(entries, e)
	}
	tree, _, err := gh.Git.CreateTree(ctx, owner, name, c.BaseTree, entries)
	if err != nil {
		return "", fmt.Errorf("create tree: %w", err)
	}
	commit, _, err := gh.Git.CreateCommit(ctx, owner, name, &github.Commit{
		Message: github.String(c.CommitMessage),
		Tree:    &github.Tree{SHA: tree.SHA},
		Parents: []*github.Commit{{SHA: github.String(c.BaseSHA)}},
	}, nil)
	if err != nil {
		return "", fmt.Errorf("create commit: %w", err)
	}
	return commit.GetSHA(), nil
}

// setBranch points the promotion branch at sha, creating it when needed.
// The branch is promobot's own: it is rebuilt on the base each time, so the
// update is forced.
func setBranch(ctx context.Context, gh *github.Client, owner, name, branch, sha string, exists bool) error {
	ref := &github.Reference{Ref: github.String("refs/heads/" + branch), Object: &github.GitObject{SHA: github.String(sha)}}
	if !exists {
		_, _, err := gh.Git.CreateRef(ctx, owner, name, ref)
		if err == nil {
			return nil
		}
		if !isStatus(err, http.StatusUnprocessableEntity) {
			return fmt.Errorf("create branch %s: %w", branch, err)
		}
		// Created since the mirror was fetched (a crashed earlier attempt): update it.
	}
	if _, _, err := gh.Git.UpdateRef(ctx, owner, name, ref, true); err != nil {
		return fmt.Errorf("update branch %s: %w", branch, err)
	}
	return nil
}

// ensurePR updates the target's open PR or opens one.
func (w *Writer) ensurePR(ctx context.Context, gh *github.Client, owner, name string, c Change) (*github.PullRequest, bool, error) {
	if rec, ok, err := w.State.GetPR(ctx, c.Key); err != nil {
		return nil, false, fmt.Errorf("read pr state: %w", err)
	} else if ok && rec.Branch == c.Branch && c.BranchExists && !c.BranchStale {
		pr, _, err := gh.PullRequests.Edit(ctx, owner, name, rec.Number, &github.PullRequest{Title: github.String(c.Title), Body: github.String(c.Body)})
		switch {
		case err == nil && pr.GetState() == "open":
			return pr, false, nil
		case err != nil && !isStatus(err, http.StatusNotFound):
			return nil, false, fmt.Errorf("update pull request #%d: %w", rec.Number, err)
		}
		// Closed or gone since: open a new one below.
	}
	pr, _, err := gh.PullRequests.Create(ctx, owner, name, &github.NewPullRequest{
		Title: github.String(c.Title), Body: github.String(c.Body),
		Head: github.String(c.Branch), Base: github.String(c.BaseBranch),
		MaintainerCanModify: github.Bool(false),
	})
	created := err == nil
	if isStatus(err, http.StatusUnprocessableEntity) {
		// An open PR exists for the branch that the state does not know
		// (a crash before PutPR): find it and update it.
		pr, err = findOpen(ctx, gh, owner, name, c)
	}
	if err != nil {
		return nil, false, fmt.Errorf("open pull request: %w", err)
	}
	// Reviewers and labels on a new PR, and again on a found one in case a
	// crash came between opening it and decorating it (both are idempotent).
	// The PR is remembered only once it is decorated: until then a retry
	// takes this path again instead of the update path.
	if len(c.Users)+len(c.Teams) > 0 {
		var teams []string
		for _, t := range c.Teams {
			_, slug, _ := strings.Cut(t, "/")
			teams = append(teams, slug)
		}
		if _, _, err := gh.PullRequests.RequestReviewers(ctx, owner, name, pr.GetNumber(), github.ReviewersRequest{Reviewers: c.Users, TeamReviewers: teams}); err != nil {
			return nil, false, fmt.Errorf("request reviewers on #%d: %w", pr.GetNumber(), err)
		}
	}
	if len(c.Labels) > 0 {
		if _, _, err := gh.Issues.AddLabelsToIssue(ctx, owner, name, pr.GetNumber(), c.Labels); err != nil {
			return nil, false, fmt.Errorf("label #%d: %w", pr.GetNumber(), err)
		}
	}
	if err := w.State.PutPR(ctx, c.Key, PRRecord{Number: pr.GetNumber(), Branch: c.Branch}); err != nil {
		return nil, false, fmt.Errorf("save pr state: %w", err)
	}
	return pr, created, nil
}

func findOpen(ctx context.Context, gh *github.Client, owner, name string, c Change) (*github.PullRequest, error) {
	prs, _, err := gh.PullRequests.List(ctx, owner, name, &github.PullRequestListOptions{
		State: "open", Head: owner + ":" + c.Branch, Base: c.BaseBranch,
	})
	if err != nil {
		return nil, fmt.Errorf("find pull request for %s: %w", c.Branch, err)
	}
	if len(prs) == 0 {
		return nil, fmt.Errorf("no open pull request for %s although GitHub refused a new one", c.Branch)
	}
	pr, _, err := gh.PullRequests.Edit(ctx, owner, name, prs[0].GetNumber(), &github.PullRequest{Title: github.String(c.Title), Body: github.String(c.Body)})
	if err != nil {
		return nil, fmt.Errorf("update pull request #%d: %w", prs[0].GetNumber(), err)
	}
	return pr, nil
}

// tryMerge merges when GitHub reports the PR mergeable with checks passing;
// otherwise it leaves the PR for people (or a later promotion) to merge.
func tryMerge(ctx context.Context, gh *github.Client, owner, name string, number int) (bool, error) {
	pr, _, err := gh.PullRequests.Get(ctx, owner, name, number)
	if err != nil {
		return false, fmt.Errorf("get pull request #%d: %w", number, err)
	}
	if !pr.GetMergeable() || pr.GetMergeableState() != "clean" {
		return false, nil
	}
	_, _, err = gh.PullRequests.Merge(ctx, owner, name, number, "", &github.PullRequestOptions{SHA: pr.GetHead().GetSHA(), MergeMethod: "merge"})
	if err != nil {
		return false, fmt.Errorf("merge pull request #%d: %w", number, err)
	}
	return true, nil
}

func isStatus(err error, code int) bool {
	var er *github.ErrorResponse
	return errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == code
}
