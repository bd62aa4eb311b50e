package webhook

import (
	"fmt"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/strictjson"
)

// InstallationChange is what an installation or installation_repositories
// delivery reports: the App was installed, removed, suspended or given new
// permissions, or repositories were added to or removed from an
// installation. Whatever a process keeps about the installation (tokens,
// clients, which installation serves which repository) may be stale.
type InstallationChange struct {
	// Event is "installation" or "installation_repositories".
	Event string
	// Action is the delivery's action: created, deleted, suspend,
	// unsuspend, new_permissions_accepted (installation); added, removed
	// (installation_repositories).
	Action string
	// InstallationID is the installation concerned; never 0.
	InstallationID int64
	// Account is the login of the user or organisation the App is
	// installed on ("" when the delivery does not say).
	Account string
	// Repos are owner/name of the repositories concerned: for
	// installation_repositories those added or removed; for installation
	// those the delivery lists (on created, the repositories now
	// accessible; on deleted, those no longer). Each passed
	// intent.ValidRepo; a name that does not is left out.
	Repos []string
}

// installationEvent is what classification reads of an installation
// delivery; the names follow the payload's.
type installationEvent struct {
	Action       string                `json:"action"`
	Installation installationWithOwner `json:"installation"`
	Repositories strictjson.Array      `json:"repositories"`
}

// installationRepositoriesEvent is what classification reads of an
// installation_repositories delivery.
type installationRepositoriesEvent struct {
	Action              string                `json:"action"`
	Installation        installationWithOwner `json:"installation"`
	RepositoriesAdded   strictjson.Array      `json:"repositories_added"`
	RepositoriesRemoved strictjson.Array      `json:"repositories_removed"`
}

type installationWithOwner struct {
	ID      int64 `json:"id"`
	Account login `json:"account"`
}

// classifyInstallation turns an installation delivery into a change for
// Config.OnInstallation; it never produces an intent.
func classifyInstallation(_ *rules.Rules, d Delivery, ev *installationEvent, c *classification) error {
	return installationChange(d, c, ev.Action, ev.Installation, ev.Repositories)
}

// classifyInstallationRepositories: the same for repositories added to or
// removed from an installation.
func classifyInstallationRepositories(_ *rules.Rules, d Delivery, ev *installationRepositoriesEvent, c *classification) error {
	return installationChange(d, c, ev.Action, ev.Installation, ev.RepositoriesAdded, ev.RepositoriesRemoved)
}

func installationChange(d Delivery, c *classification, action string, inst installationWithOwner, lists ...strictjson.Array) error {
	c.action = action
	c.setInstallation(inst.ID)
	c.note = d.Event + " " + action
	var repos []string
	seen := map[string]bool{}
	for _, l := range lists {
		var rs []repoName
		if err := l.Decode(&rs); err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		for _, r := range rs {
			if intent.ValidRepo(r.FullName) && !seen[r.FullName] {
				seen[r.FullName] = true
				repos = append(repos, r.FullName)
			}
		}
	}
	switch {
	case inst.ID <= 0:
		// Only the payload's own id counts: a change to "some
		// installation" can drop nothing.
		return fmt.Errorf("%w: %s without an installation id", ErrInvalid, d.Event)
	case action == "":
		return fmt.Errorf("%w: %s without an action", ErrInvalid, d.Event)
	}
	c.change = &InstallationChange{
		Event:          d.Event,
		Action:         action,
		InstallationID: inst.ID,
		Account:        inst.Account.Login,
		Repos:          repos,
	}
	return nil
}
