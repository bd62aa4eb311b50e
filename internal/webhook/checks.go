package webhook

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/strictjson"
)

// Events that move health gates and finish auto-merges: commit statuses
// and check runs (what Argo CD Notifications, Flux's notification-controller
// and CI report), check suites and reviews.
//
// On the GitOps repository's base branch, a status or check run whose name
// is an environment's health check re-evaluates the automatic promotion
// out of that environment (a promote intent, the same one the push made:
// the planner skips it when there is nothing left to do). On any other
// branch, or for a check suite or an approving review, a merge intent asks
// the worker to look at the PR again; a failure names the check, so the
// worker can tell people once. Every report of a health check on the base
// branch, pending ones too, is also kept for the status page
// (healthreport.go).

// maxMergeBranches bounds the merge intents one status makes (a status
// lists every branch whose head is its commit).
const maxMergeBranches = 10

type statusEvent struct {
	Installation installation     `json:"installation"`
	Repository   repoInfo         `json:"repository"`
	SHA          string           `json:"sha"`
	State        string           `json:"state"`
	Context      string           `json:"context"`
	TargetURL    string           `json:"target_url"`
	Branches     strictjson.Array `json:"branches"` // of {"name": ...}
	UpdatedAt    string           `json:"updated_at"`
}

type branchRef struct {
	Name string `json:"name"`
}

type repoInfo struct {
	FullName string `json:"full_name"`
	HTMLURL  string `json:"html_url"`
	CloneURL string `json:"clone_url"`
}

type prRef struct {
	Number int `json:"number"`
	Head   struct {
		Ref string `json:"ref"`
	} `json:"head"`
}

// prRefs decodes a pull_requests list.
func prRefs(a strictjson.Array) ([]prRef, error) {
	var out []prRef
	if err := a.Decode(&out); err != nil {
		return nil, fmt.Errorf("%w: pull_requests: %w", ErrMalformed, err)
	}
	return out, nil
}

type checkRunEvent struct {
	Action       string       `json:"action"`
	Installation installation `json:"installation"`
	Repository   repoInfo     `json:"repository"`
	CheckRun     struct {
		Name         string           `json:"name"`
		HeadSHA      string           `json:"head_sha"`
		Status       string           `json:"status"`
		Conclusion   string           `json:"conclusion"`
		HTMLURL      string           `json:"html_url"`
		PullRequests strictjson.Array `json:"pull_requests"`
		CheckSuite   struct {
			HeadBranch string `json:"head_branch"`
		} `json:"check_suite"`
		StartedAt   string `json:"started_at"`
		CompletedAt string `json:"completed_at"`
	} `json:"check_run"`
}

type checkSuiteEvent struct {
	Action       string       `json:"action"`
	Installation installation `json:"installation"`
	Repository   repoInfo     `json:"repository"`
	CheckSuite   struct {
		HeadBranch   string           `json:"head_branch"`
		HeadSHA      string           `json:"head_sha"`
		Conclusion   string           `json:"conclusion"`
		PullRequests strictjson.Array `json:"pull_requests"`
		App          struct {
			Name string `json:"name"`
		} `json:"app"`
	} `json:"check_suite"`
}

type reviewEvent struct {
	Action       string       `json:"action"`
	Installation installation `json:"installation"`
	Repository   repoInfo     `json:"repository"`
	Review       struct {
		State string `json:"state"`
	} `json:"review"`
	PullRequest struct {
		Number int64 `json:"number"`
		Head   struct {
			SHA string `json:"sha"`
			Ref string `json:"ref"`
		} `json:"head"`
	} `json:"pull_request"`
}

// gitopsRepo reports whether rs promotes into repo.
func gitopsRepo(rs *rules.Rules, repo string) bool {
	return len(rs.ServicesIn(repo)) > 0 || generates(rs, repo)
}

func classifyStatus(rs *rules.Rules, d Delivery, ev *statusEvent, c *classification) error {
	c.setInstallation(ev.Installation.ID)
	c.repo, c.action = ev.Repository.FullName, ev.State
	if !gitopsRepo(rs, c.repo) {
		c.note = "not a gitops repository"
		return nil
	}
	if ev.State == "pending" {
		c.note = "pending status: nothing can move yet"
		return nil
	}
	check := &intent.Check{Name: ev.Context, State: ev.State, URL: ev.TargetURL}
	var bs []branchRef
	if err := ev.Branches.Decode(&bs); err != nil {
		return fmt.Errorf("%w: branches: %w", ErrMalformed, err)
	}
	var branches []string
	for _, b := range bs {
		branches = append(branches, b.Name)
	}
	return checked(rs, d, c, ev.Repository, ev.SHA, check, branches, nil)
}

