package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
)

// healthMarker starts promobot's comment about a failed health check; one
// per commit that brought the tag and check, whatever the deliveries.
const healthMarker = "<!-- promobot:health:"

// tellUnhealthy tells the people who brought a tag into an environment
// that a health check failed there, or never succeeded before the timeout:
// one comment on the PR that brought it, or on the commit for a direct
// commit. Other refusals tell nobody here.
func (w *Worker) tellUnhealthy(ctx context.Context, repo checkout.Repo, in intent.Intent, r *planner.Refusal, log zerolog.Logger) error {
	var f *planner.CheckFailure
	for _, g := range r.Gates {
		if g.Failed != nil {
			f = g.Failed
			break
		}
	}
	if f == nil {
		return nil
	}
	err := w.tellFailure(ctx, repo, in, f, log)
	if kind, _ := fate.Of(err); err != nil && kind == fate.Terminal {
		// The refusal stands and the reply names the check; a comment
		// GitHub will never take is not worth the intent.
		log.Warn().Err(err).Str("check", f.Check).Msg("could not tell that a health check failed")
		return nil
	}
	return err
}

func (w *Worker) tellFailure(ctx context.Context, repo checkout.Repo, in intent.Intent, f *planner.CheckFailure, log zerolog.Logger) error {
	sum := sha256.Sum256([]byte(f.Check))
	mark := fmt.Sprintf("%s%.12s:%s -->", healthMarker, f.Commit, hex.EncodeToString(sum[:6]))
	check := "`" + strings.ReplaceAll(f.Check, "`", "'") + "`"
	if f.URL != "" {
		check = fmt.Sprintf("[%s](%s)", strings.ReplaceAll(f.Check, "]", ")"), f.URL)
	}
	body := fmt.Sprintf("%s\n⛔ **%s is not healthy in %s**: check %s failed", mark, f.Tag, f.Env, check)
	switch {
	case f.TimedOut > 0:
		body = fmt.Sprintf("%s\n⛔ **%s is not healthy in %s**: no success from %s within %s of reaching it", mark, f.Tag, f.Env, check, f.TimedOut)
	case f.OnSHA != "":
		body += fmt.Sprintf(" on %.7s", f.OnSHA)
	}
	body += fmt.Sprintf(".\n\npromobot will not promote it out of %s until the check succeeds on a commit that runs it.", f.Env)
	log = log.With().Str("check", f.Check).Str("commit", f.Commit).Int("pr", f.PR).Logger()
	if f.PR > 0 && repo.Merge != nil {
		cs, err := repo.Merge.ListComments(ctx, in.Repo, f.PR)
		if err != nil {
			return fmt.Errorf("list comments of #%d: %w", f.PR, ghretry.Fate(err, time.Now()))
		}
		for _, c := range cs {
			if strings.HasPrefix(c.Body, mark) {
				return nil
			}
		}
		if err := repo.Merge.CreateComment(ctx, in.Repo, f.PR, body); err != nil {
			return fmt.Errorf("comment on #%d: %w", f.PR, ghretry.Fate(err, time.Now()))
		}
		log.Info().Msg("told the PR that brought the tag: a health check failed")
		return nil
	}
	if repo.Commits == nil {
		return nil
	}
	cs, err := repo.Commits.ListCommitComments(ctx, in.Repo, f.Commit)
	if err != nil {
		return fmt.Errorf("list comments of %.7s: %w", f.Commit, err)
	}
	for _, c := range cs {
		if strings.HasPrefix(c, mark) {
			return nil
		}
	}
	if err := repo.Commits.CreateCommitComment(ctx, in.Repo, f.Commit, body); err != nil {
		return fmt.Errorf("comment on %.7s: %w", f.Commit, err)
	}
	log.Info().Msg("told the commit that brought the tag: a health check failed")
	return nil
}
