package worker

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/chatops"
	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/queue"
)

// Outcome names what happened to an intent, for logs, metrics and observers.
type Outcome string

// The outcomes of handling one intent.
const (
	Committed Outcome = "committed" // direct commit to the base branch
	Opened    Outcome = "opened"    // new PR
	Updated   Outcome = "updated"   // existing PR updated
	Skipped   Outcome = "skipped"   // nothing to do
	Refused   Outcome = "refused"   // a gate or a check said no
	Delayed   Outcome = "delayed"   // retried later
	Failed    Outcome = "failed"    // dead-lettered
	Merged    Outcome = "merged"    // an autoMerge PR merged by promobot
	Recorded  Outcome = "recorded"  // a health report kept for the status page
)

// Result is what handling one intent came to; observers see it.
type Result struct {
	Intent  intent.Intent
	Outcome Outcome
	Reason  string
	PR      int
	PRURL   string
	Commit  string // the commit promobot made
	Base    string // the base branch commit it was made on
	// RetryAt is set when a gate is closed until then, or the promotion
	// waits for GitHub's write budget: not a failure, a result that asks
	// to be handled again at that time.
	RetryAt time.Time
	// Gate names the closed gate of a refusal (the status page shows it).
	Gate string

	// quiet: a wait already logged on an earlier delivery (the write
	// budget's); its decision is logged at debug level.
	quiet bool
}

func (r Result) promotion() chatops.Promotion {
	return chatops.Promotion{Outcome: string(r.Outcome), Reason: r.Reason, PR: r.PR, PRURL: r.PRURL, RetryAt: r.RetryAt}
}

func fromPromotion(in intent.Intent, p chatops.Promotion) Result {
	return Result{Intent: in, Outcome: Outcome(p.Outcome), Reason: p.Reason, PR: p.PR, PRURL: p.PRURL, RetryAt: p.RetryAt}
}

// Action maps what handling an intent came to onto exactly one queue
// action, and completes the result with the outcome observers see. It
// reads each failure's fate as the code that met it decided; stopping says
// the process is shutting down (the intent goes back untouched).
func Action(res Result, err error, now time.Time, stopping bool) (queue.Outcome, Result) {
	if err == nil {
		if res.RetryAt.IsZero() {
			return queue.Outcome{Action: queue.Ack}, res
		}
		res.Outcome = Delayed
		return queue.Outcome{Action: queue.Retry, Delay: max(res.RetryAt.Sub(now), time.Second), Reason: res.Reason}, res
	}
	res.Reason = err.Error()
	if stopping {
		return queue.Outcome{Action: queue.Release, Reason: "shutdown"}, res
	}
	switch kind, at := fate.Of(err); kind {
	case fate.Terminal:
		res.Outcome = Failed
		return queue.Outcome{Action: queue.Terminal, Reason: res.Reason}, res
	case fate.RetryAt:
		res.Outcome, res.RetryAt = Delayed, at
		return queue.Outcome{Action: queue.Retry, Delay: max(at.Sub(now), time.Millisecond), Reason: res.Reason}, res
	}
	// May go away by itself (network, 5xx): the queue's backoff schedule
	// spaces the attempts and its delivery limit bounds them.
	res.Outcome = Delayed
	return queue.Outcome{Action: queue.Retry, Reason: res.Reason}, res
}

// logDecision writes the one log line of an intent's decision.
func logDecision(log zerolog.Logger, out queue.Outcome, res Result, err error) {
	var ev *zerolog.Event
	switch {
	case out.Action == queue.Terminal:
		ev = log.Error().Err(err)
	case res.quiet && err == nil:
		ev = log.Debug()
	case out.Action == queue.Release:
		ev = log.Info().Err(err)
	case err != nil:
		ev = log.Warn().Err(err)
	default:
		ev = log.Info()
	}
	if out.Action == queue.Retry {
		ev = ev.Dur("delay", out.Delay)
	}
	ev.Str("action", out.Action.String()).Str("outcome", string(res.Outcome)).Str("reason", res.Reason).
		Int("pr", res.PR).Str("commit", res.Commit).Msg("intent handled")
}
