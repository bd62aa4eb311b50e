// Package policycheck keeps the promobot/policy check run of pull requests
// into GitOps repositories: it reads a PR's changed target files from
// GitHub, lets internal/policy judge them against the base branch, writes
// the verdict as a check run on the PR's head, and keeps, per PR, the next
// time a time gate changes, when Scheduler asks for the PR to be judged
// again.
package policycheck

import (
	"context"
	"fmt"
	"time"

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/policy"
	"github.com/promobot/promobot/internal/rules"
)

// Entry is one pull request's next re-evaluation.
type Entry struct {
	Repo           string    `json:"repo"`
	PR             int       `json:"pr"`
	HeadSHA        string    `json:"headSha"`
	InstallationID int64     `json:"installationId,omitempty"`
	At             time.Time `json:"at"`
}

// Key is the entry's schedule key (intent.PolicyKey).
func (e Entry) Key() string { return intent.PolicyKey(e.Repo, e.PR) }

// Schedule keeps each pull request's next re-evaluation.
type Schedule interface {
	Set(ctx context.Context, e Entry) error
	Clear(ctx context.Context, repo string, pr int) error
}

// Checker judges one pull request and writes its check run. Safe for
// concurrent use; the worker holds the PR's lease around Check.
type Checker struct {
	Schedule Schedule
	// Health fills the health gate; nil: the policy has no health gate.
	Health policy.Health
	// Self returns the login promobot acts as: only PRs it opened may use
	// its metadata (a /rollback). nil: no PR is trusted as promobot's.
	Self func(ctx context.Context) (string, error)
	Now  func() time.Time
}

// Outcome is what one check came to.
type Outcome struct {
	// Skip says why no check run was written ("" when one was, or was
	// already up to date).
	Skip       string
	Conclusion string
	CheckRun   int64
	Wrote      string // "created", "updated" or "" (unchanged)
	Next       time.Time
}

// Reason is the outcome in words, for the log and observers.
func (o Outcome) Reason(pr int) string {
	if o.Skip != "" {
		return o.Skip
	}
	s := fmt.Sprintf("%s on PR #%d", o.Conclusion, pr)
	if o.Wrote != "" {
		s += " (check run " + o.Wrote + ")"
	} else {
		s += " (check run unchanged)"
	}
	if !o.Next.IsZero() {
		s += "; judged again at " + o.Next.UTC().Format(time.RFC3339)
	}
	return s
}

// Check judges the PR of in against the base branch as rs and views read
// it, and writes the verdict.
func (c *Checker) Check(ctx context.Context, gh GitHub, rs *rules.Rules, views planner.Views, in intent.Intent) (Outcome, error) {
	now := c.now()
	n := in.Source.Issue
	pr, err := gh.GetPull(ctx, in.Repo, n)
	if err != nil {
		return Outcome{}, fmt.Errorf("read PR #%d: %w", n, ghretry.Fate(err, now))
	}
	base := rs.Defaults.BaseBranch
	if base == "" {
		base = "main"
	}
	switch {
	case pr.State != "open":
		return c.drop(ctx, in, "PR #%d is %s", n, pr.State)
	case pr.BaseRef != base:
		return c.drop(ctx, in, "PR #%d is not into %s", n, base)
	}
	files, truncated, err := c.files(ctx, gh, rs, views.Base, in.Repo, n)
	if err != nil {
		return Outcome{}, err
	}
	if truncated {
		// GitHub lists no more than MaxFiles: a target change may hide
		// behind them, so the check fails closed.
		return c.tooMany(ctx, gh, in, pr, now)
	}
	if len(files) == 0 {
		return c.drop(ctx, in, "PR #%d touches no target: no check run", n)
	}
	mine := false
	if c.Self != nil {
		self, err := c.Self(ctx)
		if err != nil {
			return Outcome{}, fmt.Errorf("promobot's login: %w", err)
		}
		mine = self != "" && pr.Author == self
	}
	ran, _ := views.History.(policy.Ran)
	res, err := policy.Evaluate(ctx, policy.Input{
		Rules: rs, Repo: in.Repo, Views: views, Ran: ran, Health: c.Health,
		Files: files, PR: policy.PR{Number: n, Title: pr.Title, Body: pr.Body, Branch: pr.HeadRef, FromPromobot: mine},
		Now: now,
	})
	if err != nil {
		return Outcome{}, err
	}
	if !res.Relevant {
		return c.drop(ctx, in, "PR #%d touches no target: no check run", n)
	}
	out := Outcome{Conclusion: res.Conclusion, Next: res.Next}
	run := CheckRun{HeadSHA: pr.HeadSHA, Conclusion: res.Conclusion, Title: res.Title, Summary: res.Summary,
		Annotations: res.Annotations, CompletedAt: now}
	if out.CheckRun, out.Wrote, err = write(ctx, gh, in.Repo, run, now); err != nil {
		return out, err
	}
	if res.Next.IsZero() {
		err = c.Schedule.Clear(ctx, in.Repo, n)
	} else {
		err = c.Schedule.Set(ctx, Entry{Repo: in.Repo, PR: n, HeadSHA: pr.HeadSHA, InstallationID: in.InstallationID, At: res.Next})
	}
	if err != nil {
		return out, fmt.Errorf("schedule PR #%d: %w", n, err)
	}
	return out, nil
}

