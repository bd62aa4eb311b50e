package app

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/webhook"
)

// installationSubject carries installation changes from the process that
// received the webhook to every worker process, each of which caches
// installation clients of its own. It is plain NATS, not JetStream: a
// worker that misses one still drops a stale entry on GitHub's first 401
// or 404, so the message only makes the change take effect at once.
const installationSubject = "promobot.control.installation"

// announceInstallations returns the webhook's OnInstallation hook: it
// publishes the change and waits until the server has it, so a 202 to
// GitHub means the workers were told.
func announceInstallations(nc *nats.Conn) func(context.Context, webhook.InstallationChange) error {
	return func(ctx context.Context, ch webhook.InstallationChange) error {
		data, err := json.Marshal(ch)
		if err != nil {
			return fmt.Errorf("encode installation change: %w", err)
		}
		if err := nc.Publish(installationSubject, data); err != nil {
			return fmt.Errorf("announce installation change: %w", err)
		}
		if err := nc.FlushWithContext(ctx); err != nil {
			return fmt.Errorf("announce installation change: %w", err)
		}
		return nil
	}
}

// forgetInstallations makes clients drop what an installation change
// made stale: the installation itself, or the repositories added to or
// removed from it.
func forgetInstallations(nc *nats.Conn, clients *ghapp.Clients, log zerolog.Logger) (*nats.Subscription, error) {
	sub, err := nc.Subscribe(installationSubject, func(m *nats.Msg) {
		var ch webhook.InstallationChange
		if err := json.Unmarshal(m.Data, &ch); err != nil {
			log.Warn().Err(err).Msg("undecodable installation change ignored")
			return
		}
		id := ch.InstallationID
		if ch.Event == "installation_repositories" {
			id = 0 // the installation stays; only its repositories changed
		}
		clients.Forget(id, ch.Repos...)
		log.Info().Str("event", ch.Event).Str("action", ch.Action).Int64("installation", ch.InstallationID).
			Strs("repos", ch.Repos).Msg("installation change: cached clients dropped")
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to installation changes: %w", err)
	}
	return sub, nil
}

// warnOwners logs each reviewer team GitHub will refuse to ask for a
// review (a team of another organisation than the repository's owner):
// the PR still opens, and its comment names the refusal, but the rules
// author should know at load time.
func warnOwners(log zerolog.Logger, path string, rs *rules.Rules) {
	for _, w := range rs.OwnerWarnings() {
		log.Warn().Str("rules", path).Msg(w)
	}
}
