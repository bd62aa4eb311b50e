package worker

import (
	"context"
	"fmt"
	"strings"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/automerge"
	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/rules"
)

// Merges finishes autoMerge pull requests (automerge.Merger).
type Merges interface {
	// Finish enables GitHub's auto-merge (native), merges a PR that is
	// mergeable now, or waits for the next event.
	Finish(ctx context.Context, gh automerge.GitHub, repo string, number int, method string, native bool) (automerge.Result, error)
	// Failed tells, once, that a check failed on the PR.
	Failed(ctx context.Context, gh automerge.GitHub, repo string, number int, check, url string) (automerge.Result, error)
}

// finishMerge runs after the writer opened or updated an autoMerge PR.
// The PR exists whatever happens here: a refusal is told on the PR, and
// only a failure that may go away by itself retries the intent (applying
// the same plan again is a no-op up to this point).
func (w *Worker) finishMerge(ctx context.Context, repo checkout.Repo, p *planner.Plan, number int, log zerolog.Logger) error {
	if w.Merges == nil || repo.Merge == nil {
		return nil
	}
	r, err := w.Merges.Finish(ctx, repo.Merge, p.Target.Repo, number, p.MergeMethod, true)
	if err != nil {
		if kind, _ := fate.Of(err); kind == fate.Terminal {
			log.Warn().Err(err).Int("pr", number).Msg("auto-merge not done; the PR waits for people")
			return nil
		}
		return err
	}
	log.Info().Int("pr", number).Str("merge", string(r.Outcome)).Str("method", r.Method).Str("why", r.Reason).Msg("auto-merge")
	return nil
}

// merge handles a merge intent: a check suite, status or review on an
// autoMerge PR of promobot's. Each PR is looked at under its own lease.
func (w *Worker) merge(ctx context.Context, repo checkout.Repo, in intent.Intent, log zerolog.Logger) (Result, error) {
	res := Result{Intent: in, Outcome: Skipped}
	if w.Merges == nil || repo.Merge == nil {
		res.Reason = "auto-merge is not set up"
		return res, nil
	}
	tree, err := repo.Read(ctx)
	if err != nil {
		return res, err
	}
	numbers := []int{in.Source.Issue}
	if in.Source.Issue == 0 {
		prs, err := repo.Writer.ListOpenPulls(ctx, in.Repo, in.Source.Ref, baseOf(tree.Rules))
		if err != nil {
			return res, fmt.Errorf("list pull requests of %s: %w", in.Source.Ref, err)
		}
		numbers = numbers[:0]
		for _, pr := range prs {
			numbers = append(numbers, pr.Number)
		}
	}
	var reasons []string
	for _, n := range numbers {
		r, err := w.mergeOne(ctx, repo, tree.Rules, in, n)
		if err != nil {
			return res, fmt.Errorf("pull request #%d: %w", n, err)
		}
		if r.Outcome == automerge.Merged {
			res.Outcome, res.PR = Merged, n
		}
		reasons = append(reasons, fmt.Sprintf("#%d: %s", n, r.Reason))
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "no open pull request")
	}
	res.Reason = strings.Join(reasons, "; ")
	return res, nil
}

func (w *Worker) mergeOne(ctx context.Context, repo checkout.Repo, rs *rules.Rules, in intent.Intent, n int) (automerge.Result, error) {
	ctx, release, err := w.Holder.Hold(ctx, fmt.Sprintf("merge/%s/%d", in.Repo, n))
	if err != nil {
		return automerge.Result{}, err
	}
	defer release()
	pr, err := repo.Merge.Pull(ctx, in.Repo, n)
	if err != nil {
		return automerge.Result{}, fmt.Errorf("get pull request: %w", err)
	}
	method, ok := autoMergeOf(rs, in.Repo, pr)
	if !ok {
		return automerge.Result{Outcome: automerge.NotPending, Reason: "not an autoMerge pull request of promobot's"}, nil
	}
	if c := in.Check; c != nil && c.State != "success" && c.State != "pending" {
		return w.Merges.Failed(ctx, repo.Merge, in.Repo, n, c.Name, c.URL)
	}
	return w.Merges.Finish(ctx, repo.Merge, in.Repo, n, method, false)
}

// autoMergeOf reads a PR's promotion from its metadata block and says
// whether its environment merges automatically, and how. Only a PR an App
// opened from promobot's branch for that promotion, in the repository
// itself, counts: anyone could paste a metadata block into a PR.
func autoMergeOf(rs *rules.Rules, repo string, pr automerge.Pull) (method string, ok bool) {
	md, found := planner.ParseMetadata(pr.Body)
	if !found || !strings.EqualFold(md.Repo, repo) || !strings.EqualFold(pr.HeadRepo, repo) || pr.UserType != "Bot" || len(md.Services) == 0 {
		return "", false
	}
	names := map[string]bool{}
	for _, s := range md.Services {
		es, ok := rs.Env(s.Name, md.Env)
		if !ok || !es.AutoMerge || es.Direct {
			return "", false
		}
		names[s.Name] = true
		method = es.MergeMethod
	}
	want := intent.Intent{Repo: repo, To: md.Env, Group: len(names) > 1}
	for n := range names {
		want.Services = append(want.Services, n)
	}
	branch, err := planner.BranchFor(rs, want)
	if err != nil || (pr.HeadRef != branch && !strings.HasPrefix(pr.HeadRef, branch+"/")) {
		return "", false
	}
	return method, true
}

func baseOf(rs *rules.Rules) string {
	if rs == nil || rs.Defaults.BaseBranch == "" {
		return "main"
	}
	return rs.Defaults.BaseBranch
}
