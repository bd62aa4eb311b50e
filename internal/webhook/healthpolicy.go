package webhook

import (
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// policySweeps asks, once per environment whose health names the check and
// that some service leaves for a next one, for the promobot/policy check of
// every open PR moving a tag out of it: the previous-environment health
// gate of those PRs may have changed. The worker lists the PRs; the webhook
// never calls GitHub.
func policySweeps(rs *rules.Rules, d Delivery, c *classification, repo repoInfo, sha string, ses []rules.ServiceEnv) {
	seen := map[string]bool{}
	for _, se := range ses {
		if _, ok := rs.Next(se.Service, se.Env); !ok || seen[se.Env] {
			continue
		}
		seen[se.Env] = true
		c.intents = append(c.intents, intent.Intent{
			ID: intent.MsgID(d.ID, len(c.intents)), Kind: intent.KindPolicy, DeliveryID: d.ID, Event: d.Event,
			InstallationID: c.installation, Repo: canonicalRepo(rs, c.repo), From: se.Env,
			Source: intent.SourceRef{Repo: c.repo, SHA: sha, Ref: rs.Defaults.BaseBranch, CloneURL: repo.CloneURL,
				HTMLBase: htmlBase(repo.HTMLURL, c.repo), InstallationID: c.installation},
			CreatedAt: d.Received,
		})
	}
}
