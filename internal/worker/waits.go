package worker

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
)

// Waits remembers asked-for promotions (commands) that wait for the health
// of the environment they leave, so that the status that makes it healthy
// runs them again at once instead of at the backstop.
type Waits interface {
	// Wait remembers command in, waiting for the health of env in repo.
	Wait(ctx context.Context, repo, env string, in intent.Intent) error
	// Wake queues every command waiting for env of repo again and forgets
	// them; by names what woke them (the message ids of the re-runs).
	Wake(ctx context.Context, repo, env, by string) (int, error)
}

// healthWait adds the environment sub leaves to envs when its promotion
// waits for the health there (a closed health gate that opens later).
func healthWait(ctx context.Context, repo checkout.Repo, sub intent.Intent, r Result, err error, envs []string) []string {
	if err != nil || r.Gate != planner.GateHealth || r.RetryAt.IsZero() || len(sub.Services) != 1 {
		return envs
	}
	from := sub.From
	if from == "" {
		tree, err := repo.Read(ctx)
		if err != nil {
			return envs // the backstop still runs it again
		}
		svc, ok := tree.Rules.Service(sub.Services[0])
		if !ok {
			return envs
		}
		if from, ok = tree.Rules.Prev(svc, sub.To); !ok {
			return envs
		}
	}
	return append(envs, from)
}

// rememberWaits remembers command in under each environment one of its
// promotions waits on; a failure leaves it to the backstop.
func (w *Worker) rememberWaits(ctx context.Context, in intent.Intent, envs []string, err error, log zerolog.Logger) {
	if w.Waits == nil || err != nil {
		return
	}
	seen := map[string]bool{}
	for _, env := range envs {
		if seen[env] {
			continue
		}
		seen[env] = true
		if err := w.Waits.Wait(ctx, in.Repo, env, in); err != nil {
			log.Warn().Err(err).Str("from", env).Msg("waiting command not remembered: the backstop runs it again")
			continue
		}
		log.Debug().Str("from", env).Msg("command waits for health; a status wakes it")
	}
}

// wakeWaits queues again the commands waiting for the health of the
// environment a sweep names.
func (w *Worker) wakeWaits(ctx context.Context, in intent.Intent, log zerolog.Logger) error {
	if w.Waits == nil {
		return nil
	}
	n, err := w.Waits.Wake(ctx, in.Repo, in.From, in.ID)
	if n > 0 {
		log.Info().Int("commands", n).Str("from", in.From).Msg("health changed: waiting commands queued again")
	}
	return err
}
