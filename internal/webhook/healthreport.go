package webhook

import (
	"fmt"
	"slices"
	"time"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// Health reports for the status page. Every status and check run on a
// GitOps repository's base branch whose name is one of the repository's
// health checks becomes one intent of kind health, pending ones included:
// the worker keeps the latest report of each check in the state bucket,
// where the page reads it. The promote, policy and merge intents the same
// event asks for (checks.go) come first and are unchanged.

// maxReportAhead bounds how far in the future of the delivery a report's
// own time may be: a later time would keep every real report after it
// from being recorded, so it is replaced by the delivery's.
const maxReportAhead = time.Hour

// checkRules returns the rules that decide what a status or check run of
// repo wakes: its own configuration, else the server's; nil when its
// configuration does not load (it gets no promotion until a push fixes it).
func checkRules(sets *ruleSets, repo string, c *classification) *rules.Rules {
	rs, blocked := sets.forRepo(repo)
	if blocked || rs == nil {
		c.repo = repo
		c.note = "repository configuration invalid: no promotion until a push fixes it"
		return nil
	}
	return rs
}

// classifyStatusSets classifies a status with the rules that decide for
// its repository, then records it as a health report.
func classifyStatusSets(sets *ruleSets, d Delivery, ev *statusEvent, c *classification) error {
	if rs := checkRules(sets, ev.Repository.FullName, c); rs != nil {
		if err := classifyStatus(rs, d, ev, c); err != nil {
			return err
		}
	}
	check := intent.Check{Name: ev.Context, State: ev.State, URL: ev.TargetURL}
	return healthReport(sets, d, c, ev.Repository, ev.SHA, check, ev.UpdatedAt, func() ([]string, []prRef, error) {
		var bs []branchRef
		if err := ev.Branches.Decode(&bs); err != nil {
			return nil, nil, fmt.Errorf("%w: branches: %w", ErrMalformed, err)
		}
		var names []string
		for _, b := range bs {
			names = append(names, b.Name)
		}
		return names, nil, nil
	})
}

// classifyCheckRunSets classifies a check run with the rules that decide
// for its repository, then records it as a health report: one not
// completed yet is pending (as of its start), a completed one maps as the
// health gate reads it (success, anything else a failure).
func classifyCheckRunSets(sets *ruleSets, d Delivery, ev *checkRunEvent, c *classification) error {
	if rs := checkRules(sets, ev.Repository.FullName, c); rs != nil {
		if err := classifyCheckRun(rs, d, ev, c); err != nil {
			return err
		}
	}
	cr := ev.CheckRun
	check := intent.Check{Name: cr.Name, State: "pending", URL: cr.HTMLURL}
	at := cr.StartedAt
	if cr.Status == "completed" {
		check.State, at = "failure", cr.CompletedAt
		if cr.Conclusion == "success" {
			check.State = "success"
		}
	}
	return healthReport(sets, d, c, ev.Repository, cr.HeadSHA, check, at, func() ([]string, []prRef, error) {
		var branches []string
		if cr.CheckSuite.HeadBranch != "" {
			branches = []string{cr.CheckSuite.HeadBranch}
		}
		prs, err := prRefs(cr.PullRequests)
		return branches, prs, err
	})
}

// healthReport appends the health intent of one report when check names a
// health check of repo and the report is about its base branch (a commit
// on it, or one GitHub names no branch or pull request for).
//
// Which names count: the rules that decide for the repository (its own
// configuration from the index, else the server's) name its health checks
// per service and environment (rules.HealthFor). A repository whose
// services a generator makes has names the webhook cannot render (their
// templates are over services only its tree lists), so there any report on
// the base branch is recorded, as long as some environment has health at
// all: one small record per check name, which the page only reads for the
// names it renders. A repository whose own configuration is invalid has
// no services to show health for and gets none.
func healthReport(sets *ruleSets, d Delivery, c *classification, repo repoInfo, sha string, check intent.Check, at string,
	branches func() ([]string, []prRef, error)) error {
	name := repo.FullName
	rs, blocked := sets.forRepo(name)
	if blocked || rs == nil || !namesHealth(rs, name, check.Name) {
		return nil
	}
	bs, prs, err := branches()
	if err != nil {
		return err
	}
	if !slices.Contains(bs, sets.baseBranch(name)) && (len(bs) != 0 || len(prs) != 0) {
		return nil
	}
	cl, ok := cleanCheck(&check)
	if !ok {
		return nil
	}
	switch {
	case !intent.ValidRepo(name):
		return fmt.Errorf("%w: repository %q", ErrInvalid, name)
	case !validSHA(sha):
		return fmt.Errorf("%w: sha %q", ErrInvalid, sha)
	}
	cl.At = reportTime(at, d.Received)
	if cl.At.IsZero() {
		c.note = "health report without a time"
		return nil
	}
	c.intents = append(c.intents, intent.Intent{
		ID: intent.MsgID(d.ID, len(c.intents)), Kind: intent.KindHealth, DeliveryID: d.ID, Event: d.Event,
		InstallationID: c.installation, Repo: canonicalRepo(rs, name), Check: cl, CreatedAt: d.Received,
		Source: intent.SourceRef{Repo: name, SHA: sha, Ref: sets.baseBranch(name), CommitURL: commitURL(repo.HTMLURL, sha),
			HTMLBase: htmlBase(repo.HTMLURL, name), InstallationID: c.installation},
	})
	return nil
}

// namesHealth reports whether check may be a health check of repo.
func namesHealth(rs *rules.Rules, repo, check string) bool {
	if len(rs.HealthFor(repo, check)) > 0 {
		return true
	}
	if !generates(rs, repo) {
		return false
	}
	for _, e := range rs.Environments {
		if e.Health != nil {
			return true
		}
	}
	return false
}

// reportTime is GitHub's time of a report; received when it is missing,
// unreadable or too far ahead of the delivery.
func reportTime(s string, received time.Time) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || !received.IsZero() && t.After(received.Add(maxReportAhead)) {
		return received.UTC()
	}
	return t.UTC()
}
