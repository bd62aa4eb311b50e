package worker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/policycheck"
)

// OpenPulls lists a repository's open pull requests into a base branch
// (policycheck's REST adapter has it).
type OpenPulls interface {
	OpenPulls(ctx context.Context, repo, base string) ([]policycheck.Pull, error)
}

// policySweep judges again the promobot/policy check of every open PR into
// the base branch after a health check of environment in.From changed:
// the previous-environment health gate of PRs moving a tag out of it may
// have opened or closed. PRs that change no target of an environment after
// in.From cost one read and are left alone; each other is judged under its own lease, as its own
// policy intent would be; a PR whose verdict is unchanged costs reads, no
// write, and one that touches no target gets no check run.
func (w *Worker) policySweep(ctx context.Context, repo checkout.Repo, in intent.Intent, log zerolog.Logger) (Result, error) {
	res := Result{Intent: in}
	lister, ok := repo.Policy.(OpenPulls)
	if !ok {
		res.Outcome, res.Reason = Skipped, "open pull requests cannot be listed here"
		return res, nil
	}
	tree, err := repo.Read(ctx)
	if err != nil {
		return res, err
	}
	base := tree.Rules.Defaults.BaseBranch
	if base == "" {
		base = "main"
	}
	prs, err := lister.OpenPulls(ctx, in.Repo, base)
	if err != nil {
		return res, fmt.Errorf("list open PRs: %w", ghretry.Fate(err, time.Now()))
	}
	var first error
	changed, judged := 0, 0
	skipped := 0
	for _, pr := range prs {
		moves, err := policycheck.MovesOutOf(ctx, repo.Policy, tree.Rules, in.Repo, pr.Number, in.From)
		if err == nil && !moves {
			skipped++ // changes nothing the health of in.From gates
			continue
		}
		one := in
		one.ID, one.From = in.ID+"/pr-"+strconv.Itoa(pr.Number), ""
		one.Source.Issue, one.Source.SHA, one.Source.Ref = pr.Number, pr.HeadSHA, pr.HeadRef
		r, err := Result{}, err
		if err == nil {
			r, err = w.policy(ctx, repo, one, log.With().Int("pr", pr.Number).Logger())
		}
		if err != nil {
			if first == nil {
				first = err
			}
			log.Warn().Err(err).Int("pr", pr.Number).Msg("policy not judged again after a health change")
			continue
		}
		judged++
		switch r.Outcome {
		case Updated, Refused:
			changed++
		case Delayed:
			if res.RetryAt.IsZero() || r.RetryAt.Before(res.RetryAt) {
				res.RetryAt = r.RetryAt
			}
		}
	}
	if first != nil {
		return res, first
	}
	res.Reason = fmt.Sprintf("health of %s changed: %d open PRs judged again (%d move no tag out of it), %d check runs written", in.From, judged, skipped, changed)
	switch {
	case !res.RetryAt.IsZero():
		res.Outcome, res.Reason = Delayed, res.Reason+"; some wait for the write budget"
	case changed > 0:
		res.Outcome = Updated
	default:
		res.Outcome = Skipped
	}
	return res, nil
}
