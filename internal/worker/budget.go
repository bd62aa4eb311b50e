package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/promobot/promobot/internal/budget"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/rules"
)

// Budget is the deployment's shared GitHub write budget (*budget.Budget).
// Reserve returns a context carrying the reservation, which the GitHub
// transport charges the writes made with it to, and done, which settles
// it; or a *budget.Delay (fate RetryAt) when the promotion has to wait its
// turn.
type Budget interface {
	Reserve(ctx context.Context, t budget.Ticket) (spend context.Context, done func(), err error)
}

// reserve asks the budget for room for p's writes. A promotion that must
// wait is not a failure: like a closed gate that opens with time, it is a
// Delayed result whose reason tells the person (the command's reply) and
// the log why and until when; the intent comes back then, keeping its
// place in the line.
func (w *Worker) reserve(ctx context.Context, rs *rules.Rules, in intent.Intent, p *planner.Plan) (context.Context, func(), *budget.Delay, error) {
	if w.Budget == nil {
		return ctx, func() {}, nil, nil
	}
	spend, done, err := w.Budget.Reserve(ctx, budget.Ticket{
		Repo: in.Repo, ID: in.ID + "|" + p.Target.String(), Priority: priority(rs, in),
		Created: in.CreatedAt, Writes: writes(p, in),
	})
	var d *budget.Delay
	if errors.As(err, &d) {
		return nil, nil, d, nil
	}
	if err != nil {
		return nil, nil, nil, err
	}
	noteWait(p, budget.Waited(spend))
	return spend, done, nil, nil
}

// priority puts what people asked for, and promotions into environments
// only people promote into (prod), before automatic ones.
func priority(rs *rules.Rules, in intent.Intent) budget.Priority {
	if in.Command() || in.Kind == intent.KindRollback {
		return budget.Urgent
	}
	if env, ok := rs.Env(in.Services[0], in.To); ok && !env.Auto {
		return budget.Urgent
	}
	return budget.Bulk
}

// writes estimates the content-creating requests applying p makes (see
// prwriter.Writer.Apply): a blob per non-text file, a tree, a commit and a
// ref unless the branch already holds the plan; then updating the PR, or
// opening it with its reviewers and labels; a merge; the commit status on
// the build's commit when the same installation pays for it. Rarer writes
// (reviewers GitHub refuses, asked one by one; a commit on top of a branch
// that forbids force pushes) are charged as they happen.
func writes(p *planner.Plan, in intent.Intent) int {
	n := 0
	if p.Direct || !p.BranchCurrent {
		n += 3
		for _, e := range p.Edits {
			if !utf8.Valid(e.New) {
				n++
			}
		}
	}
	if !p.Direct {
		n++ // the pull request, opened or edited
		if !p.BranchExists || p.BranchStale {
			if !p.Reviewers.Empty() {
				n++
			}
			if len(p.Labels) > 0 {
				n++
			}
		}
		if p.AutoMerge {
			n++
		}
	}
	if in.Kind == intent.KindUpdate && in.Source.SHA != "" && in.Source.Repo != "" &&
		!strings.EqualFold(in.Source.Repo, in.Repo) && sameOwner(in.Source.Repo, in.Repo) {
		n++
	}
	return n
}

func sameOwner(a, b string) bool {
	oa, _, _ := strings.Cut(a, "/")
	ob, _, _ := strings.Cut(b, "/")
	return strings.EqualFold(oa, ob)
}

// noteWait says in the PR body that the promotion waited for the write
// budget, above the hidden metadata block, when the body has room for it.
func noteWait(p *planner.Plan, waited time.Duration) {
	if waited < time.Second || p.Direct {
		return
	}
	note := fmt.Sprintf("> ⏳ This promotion waited %s for GitHub's write budget: promobot keeps the installation's "+
		"content-creating requests within GitHub's secondary rate limits, oldest and most urgent promotions first.\n\n",
		waited.Round(time.Second))
	i := strings.LastIndex(p.Body, "<!-- promobot:")
	if i < 0 || len(p.Body)+len(note) > planner.MaxBodyBytes {
		return
	}
	p.Body = p.Body[:i] + note + p.Body[i:]
}