func classifyCheckRun(rs *rules.Rules, d Delivery, ev *checkRunEvent, c *classification) error {
	c.setInstallation(ev.Installation.ID)
	c.repo, c.action = ev.Repository.FullName, ev.Action
	cr := ev.CheckRun
	switch {
	case !gitopsRepo(rs, c.repo):
		c.note = "not a gitops repository"
		return nil
	case ev.Action != "completed" || cr.Status != "completed":
		c.note = "check run not completed"
		return nil
	}
	state := "failure"
	if cr.Conclusion == "success" {
		state = "success"
	}
	check := &intent.Check{Name: cr.Name, State: state, URL: cr.HTMLURL}
	var branches []string
	if cr.CheckSuite.HeadBranch != "" {
		branches = []string{cr.CheckSuite.HeadBranch}
	}
	prs, err := prRefs(cr.PullRequests)
	if err != nil {
		return err
	}
	return checked(rs, d, c, ev.Repository, cr.HeadSHA, check, branches, prs)
}

func classifyCheckSuite(rs *rules.Rules, d Delivery, ev *checkSuiteEvent, c *classification) error {
	c.setInstallation(ev.Installation.ID)
	c.repo, c.action = ev.Repository.FullName, ev.Action
	cs := ev.CheckSuite
	switch {
	case !gitopsRepo(rs, c.repo):
		c.note = "not a gitops repository"
		return nil
	case ev.Action != "completed":
		c.note = "check suite not completed"
		return nil
	}
	prs, err := prRefs(cs.PullRequests)
	if err != nil {
		return err
	}
	if len(prs) == 0 {
		c.note = "check suite of no pull request"
		return nil
	}
	var check *intent.Check
	if cs.Conclusion != "success" && cs.Conclusion != "neutral" && cs.Conclusion != "skipped" {
		check = &intent.Check{Name: cs.App.Name, State: "failure"}
		if c, ok := cleanCheck(check); ok {
			check = c
		} else {
			check.Name = "check suite"
		}
	}
	return mergeIntents(rs, d, c, ev.Repository, cs.HeadSHA, check, nil, prs)
}

func classifyReview(rs *rules.Rules, d Delivery, ev *reviewEvent, c *classification) error {
	c.setInstallation(ev.Installation.ID)
	c.repo, c.action = ev.Repository.FullName, ev.Action
	switch {
	case !gitopsRepo(rs, c.repo):
		c.note = "not a gitops repository"
		return nil
	case ev.Action != "submitted" || !strings.EqualFold(ev.Review.State, "approved"):
		c.note = "not an approval"
		return nil
	}
	pr := prRef{Number: int(min(ev.PullRequest.Number, 1<<31-1))}
	pr.Head.Ref = ev.PullRequest.Head.Ref
	return mergeIntents(rs, d, c, ev.Repository, ev.PullRequest.Head.SHA, nil, nil, []prRef{pr})
}

// checked classifies a finished status or check run: health on the base
// branch, merges elsewhere.
func checked(rs *rules.Rules, d Delivery, c *classification, repo repoInfo, sha string, check *intent.Check, branches []string, prs []prRef) error {
	if !validSHA(sha) {
		return fmt.Errorf("%w: sha %q", ErrInvalid, sha)
	}
	check, ok := cleanCheck(check)
	if !ok {
		c.note = "check without a usable name"
		return nil
	}
	base := rs.Defaults.BaseBranch
	var others []string
	onBase := false
	for _, b := range branches {
		if b == base {
			onBase = true
		} else {
			others = append(others, b)
		}
	}
	if onBase || len(branches) == 0 && len(prs) == 0 {
		healthIntents(rs, d, c, repo, sha, check)
	}
	// A success on a PR's head may make it mergeable; a failure is told
	// once, with its name and link.
	if err := mergeIntents(rs, d, c, repo, sha, failureOnly(check), others, prs); err != nil {
		return err
	}
	if len(c.intents) == 0 && c.note == "" {
		c.note = "no health check or autoMerge pull request is named"
	}
	return nil
}

