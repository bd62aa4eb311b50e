package checkout

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/gitmirror"
	"github.com/promobot/promobot/internal/planner"
)

// CheckReader is the GitHub calls the health gate's results take: the
// latest commit status of each context, and the latest check run of each
// name, on one commit.
type CheckReader interface {
	Statuses(ctx context.Context, repo, sha string) ([]planner.CheckResult, error)
	CheckRuns(ctx context.Context, repo, sha string) ([]planner.CheckResult, error)
}

// RESTChecks adapts a go-github client to CheckReader.
func RESTChecks(gh *github.Client) CheckReader { return restChecks{gh} }

type restChecks struct{ gh *github.Client }

const maxCheckPages = 10

func (r restChecks) Statuses(ctx context.Context, repo, sha string) ([]planner.CheckResult, error) {
	owner, name, _ := strings.Cut(repo, "/")
	var out []planner.CheckResult
	opt := &github.ListOptions{PerPage: 100}
	for range maxCheckPages {
		cs, resp, err := r.gh.Repositories.GetCombinedStatus(ctx, owner, name, sha, opt)
		if err != nil {
			return nil, err
		}
		for _, s := range cs.Statuses {
			out = append(out, planner.CheckResult{Name: s.GetContext(), State: s.GetState(), URL: s.GetTargetURL()})
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	return out, nil
}

func (r restChecks) CheckRuns(ctx context.Context, repo, sha string) ([]planner.CheckResult, error) {
	owner, name, _ := strings.Cut(repo, "/")
	var out []planner.CheckResult
	opt := &github.ListCheckRunsOptions{Filter: github.String("latest"), ListOptions: github.ListOptions{PerPage: 100}}
	for range maxCheckPages {
		rs, resp, err := r.gh.Checks.ListCheckRunsForRef(ctx, owner, name, sha, opt)
		if err != nil {
			return nil, err
		}
		for _, c := range rs.CheckRuns {
			out = append(out, planner.CheckResult{Name: c.GetName(), State: runState(c.GetStatus(), c.GetConclusion()), URL: c.GetHTMLURL()})
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	return out, nil
}

// runState maps a check run onto a status state: only conclusion success
// is success.
func runState(status, conclusion string) string {
	switch {
	case status != "completed":
		return "pending"
	case conclusion == "success":
		return "success"
	}
	return "failure"
}

// checks answers the health gate from the mirror (the run of commits) and
// GitHub (what was reported on them).
type checks struct {
	m            *gitmirror.Mirrors
	repo, branch string
	gh           CheckReader
}

// healthCommits bounds the commits of a run the gate may ask about.
const healthCommits = 20

func (c checks) Run(ctx context.Context, path string, holds func([]byte) bool) ([]planner.Commit, error) {
	run, err := c.m.Run(ctx, c.repo, c.branch, path, holds, healthCommits)
	if err != nil {
		return nil, err
	}
	out := make([]planner.Commit, len(run))
	for i, r := range run {
		out[i] = planner.Commit{SHA: r.SHA, Message: r.Message, When: r.When}
	}
	return out, nil
}

func (c checks) Results(ctx context.Context, sha string, names []string) ([]planner.CheckResult, error) {
	sts, err := c.gh.Statuses(ctx, c.repo, sha)
	if err != nil {
		return nil, fmt.Errorf("read statuses of %.7s: %w", sha, ghretry.Fate(err, time.Now()))
	}
	runs, err := c.gh.CheckRuns(ctx, c.repo, sha)
	if err != nil && !ghretry.IsStatus(err, http.StatusNotFound) {
		return nil, fmt.Errorf("read check runs of %.7s: %w", sha, ghretry.Fate(err, time.Now()))
	}
	return pick(names, append(sts, runs...)), nil
}

// pick keeps one result per name: a failure over a success over a pending
// one (a name used both as a status context and a check run name counts
// its worst verdict).
func pick(names []string, all []planner.CheckResult) []planner.CheckResult {
	rank := map[string]int{"pending": 1, "success": 2, "failure": 3, "error": 3}
	best := map[string]planner.CheckResult{}
	for _, r := range all {
		b, ok := best[r.Name]
		if !ok || rank[r.State] > rank[b.State] {
			best[r.Name] = r
		}
	}
	var out []planner.CheckResult
	for _, n := range names {
		if r, ok := best[n]; ok {
			out = append(out, r)
		}
	}
	return out
}

// CommitComments reads and writes comments on commits (a direct commit
// has no PR to tell).
type CommitComments interface {
	ListCommitComments(ctx context.Context, repo, sha string) ([]string, error)
	CreateCommitComment(ctx context.Context, repo, sha, body string) error
}

// RESTCommitComments adapts a go-github client to CommitComments.
func RESTCommitComments(gh *github.Client) CommitComments { return restChecks{gh} }

func (r restChecks) ListCommitComments(ctx context.Context, repo, sha string) ([]string, error) {
	owner, name, _ := strings.Cut(repo, "/")
	var out []string
	opt := &github.ListOptions{PerPage: 100}
	for range maxCheckPages {
		cs, resp, err := r.gh.Repositories.ListCommitComments(ctx, owner, name, sha, opt)
		if err != nil {
			return nil, ghretry.Fate(err, time.Now())
		}
		for _, c := range cs {
			out = append(out, c.GetBody())
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	return out, nil
}

func (r restChecks) CreateCommitComment(ctx context.Context, repo, sha, body string) error {
	owner, name, _ := strings.Cut(repo, "/")
	_, _, err := r.gh.Repositories.CreateComment(ctx, owner, name, sha, &github.RepositoryComment{Body: &body})
	return ghretry.Fate(err, time.Now())
}
