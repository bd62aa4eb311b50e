package worker

import (
	"context"
	"errors"
	"strings"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/budget"
	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/policycheck"
	"github.com/promobot/promobot/internal/rules"
)

// Policy judges one pull request's promobot/policy check
// (policycheck.Checker).
type Policy interface {
	Check(ctx context.Context, gh policycheck.GitHub, rs *rules.Rules, views planner.Views, in intent.Intent) (policycheck.Outcome, error)
}

// policy handles a policy intent under the PR's lease, so that two
// deliveries about one PR never write its check run at once. Without a
// Policy (a worker built without one) the intent is acknowledged.
func (w *Worker) policy(ctx context.Context, repo checkout.Repo, in intent.Intent, log zerolog.Logger) (Result, error) {
	res := Result{Intent: in, PR: in.Source.Issue, PRURL: in.Source.PRURL}
	if in.Sweep() {
		if err := w.wakeWaits(ctx, in, log); err != nil {
			return res, err
		}
	}
	if w.Policy == nil || repo.Policy == nil {
		res.Outcome, res.Reason = Skipped, "policy checks are not enabled in this worker"
		return res, nil
	}
	if in.Sweep() {
		return w.policySweep(ctx, repo, in, log)
	}
	ctx, release, err := w.Holder.Hold(ctx, in.Target().String())
	if err != nil {
		return res, err
	}
	defer release()
	tree, err := repo.Read(ctx)
	if err != nil {
		return res, err
	}
	if w.Budget != nil {
		// At most one write (the check run), within the deployment's
		// shared write budget like every promotion's; a wait is told once,
		// then quiet, as a promotion's.
		spend, done, err := w.Budget.Reserve(ctx, budget.Ticket{Repo: in.Repo, ID: in.ID + "|" + in.Target().String(),
			Priority: budget.Bulk, Created: in.CreatedAt, Writes: 1})
		var wait *budget.Delay
		if errors.As(err, &wait) {
			res.Outcome, res.Reason, res.RetryAt, res.quiet = Delayed, wait.Error(), wait.Retry, !wait.First
			return res, nil
		}
		if err != nil {
			return res, err
		}
		defer done()
		ctx = spend
	}
	out, err := w.Policy.Check(ctx, repo.Policy, tree.Rules, tree.Views, in)
	if err != nil {
		return res, err
	}
	res.Reason = out.Reason(in.Source.Issue)
	switch {
	case out.Skip != "":
		res.Outcome = Skipped
	case out.Wrote == "":
		res.Outcome = Skipped
	case out.Conclusion == "failure":
		res.Outcome = Refused
	default:
		res.Outcome = Updated
	}
	log.Debug().Int("pr", in.Source.Issue).Str("conclusion", out.Conclusion).Int64("check_run", out.CheckRun).Msg("policy judged")
	return res, nil
}

// tellPolicy reports a policy check that cannot be judged (a broken
// target file, a rule the tree breaks) as a failed promobot/policy check
// run on the PR's head: the check fails closed, and says why.
func (w *Worker) tellPolicy(ctx context.Context, in intent.Intent, cause error, log zerolog.Logger) {
	if in.Source.SHA == "" {
		return
	}
	repo, err := w.Repos.Open(ctx, in)
	if err == nil && repo.Policy != nil {
		_, err = repo.Policy.CreateCheckRun(ctx, in.Repo, policycheck.CheckRun{
			HeadSHA: in.Source.SHA, Conclusion: "failure", Title: "Policy could not be checked",
			Summary:     "promobot could not judge this pull request: " + strings.NewReplacer("\r", " ", "\n", " ", "<", "&lt;").Replace(cause.Error()) + "\n",
			CompletedAt: w.Now(),
		})
	}
	if err != nil {
		log.Warn().Err(err).Msg("failure not reported to a person")
	}
}
