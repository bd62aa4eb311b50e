package webhook

import (
	"fmt"
	"strings"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// pullRequestEvent is what classification reads of a pull_request delivery.
type pullRequestEvent struct {
	Action       string       `json:"action"`
	Number       int64        `json:"number"`
	Installation installation `json:"installation"`
	PullRequest  struct {
		State   string `json:"state"`
		Title   string `json:"title"`
		HTMLURL string `json:"html_url"`
		Head    struct {
			SHA string `json:"sha"`
			Ref string `json:"ref"`
		} `json:"head"`
		Base struct {
			Ref string `json:"ref"`
		} `json:"base"`
	} `json:"pull_request"`
	Repository struct {
		FullName string `json:"full_name"`
		HTMLURL  string `json:"html_url"`
		CloneURL string `json:"clone_url"`
	} `json:"repository"`
}

// policyActions are the pull_request actions after which the PR's
// promobot/policy check is judged (again): its head, title, body or base
// may have changed.
var policyActions = map[string]bool{"opened": true, "synchronize": true, "reopened": true, "edited": true}

// classifyPullRequest asks for the policy check of an open PR into a GitOps
// repository's base branch. Whether the PR touches a target is decided by
// the worker, which reads its files; the webhook never calls GitHub.
func classifyPullRequest(rs *rules.Rules, d Delivery, ev *pullRequestEvent, c *classification) error {
	c.action = ev.Action
	c.setInstallation(ev.Installation.ID)
	repo := ev.Repository.FullName
	c.repo = repo
	base := rs.Defaults.BaseBranch
	if base == "" {
		base = "main"
	}
	switch {
	case !policyActions[ev.Action]:
		c.note = "pull_request " + ev.Action + ": no policy check"
		return nil
	case ev.PullRequest.State != "open":
		c.note = "pull request not open"
		return nil
	case len(rs.ServicesIn(repo)) == 0 && !generates(rs, repo):
		c.note = "not a GitOps repository"
		return nil
	case ev.PullRequest.Base.Ref != base:
		c.note = "pull request not into " + base
		return nil
	case ev.Number <= 0 || ev.Number > 1<<31-1:
		return fmt.Errorf("%w: pull_request without a number", ErrMalformed)
	case !validSHA(ev.PullRequest.Head.SHA) || len(ev.PullRequest.Head.SHA) != 40:
		return fmt.Errorf("%w: pull_request head sha %q", ErrInvalid, ev.PullRequest.Head.SHA)
	}
	c.intents = append(c.intents, intent.Intent{
		ID:             intent.MsgID(d.ID, len(c.intents)),
		Kind:           intent.KindPolicy,
		DeliveryID:     d.ID,
		Event:          d.Event,
		InstallationID: c.installation,
		Repo:           canonicalRepo(rs, repo),
		Source: intent.SourceRef{
			Repo:     repo,
			SHA:      ev.PullRequest.Head.SHA,
			Ref:      cut(ev.PullRequest.Head.Ref, 255),
			Message:  cut(ev.PullRequest.Title, 1024),
			Issue:    int(ev.Number),
			PRURL:    cut(ev.PullRequest.HTMLURL, 1024),
			CloneURL: cut(ev.Repository.CloneURL, 1024),
			HTMLBase: htmlBase(ev.Repository.HTMLURL, repo),
		},
		CreatedAt: d.Received,
	})
	return nil
}

// canonicalRepo spells repo as the rules do (GitHub names are not case
// sensitive; subjects, leases and the mirror are).
func canonicalRepo(rs *rules.Rules, repo string) string {
	for _, s := range rs.ServicesIn(repo) {
		return s.Repo
	}
	for _, g := range rs.Generators {
		if strings.EqualFold(g.Repo, repo) {
			return g.Repo
		}
	}
	return repo
}

// cut keeps at most n bytes of s, on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
