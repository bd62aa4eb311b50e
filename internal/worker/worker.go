// Package worker is the short loop between the queue and the rest: decode an
// intent, hold its target, read the repository, let the planner decide,
// apply the plan, and map what happened onto exactly one queue action.
// Every decision lives elsewhere: what to write in planner, how to write it
// in prwriter, ChatOps in chatops, leases in queue, what a failure means
// where it is born (fate). The worker only joins them.
package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/chatops"
	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/prwriter"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/rules"
)

// Holder serialises work per key (queue.Hold): one target, or one command
// comment, is worked on by one worker at a time.
type Holder interface {
	Hold(ctx context.Context, key string) (held context.Context, release func(), err error)
}

// Repos opens an intent's GitOps repository (checkout.Source).
type Repos interface {
	Open(ctx context.Context, in intent.Intent) (checkout.Repo, error)
}

// Writer applies a plan on GitHub (prwriter.Writer).
type Writer interface {
	Apply(ctx context.Context, gh prwriter.GitHub, p *planner.Plan) (prwriter.Result, error)
}

// Commands runs ChatOps commands and replies (chatops.Commands).
type Commands interface {
	Handle(ctx context.Context, gh chatops.GitHub, in intent.Intent, loadRules func(context.Context) (*rules.Rules, error), promote chatops.Promote) (chatops.Promotion, error)
	Reply(ctx context.Context, gh chatops.GitHub, in intent.Intent, text string) error
}

// Delivery is one queued intent as the worker reads it (*queue.Delivery).
type Delivery interface {
	Data() []byte
	Subject() string
	MsgID() string
	NumDelivered() uint64
}

// Worker handles intents from the queue.
type Worker struct {
	Holder   Holder
	Repos    Repos
	Writer   Writer
	Commands Commands
	// Budget, when set, admits each promotion's GitHub writes under the
	// deployment's shared write budget.
	Budget Budget
	Log    zerolog.Logger
	Now    func() time.Time
	// Observe, when set, sees every result (tests and the demo wait on it).
	Observe func(Result)
	// Merges, when set, finishes autoMerge pull requests (merge.go).
	Merges Merges
	// Promoted, when set, sees the result of every promotion, a command's
	// included (the status page records open PRs and closed gates).
	Promoted func(Result)
	// Metrics, when set, counts results and promotion latency.
	Metrics *Metrics
	// Policy, when set, judges pull requests' promobot/policy checks.
	Policy Policy
	// Once, when set, remembers replies given once per repository (config.go).
	Once Once
	// ConfigChecks, when set, writes promobot/config on pull requests (config.go).
	ConfigChecks ConfigChecks
	// Waits, when set, remembers commands waiting for health (waits.go).
	Waits Waits
	// Health, when set, keeps health reports for the status page (healthreport.go).
	Health HealthRecords
}

// Handle processes one delivery and returns its one queue action.
func (w *Worker) Handle(ctx context.Context, d Delivery) queue.Outcome {
	in, err := intent.Unmarshal(d.Data())
	if err != nil {
		w.Log.Error().Err(err).Str("subject", d.Subject()).Str("msg_id", d.MsgID()).Msg("undecodable intent dead-lettered")
		return queue.Outcome{Action: queue.Terminal, Reason: err.Error()}
	}
	log := w.Log.With().Str("intent", in.ID).Str("delivery", in.DeliveryID).Str("event", in.Event).
		Int64("installation", in.InstallationID).Str("repo", in.Repo).Strs("services", in.Services).
		Str("env", in.To).Uint64("attempt", d.NumDelivered()).Logger()

	res, err := w.handle(ctx, in, log)
	out, res := Action(res, err, w.Now(), ctx.Err() != nil)
	logDecision(log, out, res, err)
	if out.Action == queue.Terminal {
		w.tell(ctx, in, err, log)
	}
	if out.Action != queue.Release {
		w.Metrics.observe(res, w.Now())
	}
	if w.Observe != nil && out.Action != queue.Release {
		w.Observe(res)
	}
	return out
}

func (w *Worker) handle(ctx context.Context, in intent.Intent, log zerolog.Logger) (Result, error) {
	res := Result{Intent: in}
	if in.Kind == intent.KindHealth { // neither GitHub nor git
		return w.healthReport(ctx, in)
	}
	repo, err := w.Repos.Open(ctx, in)
	if err != nil {
		return res, err
	}
	if in.Kind == intent.KindMerge {
		return w.merge(ctx, repo, in, log)
	}
	if in.Kind == intent.KindPolicy {
		return w.policy(ctx, repo, in, log)
	}
	if in.Kind == intent.KindConfig || in.Kind == intent.KindNoConfig || in.Kind == intent.KindConfigCheck {
		return w.config(ctx, repo, in, log)
	}
	if in.Kind != intent.KindReply && !in.Command() {
		return w.promoted(w.promote(ctx, repo, in, log))
	}
	// One comment is handled by one worker at a time, whatever the deliveries.
	ctx, release, err := w.Holder.Hold(ctx, fmt.Sprintf("comment/%s/%d", in.Repo, in.Source.CommentID))
	if err != nil {
		return res, err
	}
	defer release()
	if in.Kind == intent.KindReply {
		res.Outcome, res.Reason = Skipped, "answered the comment"
		return res, w.Commands.Reply(ctx, repo.ChatOps, in, in.Reply)
	}
	loadRules := func(ctx context.Context) (*rules.Rules, error) {
		t, err := repo.Read(ctx)
		return t.Rules, err
	}
	var waits []string
	p, err := w.Commands.Handle(ctx, repo.ChatOps, in, loadRules, func(ctx context.Context, sub intent.Intent) (chatops.Promotion, error) {
		r, err := w.promoted(w.promote(ctx, repo, sub, log))
		waits = healthWait(ctx, repo, sub, r, err, waits)
		return r.promotion(), err
	})
	w.rememberWaits(ctx, in, waits, err, log)
	return fromPromotion(in, p), err
}

