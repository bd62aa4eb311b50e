package webhook

import (
	"fmt"

	"github.com/promobot/promobot/internal/intent"
)

// prEvent is what the configuration check reads of a pull_request delivery.
type prEvent struct {
	Action       string       `json:"action"`
	Number       int64        `json:"number"`
	Installation installation `json:"installation"`
	PullRequest  struct {
		State   string  `json:"state"`
		HTMLURL string  `json:"html_url"`
		User    account `json:"user"`
		Title   string  `json:"title"`
		Head    struct {
			SHA string `json:"sha"`
		} `json:"head"`
		Base struct {
			Ref string `json:"ref"`
		} `json:"base"`
	} `json:"pull_request"`
	Repository struct {
		FullName string `json:"full_name"`
		HTMLURL  string `json:"html_url"`
	} `json:"repository"`
}

// configCheckActions are the pull_request actions after which the head
// may change the configuration differently.
var configCheckActions = map[string]bool{"opened": true, "synchronize": true, "reopened": true}

// classifyPullRequestSets asks for the promobot/config check of an open
// pull request into the base branch of a repository promobot knows (one
// with services in the rules file, or indexed with or without a
// configuration of its own): whether it changes the configuration file
// is read by the worker, as the payload does not list files. Pull
// requests opened by bots are not checked.
func classifyPullRequestSets(sets *ruleSets, d Delivery, ev *prEvent, c *classification) error {
	repo := ev.Repository.FullName
	c.action, c.repo = ev.Action, repo
	c.setInstallation(ev.Installation.ID)
	_, indexed := sets.lookup(repo)
	switch {
	case !configCheckActions[ev.Action]:
		c.note = "pull_request " + ev.Action + ": no configuration check"
		return nil
	case ev.PullRequest.State != "open":
		c.note = "pull request not open"
		return nil
	case isBot(ev.PullRequest.User.Login, ev.PullRequest.User.Type):
		// promobot's own promotion PRs, above all: they never change the
		// configuration, and each update would cost a listing of its files.
		c.note = "pull request by a bot"
		return nil
	case !indexed && len(sets.server.ServicesIn(repo)) == 0 && !generates(sets.server, repo):
		c.note = "not a gitops repository"
		return nil
	case ev.PullRequest.Base.Ref != sets.baseBranch(repo):
		c.note = "pull request not into the base branch"
		return nil
	case !intent.ValidRepo(repo):
		return fmt.Errorf("%w: repository %q", ErrInvalid, repo)
	case ev.Number <= 0 || ev.Number > 1<<31-1:
		return fmt.Errorf("%w: pull request number %d", ErrInvalid, ev.Number)
	case !validSHA(ev.PullRequest.Head.SHA):
		return fmt.Errorf("%w: head sha %q", ErrInvalid, ev.PullRequest.Head.SHA)
	}
	c.intents = append(c.intents, intent.Intent{
		ID: intent.MsgID(d.ID, len(c.intents)), Kind: intent.KindConfigCheck, DeliveryID: d.ID, Event: d.Event,
		InstallationID: c.installation, Repo: repo, CreatedAt: d.Received,
		Source: intent.SourceRef{
			Repo: repo, SHA: ev.PullRequest.Head.SHA, Issue: int(ev.Number), PRURL: ev.PullRequest.HTMLURL,
			Message: truncate(ev.PullRequest.Title, maxMessage), HTMLBase: htmlBase(ev.Repository.HTMLURL, repo),
		},
	})
	return nil
}

// A pull request into a GitOps repository's base branch asks for two
// checks: promobot/policy (pullrequest.go) and, unless a bot opened it,
// promobot/config (above). Each decodes the payload for itself.
var (
	classifyPolicyPR = handleSets(classifyPullRequestPolicy)
	classifyConfigPR = handleSets(classifyPullRequestSets)
)

func classifyPullRequests(sets *ruleSets, d Delivery, c *classification) error {
	if err := classifyPolicyPR(sets, d, c); err != nil {
		return err
	}
	note := c.note
	if err := classifyConfigPR(sets, d, c); err != nil {
		return err
	}
	if note != "" && c.note != "" && note != c.note {
		c.note = note + "; " + c.note
	}
	return nil
}

// classifyPullRequestPolicy judges a pull request by the rules that decide
// for its repository: its own configuration, else the rules file. A
// repository whose configuration does not load gets no policy check.
func classifyPullRequestPolicy(sets *ruleSets, d Delivery, ev *pullRequestEvent, c *classification) error {
	rs, blocked := sets.forRepo(ev.Repository.FullName)
	if blocked {
		c.repo = ev.Repository.FullName
		c.note = "configuration does not load: no policy check"
		return nil
	}
	return classifyPullRequest(rs, d, ev, c)
}
