package worker

import (
	"context"
	"fmt"
	"strings"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/prwriter"
)

// reportSource sets a commit status on the build's source commit, where the
// developer who pushed it looks ("promotion to dev: committed abc1234"). A
// status that cannot be set costs the promotion nothing: it is logged.
func (w *Worker) reportSource(ctx context.Context, repo checkout.Repo, in intent.Intent, p *planner.Plan, res Result, log zerolog.Logger) {
	if in.Kind != intent.KindUpdate || in.Source.SHA == "" || in.Source.Repo == "" || in.Source.Repo == in.Repo {
		return
	}
	if err := prwriter.Status(ctx, repo.Statuses, in.Source.Repo, in.Source.SHA, "success",
		"promobot/"+p.Target.Env, fmt.Sprintf("promotion to %s: %s", p.Target.Env, res.Reason), res.PRURL); err != nil {
		log.Warn().Err(err).Msg("commit status on source not set")
	}
}

// tell posts a terminal failure where someone will see it: in the one
// reply to a ChatOps command, or as a failed commit status on the commit
// that started the promotion (the build's commit, or the GitOps commit of
// a push). Nobody is told twice: a dead letter is never retried.
func (w *Worker) tell(ctx context.Context, in intent.Intent, cause error, log zerolog.Logger) {
	if in.Kind == intent.KindPolicy {
		w.tellPolicy(ctx, in, cause, log)
		return
	}
	if !in.Command() && (in.Source.SHA == "" || !intent.ValidRepo(in.Source.Repo)) {
		return
	}
	if in.Kind == intent.KindConfig || in.Kind == intent.KindConfigCheck {
		return // no promotion to report; the log line tells
	}
	repo, err := w.Repos.Open(ctx, in)
	if err == nil {
		msg := fmt.Sprintf("promobot could not promote %s to %s: %s", strings.Join(in.Services, ", "), in.To, cause)
		if in.Command() {
			err = w.Commands.Reply(ctx, repo.ChatOps, in, fmt.Sprintf("@%s %s", in.Requester, msg))
		} else {
			err = prwriter.Status(ctx, repo.Statuses, in.Source.Repo, in.Source.SHA, "failure", "promobot/"+in.To, msg, "")
		}
	}
	if err != nil {
		log.Warn().Err(err).Msg("failure not reported to a person")
	}
}