// promote plans and applies one promotion under its target's lease. The
// repository is read after the lease is taken, so it shows what the
// previous holder pushed.
func (w *Worker) promote(ctx context.Context, repo checkout.Repo, in intent.Intent, log zerolog.Logger) (Result, error) {
	res := Result{Intent: in}
	ctx, release, err := w.Holder.Hold(ctx, in.Target().String())
	if err != nil {
		return res, err
	}
	defer release()
	tree, err := repo.Read(ctx)
	if errors.Is(err, checkout.ErrIgnored) {
		res.Outcome, res.Reason = Skipped, err.Error()
		return res, nil
	}
	if err != nil {
		return res, err
	}
	if parts := planner.Parts(tree.Rules, in); parts != nil {
		return w.promoteParts(ctx, repo, in, parts, log)
	}
	dec, err := planner.Decide(ctx, tree.Rules, in, tree.Views, w.Now())
	switch {
	case err != nil:
		return res, err
	case dec.Skip != "":
		res.Outcome, res.Reason = Skipped, dec.Skip
		return res, nil
	case dec.Refusal != nil:
		res.Outcome, res.Reason, res.RetryAt = Refused, dec.Refusal.Reason, dec.Refusal.RetryAt
		res.Gate = closedGate(dec.Refusal.Gates)
		return res, w.tellUnhealthy(ctx, repo, in, dec.Refusal, log)
	}
	p := dec.Plan
	ctx, done, wait, err := w.reserve(ctx, tree.Rules, in, p)
	switch {
	case err != nil:
		return res, err
	case wait != nil:
		// Waiting for GitHub's write budget: told once, then quiet.
		res.Outcome, res.Reason, res.RetryAt, res.quiet = Delayed, wait.Error(), wait.Retry, !wait.First
		return res, nil
	}
	defer done()
	wr, err := w.Writer.Apply(ctx, repo.Writer, p)
	if err != nil {
		return res, err
	}
	res.Commit, res.Base, res.PR, res.PRURL = wr.CommitSHA, p.BaseSHA, wr.Number, wr.URL
	if p.AutoMerge && !p.Direct && wr.Number != 0 {
		if err := w.finishMerge(ctx, repo, p, wr.Number, log); err != nil {
			return res, err
		}
	}
	switch {
	case p.Direct:
		res.Outcome, res.Reason = Committed, fmt.Sprintf("committed %.7s to %s", wr.CommitSHA, p.BaseBranch)
	case wr.Created:
		res.Outcome, res.Reason = Opened, fmt.Sprintf("opened PR #%d", wr.Number)
	default:
		res.Outcome, res.Reason = Updated, fmt.Sprintf("updated PR #%d", wr.Number)
	}
	w.reportSource(ctx, repo, in, p, res, log)
	return res, nil
}

// promoteParts promotes each target of a splitTargets environment on its
// own branch, lease and PR. A part whose gate is closed does not hold back
// the others; the intent is retried when the latest closed gate opens.
func (w *Worker) promoteParts(ctx context.Context, repo checkout.Repo, in intent.Intent, parts []string, log zerolog.Logger) (Result, error) {
	res := Result{Intent: in}
	var reasons []string
	quiet, loud := false, false
	for _, part := range parts {
		sub := in
		sub.Part = part
		r, err := w.promote(ctx, repo, sub, log.With().Str("part", part).Logger())
		if err != nil {
			return res, fmt.Errorf("target %s: %w", part, err)
		}
		reasons = append(reasons, part+": "+r.Reason)
		if res.PR == 0 && r.PR != 0 {
			res.PR, res.PRURL, res.Commit, res.Base = r.PR, r.PRURL, r.Commit, r.Base
		}
		if r.RetryAt.After(res.RetryAt) {
			res.RetryAt = r.RetryAt
		}
		if !r.RetryAt.IsZero() {
			quiet, loud = quiet || r.quiet, loud || !r.quiet
		}
		if res.Outcome == "" || r.Outcome == Opened || (r.Outcome == Updated && res.Outcome != Opened) {
			res.Outcome = r.Outcome
		}
	}
	res.Reason, res.quiet = strings.Join(reasons, "; "), quiet && !loud
	return res, nil
}