// healthIntents re-evaluates the automatic promotion out of each
// environment whose health names the check.
func healthIntents(rs *rules.Rules, d Delivery, c *classification, repo repoInfo, sha string, check *intent.Check) {
	defer policySweeps(rs, d, c, repo, sha, rs.HealthFor(c.repo, check.Name))
	for _, se := range rs.HealthFor(c.repo, check.Name) {
		next, ok := rs.Next(se.Service, se.Env)
		if !ok {
			continue
		}
		if ns, ok := rs.Env(se.Service.Name, next); !ok || !ns.Auto {
			continue
		}
		in := newIntent(d, c, intent.KindPromote, se.Service)
		in.From, in.To = se.Env, next
		in.Source = intent.SourceRef{
			Repo: c.repo, SHA: sha, Ref: rs.Defaults.BaseBranch, Message: "status " + truncate(check.Name, 200) + ": " + check.State,
			CommitURL: commitURL(repo.HTMLURL, sha), CloneURL: repo.CloneURL, HTMLBase: htmlBase(repo.HTMLURL, c.repo),
			InstallationID: c.installation,
		}
		c.intents = append(c.intents, in)
	}
}

// mergeIntents asks the worker to look at each PR (by number) or each
// branch's PR again.
func mergeIntents(rs *rules.Rules, d Delivery, c *classification, repo repoInfo, sha string, check *intent.Check, branches []string, prs []prRef) error {
	if !intent.ValidRepo(c.repo) {
		return fmt.Errorf("%w: repository %q", ErrInvalid, c.repo)
	}
	ours := autoMergeBranches(rs, c.repo)
	mk := func(src intent.SourceRef) {
		src.Repo, src.SHA, src.CloneURL, src.HTMLBase, src.InstallationID = c.repo, sha, repo.CloneURL, htmlBase(repo.HTMLURL, c.repo), c.installation
		c.intents = append(c.intents, intent.Intent{
			ID: intent.MsgID(d.ID, len(c.intents)), Kind: intent.KindMerge, DeliveryID: d.ID, Event: d.Event,
			InstallationID: c.installation, Repo: c.repo, Check: check, Source: src, CreatedAt: d.Received,
		})
	}
	n := 0
	for _, pr := range prs {
		if pr.Number > 0 && n < maxMergeBranches && ours(pr.Head.Ref) {
			mk(intent.SourceRef{Issue: pr.Number})
			n++
		}
	}
	if len(prs) == 0 { // named PRs make their branches add nothing
		for _, b := range branches {
			if n < maxMergeBranches && ours(b) {
				mk(intent.SourceRef{Ref: b})
				n++
			}
		}
	}
	if len(c.intents) == 0 && c.note == "" {
		c.note = "no health check or autoMerge pull request is named"
	}
	return nil
}

// failureOnly keeps a check on a merge intent only when it failed: a
// success needs no telling.
func failureOnly(c *intent.Check) *intent.Check {
	if c == nil || c.State == "success" {
		return nil
	}
	return c
}

// cleanCheck drops a link that is not http(s) or is too long, rather than
// refusing the delivery: the check still counts. ok is false for a name
// no rule could use (empty, too long, control characters).
func cleanCheck(c *intent.Check) (*intent.Check, bool) {
	if c.Name == "" || len(c.Name) > 255 || strings.ContainsFunc(c.Name, unicode.IsControl) {
		return nil, false
	}
	out := *c
	if len(out.URL) > 2048 || !(strings.HasPrefix(out.URL, "https://") || strings.HasPrefix(out.URL, "http://")) || strings.ContainsFunc(out.URL, unicode.IsControl) {
		out.URL = ""
	}
	return &out, true
}

// autoMergeBranches says whether a head branch may be one of promobot's
// promotion branches into an autoMerge environment of repo, so that the CI
// of every other branch costs the worker nothing. An empty name (a payload
// without it) and repositories with generators (whose service names the
// webhook does not know) are let through: the worker checks each PR.
func autoMergeBranches(rs *rules.Rules, repo string) func(string) bool {
	if generates(rs, repo) {
		return func(string) bool { return true }
	}
	var names []string
	for _, svc := range rs.ServicesIn(repo) {
		for _, e := range rs.Environments {
			es, ok := rs.Env(svc.Name, e.Name)
			if !ok || !es.AutoMerge || es.Direct {
				continue
			}
			for _, s := range []string{svc.Name, intent.GroupService} {
				if b, err := rs.Branch(e.Name, s); err == nil {
					names = append(names, b)
				}
			}
		}
	}
	return func(b string) bool {
		if b == "" {
			return true
		}
		for _, n := range names {
			if b == n || strings.HasPrefix(b, n+"/") {
				return true
			}
		}
		return false
	}
}
