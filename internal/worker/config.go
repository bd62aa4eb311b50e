package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// Once remembers, across every worker, that something was done for a key
// (KV state shared by the deployment).
type Once interface {
	Seen(ctx context.Context, key string) (bool, error)
	Remember(ctx context.Context, key string) error
}

// config reads a repository's own configuration again (KindConfig: a push
// changed it on the base branch), or answers a command in a repository
// without configuration (KindNoConfig). Reading is what indexes the
// configuration (checkout.Source.Index) and, when it does not load, sets
// the failed promobot/config status: an invalid configuration is this
// intent's answer, not its failure.
func (w *Worker) config(ctx context.Context, repo checkout.Repo, in intent.Intent, log zerolog.Logger) (Result, error) {
	res := Result{Intent: in}
	if in.Kind == intent.KindConfigCheck {
		return w.configCheck(ctx, in, log)
	}
	tree, err := repo.Read(ctx)
	switch {
	case errors.Is(err, checkout.ErrIgnored):
		res.Outcome, res.Reason = Skipped, err.Error()
		return res, nil
	case errors.Is(err, checkout.ErrInvalidConfig) && in.Kind == intent.KindConfig:
		res.Outcome, res.Reason = Refused, err.Error()
		return res, nil
	case err != nil && in.Kind == intent.KindConfig:
		return res, err
	}
	if in.Kind == intent.KindConfig {
		src, own := tree.Rules.ConfigSource()
		res.Outcome, res.Reason = Skipped, "no repository configuration: the rules file decides"
		if own {
			res.Outcome, res.Reason = Skipped, fmt.Sprintf("configuration %s at %.7s indexed", src.Path, src.Commit)
		}
		return res, nil
	}
	// KindNoConfig: only where nothing configures the repository.
	if err == nil && (len(tree.Rules.ServicesIn(in.Repo)) > 0 || generatesIn(tree.Rules.Generators, in.Repo)) {
		res.Outcome, res.Reason = Skipped, "the repository is configured now"
		return res, nil
	}
	if errors.Is(err, checkout.ErrInvalidConfig) {
		res.Outcome, res.Reason = Skipped, "the repository has a configuration (invalid)"
		return res, nil
	}
	if err != nil {
		return res, err
	}
	if w.Once == nil {
		res.Outcome, res.Reason = Skipped, "no shared memory of replies: not answered"
		return res, nil
	}
	// One repository is answered by one worker at a time; the reply
	// itself is idempotent per comment.
	key := "noconfig/" + strings.ToLower(in.Repo)
	ctx, release, err := w.Holder.Hold(ctx, key)
	if err != nil {
		return res, err
	}
	defer release()
	seen, err := w.Once.Seen(ctx, key)
	if err != nil {
		return res, err
	}
	if seen {
		res.Outcome, res.Reason = Skipped, "already told this repository how to add a configuration"
		return res, nil
	}
	if err := w.Commands.Reply(ctx, repo.ChatOps, in, in.Reply); err != nil {
		return res, err
	}
	log.Info().Msg("command in a repository without configuration: told how to add one, once")
	res.Outcome, res.Reason = Skipped, "told how to add a configuration"
	return res, w.Once.Remember(ctx, key)
}

func generatesIn(gens []rules.Generator, repo string) bool {
	for _, g := range gens {
		if strings.EqualFold(g.Repo, repo) {
			return true
		}
	}
	return false
}

// ConfigChecks writes the promobot/config check run of a pull request
// that changes the configuration (checkout.Source.CheckPullRequest).
type ConfigChecks interface {
	CheckPullRequest(ctx context.Context, in intent.Intent) (checkout.PRConfigCheck, error)
}

// configCheck judges a pull request's configuration under its lease, so
// two deliveries about one pull request never write its check at once.
func (w *Worker) configCheck(ctx context.Context, in intent.Intent, log zerolog.Logger) (Result, error) {
	res := Result{Intent: in, PR: in.Source.Issue, PRURL: in.Source.PRURL}
	if w.ConfigChecks == nil {
		res.Outcome, res.Reason = Skipped, "configuration checks are not enabled in this worker"
		return res, nil
	}
	ctx, release, err := w.Holder.Hold(ctx, fmt.Sprintf("configcheck/%s/%d", in.Repo, in.Source.Issue))
	if err != nil {
		return res, err
	}
	defer release()
	out, err := w.ConfigChecks.CheckPullRequest(ctx, in)
	switch {
	case err != nil:
		return res, err
	case out.Skip != "":
		res.Outcome, res.Reason = Skipped, out.Skip
	case out.Conclusion == "failure":
		res.Outcome, res.Reason = Refused, fmt.Sprintf("%s failure on #%d: %d annotations", checkout.ConfigCheckName, in.Source.Issue, out.Annotated)
	default:
		res.Outcome, res.Reason = Updated, fmt.Sprintf("%s %s on #%d", checkout.ConfigCheckName, out.Conclusion, in.Source.Issue)
	}
	log.Debug().Int("pr", in.Source.Issue).Str("conclusion", out.Conclusion).Int64("check_run", out.CheckRun).Msg("configuration check written")
	return res, nil
}