// drop ends a PR's schedule and writes nothing.
func (c *Checker) drop(ctx context.Context, in intent.Intent, format string, args ...any) (Outcome, error) {
	if err := c.Schedule.Clear(ctx, in.Repo, in.Source.Issue); err != nil {
		return Outcome{}, fmt.Errorf("schedule PR #%d: %w", in.Source.Issue, err)
	}
	return Outcome{Skip: fmt.Sprintf(format, args...)}, nil
}

// write creates the check run, or updates the one there, or leaves it when
// it already says the same. A run that carries annotations is replaced by
// a new one rather than updated: GitHub appends the annotations of an
// update to those already there, and old ones would stay.
func write(ctx context.Context, gh GitHub, repo string, run CheckRun, now time.Time) (int64, string, error) {
	old, found, err := gh.FindCheckRun(ctx, repo, run.HeadSHA, policy.CheckName)
	if err != nil {
		return 0, "", fmt.Errorf("find check run: %w", ghretry.Fate(err, now))
	}
	switch {
	case found && old.Conclusion == run.Conclusion && old.Title == run.Title && old.Summary == run.Summary &&
		old.Annotations == min(len(run.Annotations), MaxAnnotations):
		return old.ID, "", nil
	case found && old.Annotations == 0:
		if err := gh.UpdateCheckRun(ctx, repo, old.ID, run); err != nil {
			return 0, "", fmt.Errorf("update check run: %w", ghretry.Fate(err, now))
		}
		return old.ID, "updated", nil
	}
	id, err := gh.CreateCheckRun(ctx, repo, run)
	if err != nil {
		return 0, "", fmt.Errorf("create check run: %w", ghretry.Fate(err, now))
	}
	return id, "created", nil
}

// files reads the PR's changed target files: the base branch version from
// the mirror, the head version from GitHub.
func (c *Checker) files(ctx context.Context, gh GitHub, rs *rules.Rules, base planner.RepoView, repo string, n int) ([]policy.File, bool, error) {
	listed, err := gh.PullFiles(ctx, repo, n)
	if err != nil {
		return nil, false, fmt.Errorf("list files of PR #%d: %w", n, ghretry.Fate(err, c.now()))
	}
	if len(listed) >= MaxFiles {
		return nil, true, nil
	}
	targets := targetFiles(rs, repo)
	var out []policy.File
	add := func(path, blob string) error {
		f := policy.File{Path: path}
		if base.Exists(path) {
			b, err := base.ReadFile(ctx, path)
			if err != nil {
				return fmt.Errorf("read %s: %w", path, err)
			}
			f.Before = b
		}
		if blob != "" {
			b, err := gh.Blob(ctx, repo, blob)
			if err != nil {
				return fmt.Errorf("read %s of PR #%d: %w", path, n, ghretry.Fate(err, c.now()))
			}
			f.After = b
		}
		out = append(out, f)
		return nil
	}
	for _, f := range listed {
		if f.Status == "renamed" && targets[f.PreviousPath] {
			if err := add(f.PreviousPath, ""); err != nil {
				return nil, false, err
			}
		}
		if !targets[f.Path] {
			continue
		}
		blob := f.SHA
		if f.Status == "removed" {
			blob = ""
		} else if blob == "" {
			return nil, false, fate.Terminalf("PR #%d: GitHub lists %s without a blob", n, f.Path)
		}
		if err := add(f.Path, blob); err != nil {
			return nil, false, err
		}
	}
	return out, false, nil
}

// tooMany writes a failed check for a PR too large for GitHub to list.
func (c *Checker) tooMany(ctx context.Context, gh GitHub, in intent.Intent, pr Pull, now time.Time) (Outcome, error) {
	run := CheckRun{HeadSHA: pr.HeadSHA, Conclusion: policy.Failure, Title: "Policy failed: too many files to judge",
		Summary:     fmt.Sprintf("This pull request changes %d files or more; GitHub lists no more, so promobot cannot see whether it changes a target. Split it.\n", MaxFiles),
		CompletedAt: now}
	out := Outcome{Conclusion: policy.Failure}
	var err error
	if out.CheckRun, out.Wrote, err = write(ctx, gh, in.Repo, run, now); err != nil {
		return out, err
	}
	if err := c.Schedule.Clear(ctx, in.Repo, in.Source.Issue); err != nil {
		return out, fmt.Errorf("schedule PR #%d: %w", in.Source.Issue, err)
	}
	return out, nil
}

// targetFiles are every file a service of repo may keep its tag in.
func targetFiles(rs *rules.Rules, repo string) map[string]bool {
	out := map[string]bool{}
	for _, s := range rs.ServicesIn(repo) {
		for _, ts := range s.Targets {
			for _, t := range ts {
				for _, f := range t.Files() {
					out[f] = true
				}
			}
		}
	}
	return out
}

func (c *Checker) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}
