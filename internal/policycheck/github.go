package policycheck

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/policy"
)

// Pull is what the policy check reads of a pull request.
type Pull struct {
	Number  int
	State   string // open, closed
	Title   string
	Body    string
	HeadSHA string
	HeadRef string
	BaseRef string
	Author  string // login of the user who opened it
}

// PullFile is one file a pull request changes, as GitHub lists them.
type PullFile struct {
	Path         string
	PreviousPath string // set when Status is "renamed"
	Status       string // added, removed, modified, renamed, copied, changed, unchanged
	SHA          string // blob of the head version ("" when removed)
}

// CheckRun is the promobot/policy check run as written.
type CheckRun struct {
	HeadSHA     string
	Conclusion  string
	Title       string
	Summary     string
	Annotations []policy.Annotation
	CompletedAt time.Time
}

// Existing is a check run found on a commit.
type Existing struct {
	ID          int64
	Conclusion  string
	Title       string
	Summary     string
	Annotations int // annotations_count
}

// GitHub is every call the policy check makes.
type GitHub interface {
	GetPull(ctx context.Context, repo string, number int) (Pull, error)
	// PullFiles lists at most MaxFiles files (GitHub's own limit).
	PullFiles(ctx context.Context, repo string, number int) ([]PullFile, error)
	Blob(ctx context.Context, repo, sha string) ([]byte, error)
	// FindCheckRun returns the latest check run named name on sha (ok false: none).
	FindCheckRun(ctx context.Context, repo, sha, name string) (Existing, bool, error)
	CreateCheckRun(ctx context.Context, repo string, r CheckRun) (int64, error)
	UpdateCheckRun(ctx context.Context, repo string, id int64, r CheckRun) error
}

// MaxFiles is how many files GitHub lists for one pull request.
const MaxFiles = 3000

// MaxAnnotations is how many annotations one check run request carries.
const MaxAnnotations = 50

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

func (r rest) GetPull(ctx context.Context, repo string, number int) (Pull, error) {
	owner, name, err := split(repo)
	if err != nil {
		return Pull{}, err
	}
	pr, _, err := r.gh.PullRequests.Get(ctx, owner, name, number)
	if err != nil {
		return Pull{}, err
	}
	return Pull{Number: pr.GetNumber(), State: pr.GetState(), Title: pr.GetTitle(), Body: pr.GetBody(),
		HeadSHA: pr.GetHead().GetSHA(), HeadRef: pr.GetHead().GetRef(), BaseRef: pr.GetBase().GetRef(),
		Author: pr.GetUser().GetLogin()}, nil
}

func (r rest) PullFiles(ctx context.Context, repo string, number int) ([]PullFile, error) {
	owner, name, err := split(repo)
	if err != nil {
		return nil, err
	}
	var out []PullFile
	opts := &github.ListOptions{PerPage: 100}
	for len(out) < MaxFiles {
		fs, resp, err := r.gh.PullRequests.ListFiles(ctx, owner, name, number, opts)
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			out = append(out, PullFile{Path: f.GetFilename(), PreviousPath: f.GetPreviousFilename(), Status: f.GetStatus(), SHA: f.GetSHA()})
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return out, nil
}

func (r rest) Blob(ctx context.Context, repo, sha string) ([]byte, error) {
	owner, name, err := split(repo)
	if err != nil {
		return nil, err
	}
	b, _, err := r.gh.Git.GetBlob(ctx, owner, name, sha)
	if err != nil {
		return nil, err
	}
	if b.GetEncoding() != "base64" {
		return []byte(b.GetContent()), nil
	}
	data, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(b.GetContent(), "\n", ""))
	if err != nil {
		return nil, fmt.Errorf("decode blob %s: %w", sha, err)
	}
	return data, nil
}

func (r rest) FindCheckRun(ctx context.Context, repo, sha, checkName string) (Existing, bool, error) {
	owner, name, err := split(repo)
	if err != nil {
		return Existing{}, false, err
	}
	res, _, err := r.gh.Checks.ListCheckRunsForRef(ctx, owner, name, sha, &github.ListCheckRunsOptions{
		CheckName: github.String(checkName), Filter: github.String("latest"), ListOptions: github.ListOptions{PerPage: 1},
	})
	if err != nil || len(res.CheckRuns) == 0 {
		return Existing{}, false, err
	}
	run := res.CheckRuns[0]
	return Existing{ID: run.GetID(), Conclusion: run.GetConclusion(), Title: run.GetOutput().GetTitle(),
		Summary: run.GetOutput().GetSummary(), Annotations: run.GetOutput().GetAnnotationsCount()}, true, nil
}

func output(r CheckRun) *github.CheckRunOutput {
	out := &github.CheckRunOutput{Title: github.String(r.Title), Summary: github.String(r.Summary)}
	for i, a := range r.Annotations {
		if i == MaxAnnotations {
			break
		}
		out.Annotations = append(out.Annotations, &github.CheckRunAnnotation{
			Path: github.String(a.Path), StartLine: github.Int(a.Line), EndLine: github.Int(a.Line),
			AnnotationLevel: github.String("failure"), Title: github.String(policy.CheckName), Message: github.String(a.Message),
		})
	}
	return out
}

func (r rest) CreateCheckRun(ctx context.Context, repo string, c CheckRun) (int64, error) {
	owner, name, err := split(repo)
	if err != nil {
		return 0, err
	}
	run, _, err := r.gh.Checks.CreateCheckRun(ctx, owner, name, github.CreateCheckRunOptions{
		Name: policy.CheckName, HeadSHA: c.HeadSHA, Status: github.String("completed"), Conclusion: github.String(c.Conclusion),
		CompletedAt: &github.Timestamp{Time: c.CompletedAt}, Output: output(c),
	})
	return run.GetID(), err
}

func (r rest) UpdateCheckRun(ctx context.Context, repo string, id int64, c CheckRun) error {
	owner, name, err := split(repo)
	if err != nil {
		return err
	}
	_, _, err = r.gh.Checks.UpdateCheckRun(ctx, owner, name, id, github.UpdateCheckRunOptions{
		Name: policy.CheckName, Status: github.String("completed"), Conclusion: github.String(c.Conclusion),
		CompletedAt: &github.Timestamp{Time: c.CompletedAt}, Output: output(c),
	})
	return err
}

// MaxOpenPulls is how many open pull requests OpenPulls lists: one page,
// the most recently created first.
const MaxOpenPulls = 100

// OpenPulls lists the open pull requests into base (at most MaxOpenPulls).
func (r rest) OpenPulls(ctx context.Context, repo, base string) ([]Pull, error) {
	owner, name, err := split(repo)
	if err != nil {
		return nil, err
	}
	prs, _, err := r.gh.PullRequests.List(ctx, owner, name, &github.PullRequestListOptions{
		State: "open", Base: base, ListOptions: github.ListOptions{PerPage: MaxOpenPulls},
	})
	if err != nil {
		return nil, err
	}
	out := make([]Pull, 0, len(prs))
	for _, pr := range prs {
		out = append(out, Pull{Number: pr.GetNumber(), State: pr.GetState(), Title: pr.GetTitle(),
			HeadSHA: pr.GetHead().GetSHA(), HeadRef: pr.GetHead().GetRef(), BaseRef: pr.GetBase().GetRef(),
			Author: pr.GetUser().GetLogin()})
	}
	return out, nil
}
