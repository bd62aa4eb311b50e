package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/queue"
)

// prGrace is how much older than a listing of open pull requests a PR
// record must be to be judged by it: a PR opened while the list was read
// (or recorded by a process whose clock runs behind) is not in it.
const prGrace = time.Minute

// maxPullPages bounds the pages of open pull requests read per repository
// (100 a page); past it nothing is pruned, since the list is incomplete.
const maxPullPages = 20

// pullLister lists the numbers of a repository's open pull requests.
type pullLister interface {
	OpenPulls(ctx context.Context, repo string) (map[int]bool, error)
}

// ghPulls lists open pull requests through the repository's installation.
type ghPulls struct{ clients *ghapp.Clients }

func (g ghPulls) OpenPulls(ctx context.Context, repo string) (map[int]bool, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok {
		return nil, fmt.Errorf("invalid repository %q", repo)
	}
	inst, err := g.clients.For(ctx, repo, 0)
	if err != nil {
		return nil, err
	}
	open := map[int]bool{}
	opt := &github.PullRequestListOptions{State: "open", ListOptions: github.ListOptions{PerPage: 100}}
	for range maxPullPages {
		prs, resp, err := inst.Client.PullRequests.List(ctx, owner, name, opt)
		if err != nil {
			return nil, fmt.Errorf("list open pull requests of %s: %w", repo, err)
		}
		for _, pr := range prs {
			open[pr.GetNumber()] = true
		}
		if resp.NextPage == 0 {
			return open, nil
		}
		opt.Page = resp.NextPage
	}
	return nil, fmt.Errorf("list open pull requests of %s: more than %d pages", repo, maxPullPages)
}

// prunePRs drops the open PR records of repo whose pull request is closed
// (without merging, or merged: no event tells the workers). It reads
// GitHub only when repo has PR records, once per background refresh.
func (b *liveBoard) prunePRs(ctx context.Context, repo string, pulls pullLister) error {
	if b == nil {
		return nil
	}
	type found struct {
		rec liveRecord
		rev uint64
	}
	keys, err := b.kv.ListKeysFiltered(ctx, livePR+">")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list PR records: %w", err)
	}
	recs := map[string]found{}
	for k := range keys.Keys() {
		e, err := b.kv.Get(ctx, k)
		if err != nil {
			continue // gone since, or unreadable: judged at the next refresh
		}
		var r liveRecord
		if json.Unmarshal(e.Value(), &r) == nil && strings.EqualFold(r.Repo, repo) && r.PR != 0 {
			recs[k] = found{r, e.Revision()}
		}
	}
	if len(recs) == 0 {
		return nil
	}
	listed := b.clock()
	open, err := pulls.OpenPulls(ctx, repo)
	if err != nil {
		return err
	}
	var errs []error
	for k, f := range recs {
		if open[f.rec.PR] || !f.rec.At.Before(listed.Add(-prGrace)) {
			continue
		}
		err := b.kv.Delete(ctx, k, jetstream.LastRevision(f.rev))
		switch {
		case err == nil:
			b.log.Info().Str("repo", repo).Str("service", f.rec.Service).Str("env", f.rec.Env).Int("pr", f.rec.PR).
				Str("intent", f.rec.Intent).Msg("ui: pull request no longer open; its entry leaves the page")
		case queue.CASConflict(err), errors.Is(err, jetstream.ErrKeyNotFound):
			// rewritten since it was read: the newer record stands
		default:
			errs = append(errs, fmt.Errorf("clear %s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}
