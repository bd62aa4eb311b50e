// Package worker ties the queue to the planner and the PR writer: it turns
// each intent into exactly one queue action (ack, retry later, dead letter).
package worker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/gitmirror"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/prwriter"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/rules"
)

// Leaser hands out per-target leases.
type Leaser interface {
	Lease(ctx context.Context, key string) (*queue.Lease, error)
}

// Outcome names what happened to an intent, for logs, metrics and observers.
type Outcome string

// The outcomes of handling one intent.
const (
	Committed Outcome = "committed" // direct commit to the base branch
	Opened    Outcome = "opened"    // new PR
	Updated   Outcome = "updated"   // existing PR updated
	Skipped   Outcome = "skipped"   // nothing to do
	Refused   Outcome = "refused"   // a gate said no
	Delayed   Outcome = "delayed"   // retried later
	Failed    Outcome = "failed"    // dead-lettered
)

// Result is reported to the observer after each intent.
type Result struct {
	Intent  intent.Intent
	Outcome Outcome
	Reason  string
	PR      int
	PRURL   string
	Commit  string // the commit promobot made
	Base    string // the base branch commit it was made on
}

// Worker handles intents from the queue.
type Worker struct {
	Rules   func() *rules.Rules
	Clients *ghapp.Clients
	Mirrors *gitmirror.Mirrors
	Writer  *prwriter.Writer
	Replies Replies
	Leases  Leaser
	// LeaseTTL is the queue's lease time-to-live: how long a crashed
	// worker's lease blocks its target, and how often leases are refreshed.
	LeaseTTL time.Duration
	Log      zerolog.Logger
	Now      func() time.Time
	// Observe, when set, sees every result (tests and the demo wait on it).
	Observe func(Result)

	mu       sync.Mutex
	expanded map[expandKey]*rules.Rules
}

// Handle processes one delivery.
func (w *Worker) Handle(ctx context.Context, d *queue.Delivery) queue.Outcome {
	in, err := intent.Unmarshal(d.Data())
	if err != nil {
		w.Log.Error().Err(err).Str("subject", d.Subject()).Str("msg_id", d.MsgID()).Msg("undecodable intent dead-lettered")
		return queue.Outcome{Action: queue.Terminal, Reason: err.Error()}
	}
	log := w.Log.With().Str("intent", in.ID).Str("delivery", in.DeliveryID).Str("event", in.Event).
		Int64("installation", in.InstallationID).Str("repo", in.Repo).Strs("services", in.Services).
		Str("env", in.To).Uint64("attempt", d.NumDelivered()).Logger()

	res, err := w.handle(ctx, in, log)
	out, res := w.outcome(ctx, in, res, err, log)
	if w.Observe != nil && out.Action != queue.Release {
		w.Observe(res)
	}
	return out
}

func (w *Worker) handle(ctx context.Context, in intent.Intent, log zerolog.Logger) (Result, error) {
	if in.Kind == intent.KindReply || in.Command() {
		return w.command(ctx, in, log)
	}
	return w.promote(ctx, in, log)
}

// acquire takes the lease on key, waiting while another worker holds it: a
// crashed holder's lease expires after LeaseTTL, and waiting here (the queue
// heartbeats the message meanwhile) spends no delivery attempt. While held,
// the lease is refreshed every third of its TTL. release gives it back.
func (w *Worker) acquire(ctx context.Context, key string, log zerolog.Logger) (held context.Context, release func(), err error) {
	ttl := w.LeaseTTL
	if ttl <= 0 {
		ttl = 2 * time.Minute
	}
	deadline := time.Now().Add(ttl + ttl/2)
	delay := 50 * time.Millisecond
	var l *queue.Lease
	for {
		l, err = w.Leases.Lease(ctx, key)
		if err == nil {
			break
		}
		if !errors.Is(err, queue.ErrLeaseHeld) || time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("lease %s: %w", key, err)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, nil, fmt.Errorf("lease %s: %w", key, ctx.Err())
		}
		delay = min(delay*2, time.Second)
	}
	// Work stops when the lease is lost (NATS unreachable past the TTL):
	// another worker may hold the target by then.
	held, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(ttl / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				err := l.Refresh(ctx)
				if errors.Is(err, queue.ErrLeaseLost) {
					log.Warn().Err(err).Str("lease", key).Msg("lease lost; stopping this intent")
					cancel(err)
					return
				}
				if err != nil {
					log.Warn().Err(err).Str("lease", key).Msg("lease refresh failed")
				}
			}
		}
	}()
	return held, func() {
		close(stop)
		<-done
		cancel(nil)
		if err := l.Release(context.WithoutCancel(ctx)); err != nil {
			log.Warn().Err(err).Str("lease", key).Msg("release lease")
		}
	}, nil
}

// promote plans and applies one service's promotion under the target's lease.
func (w *Worker) promote(ctx context.Context, in intent.Intent, log zerolog.Logger) (Result, error) {
	res := Result{Intent: in}
	ctx, release, err := w.acquire(ctx, in.Target().String(), log)
	if err != nil {
		return res, err
	}
	defer release()

	inst, err := w.Clients.For(ctx, in.Repo, in.InstallationID)
	if err != nil {
		return res, err
	}
	rs, base, err := w.checkout(ctx, inst, in, w.Rules())
	if err != nil {
		return res, err
	}
	env, ok := rs.Env(in.Services[0], in.To)
	if !ok {
		res.Outcome, res.Reason = Refused, fmt.Sprintf("no environment %q for service %q in the rules", in.To, in.Services[0])
		return res, nil
	}
	if svc, ok := rs.Service(in.Services[0]); ok && env.SplitTargets && in.Part == "" && !in.Group && len(in.Services) == 1 && len(svc.Targets[in.To]) > 1 {
		return w.promoteParts(ctx, in, svc.Targets[in.To], log)
	}
	var branchView *gitmirror.Snapshot
	views := planner.Views{Base: base, History: history{m: w.Mirrors, repo: in.Repo, branch: env.BaseBranch},
		Branches: planner.BranchFunc(func(ctx context.Context, branch string) (planner.RepoView, error) {
			if _, err := w.Mirrors.Head(in.Repo, branch); err != nil {
				return nil, nil
			}
			bv, err := w.Mirrors.Snapshot(ctx, in.Repo, branch)
			if err != nil {
				return nil, fmt.Errorf("read %s@%s: %w", in.Repo, branch, err)
			}
			branchView = bv
			return bv, nil
		})}

	dec, err := planner.Decide(ctx, rs, in, views, w.Now())
	if err != nil {
		return res, err
	}
	switch {
	case dec.Skip != "":
		res.Outcome, res.Reason = Skipped, dec.Skip
		return res, nil
	case dec.Refusal != nil:
		res.Outcome, res.Reason = Refused, dec.Refusal.Reason
		if !dec.Refusal.RetryAt.IsZero() {
			return res, &retryAt{at: dec.Refusal.RetryAt, reason: dec.Refusal.Reason}
		}
		return res, nil
	}

	p := dec.Plan
	c := prwriter.Change{
		Repo: in.Repo, Key: p.Target.String(), BaseBranch: p.BaseBranch, BaseSHA: p.BaseSHA, BaseTree: base.Tree(),
		Branch: p.Branch, BranchExists: branchView != nil, BranchCurrent: p.BranchCurrent, BranchStale: p.BranchStale,
		Direct: p.Direct, CommitMessage: p.CommitMessage, Title: p.Title, Body: p.Body,
		Users: p.Reviewers.Users, Teams: p.Reviewers.Teams, Labels: p.Labels, AutoMerge: p.AutoMerge,
	}
	for _, e := range p.Edits {
		c.Files = append(c.Files, prwriter.File{Path: e.Path, Content: e.New})
	}
	wr, err := w.Writer.Apply(ctx, inst.Client, c)
	if err != nil {
		return res, err
	}
	res.Commit, res.Base, res.PR, res.PRURL = wr.CommitSHA, p.BaseSHA, wr.Number, wr.URL
	if wr.MergeErr != nil {
		log.Info().Err(wr.MergeErr).Int("pr", wr.Number).Msg("auto-merge not done; the PR waits for people")
	}
	switch {
	case p.Direct:
		res.Outcome, res.Reason = Committed, fmt.Sprintf("committed %s to %s", short(wr.CommitSHA), p.BaseBranch)
	case wr.Created:
		res.Outcome, res.Reason = Opened, fmt.Sprintf("opened PR #%d", wr.Number)
	default:
		res.Outcome, res.Reason = Updated, fmt.Sprintf("updated PR #%d", wr.Number)
	}
	w.reportSource(ctx, inst, in, p, res, log)
	return res, nil
}

// reportSource sets a commit status on the build's source commit, where the
// developer who pushed it looks ("promotion to dev: committed abc1234").
func (w *Worker) reportSource(ctx context.Context, inst *ghapp.Installation, in intent.Intent, p *planner.Plan, res Result, log zerolog.Logger) {
	if in.Kind != intent.KindUpdate || in.Source.SHA == "" || in.Source.Repo == "" || in.Source.Repo == in.Repo {
		return
	}
	target := res.PRURL
	if err := prwriter.Status(ctx, inst.Client, in.Source.Repo, in.Source.SHA, "success",
		"promobot/"+p.Target.Env, fmt.Sprintf("promotion to %s: %s", p.Target.Env, res.Reason), target); err != nil {
		log.Warn().Err(err).Msg("commit status on source not set")
	}
}

// promoteParts promotes each target of a splitTargets environment on its
// own branch, lease and PR.
func (w *Worker) promoteParts(ctx context.Context, in intent.Intent, targets rules.TargetList, log zerolog.Logger) (Result, error) {
	res := Result{Intent: in}
	var reasons []string
	for _, t := range targets {
		sub := in
		sub.Part = t.Part()
		r, err := w.promote(ctx, sub, log.With().Str("part", sub.Part).Logger())
		if err != nil {
			return res, fmt.Errorf("target %s: %w", sub.Part, err)
		}
		reasons = append(reasons, sub.Part+": "+r.Reason)
		if res.PR == 0 && r.PR != 0 {
			res.PR, res.PRURL, res.Commit, res.Base = r.PR, r.PRURL, r.Commit, r.Base
		}
		if res.Outcome == "" || r.Outcome == Opened || (r.Outcome == Updated && res.Outcome != Opened) {
			res.Outcome = r.Outcome
		}
	}
	res.Reason = strings.Join(reasons, "; ")
	return res, nil
}

// checkout brings the mirror of the intent's GitOps repository up to date
// and returns the base branch head, with the rules' generators expanded
// over it (so generated services are known).
func (w *Worker) checkout(ctx context.Context, inst *ghapp.Installation, in intent.Intent, rs *rules.Rules) (*rules.Rules, *gitmirror.Snapshot, error) {
	cloneURL, err := w.Clients.CloneURL(ctx, inst, in.Repo, in.Source.CloneURL)
	if err != nil {
		return nil, nil, err
	}
	creds := func(ctx context.Context) (string, string, error) {
		tok, err := inst.Token(ctx)
		return "x-access-token", tok, err
	}
	if err := w.Mirrors.Fetch(ctx, in.Repo, cloneURL, creds); err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", in.Repo, err)
	}
	branch := rs.Defaults.BaseBranch
	if branch == "" {
		branch = "main"
	}
	base, err := w.Mirrors.Snapshot(ctx, in.Repo, branch)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s@%s: %w", in.Repo, branch, err)
	}
	rs, err = w.expandRules(ctx, rs, in.Repo, base)
	if err != nil {
		return nil, nil, err
	}
	return rs, base, nil
}

// expandRules applies the rules' generators to the repository at base, so
// generated services are known; results are cached per rules and commit.
func (w *Worker) expandRules(ctx context.Context, rs *rules.Rules, repo string, base *gitmirror.Snapshot) (*rules.Rules, error) {
	if len(rs.Generators) == 0 {
		return rs, nil
	}
	key := expandKey{rs, repo, base.Commit()}
	w.mu.Lock()
	cached, ok := w.expanded[key]
	w.mu.Unlock()
	if ok {
		return cached, nil
	}
	out, err := rs.Expand(ctx, func(name string) (fs.FS, error) {
		if !strings.EqualFold(name, repo) {
			return emptyFS{}, nil
		}
		return base.FS(), nil
	})
	if err != nil {
		return nil, fate.Terminalf("expand generators over %s@%s: %w", repo, short(base.Commit()), err)
	}
	w.mu.Lock()
	if w.expanded == nil || len(w.expanded) > 64 {
		w.expanded = map[expandKey]*rules.Rules{}
	}
	w.expanded[key] = out
	w.mu.Unlock()
	return out, nil
}

type expandKey struct {
	rules      *rules.Rules
	repo, base string
}

// emptyFS lists nothing: generators of repositories other than the
// intent's expand to no service.
type emptyFS struct{}

func (emptyFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// history reads soak times from the mirror's base branch history.
type history struct {
	m            *gitmirror.Mirrors
	repo, branch string
}

func (h history) FirstSeen(ctx context.Context, path string, holds func([]byte) bool) (time.Time, bool, error) {
	return h.m.FirstSeen(ctx, h.repo, h.branch, path, holds)
}

type retryAt struct {
	at     time.Time
	reason string
}

func (r *retryAt) Error() string {
	return "gate closed until " + r.at.UTC().Format(time.RFC3339) + ": " + r.reason
}

// outcome maps a result or error to one queue action and logs the decision.
func (w *Worker) outcome(ctx context.Context, in intent.Intent, res Result, err error, log zerolog.Logger) (queue.Outcome, Result) {
	if err == nil {
		log.Info().Str("outcome", string(res.Outcome)).Str("reason", res.Reason).Int("pr", res.PR).
			Str("commit", res.Commit).Msg("intent handled")
		return queue.Outcome{Action: queue.Ack}, res
	}
	res.Reason = err.Error()
	var ra *retryAt
	switch {
	case errors.As(err, &ra):
		res.Outcome, res.Reason = Delayed, ra.reason
		log.Info().Str("outcome", string(Delayed)).Time("retry_at", ra.at).Str("reason", ra.reason).Msg("gate closed; retry when it opens")
		return queue.Outcome{Action: queue.Retry, Delay: max(ra.at.Sub(w.Now()), time.Second), Reason: ra.reason}, res
	case ctx.Err() != nil:
		log.Info().Err(err).Msg("shutting down; intent released")
		return queue.Outcome{Action: queue.Release, Reason: "shutdown"}, res
	case errors.Is(err, queue.ErrLeaseHeld):
		res.Outcome = Delayed
		log.Debug().Msg("target busy; retry shortly")
		return queue.Outcome{Action: queue.Retry, Delay: 2 * time.Second, Reason: "target leased"}, res
	}
	if d, ok := Retryable(err, w.Now()); ok {
		res.Outcome = Delayed
		log.Warn().Err(err).Dur("delay", d).Str("outcome", string(Delayed)).Msg("intent will be retried")
		return queue.Outcome{Action: queue.Retry, Delay: d, Reason: err.Error()}, res
	}
	res.Outcome = Failed
	log.Error().Err(err).Str("outcome", string(Failed)).Msg("intent dead-lettered")
	w.tellPerson(ctx, in, err, log)
	return queue.Outcome{Action: queue.Terminal, Reason: err.Error()}, res
}

// tellPerson posts a terminal failure where someone will see it: in the
// one reply to a ChatOps command, or as a failed commit status on the
// commit that started the promotion (the build's commit, or the GitOps
// commit of a push).
func (w *Worker) tellPerson(ctx context.Context, in intent.Intent, cause error, log zerolog.Logger) {
	inst, err := w.Clients.For(ctx, in.Repo, in.InstallationID)
	if err == nil {
		msg := fmt.Sprintf("promobot could not promote %s to %s: %s", strings.Join(in.Services, ", "), in.To, cause)
		switch {
		case in.Command():
			err = w.reply(ctx, inst, in, fmt.Sprintf("@%s %s", in.Requester, msg))
		case in.Source.SHA != "" && intent.ValidRepo(in.Source.Repo):
			err = prwriter.Status(ctx, inst.Client, in.Source.Repo, in.Source.SHA, "failure", "promobot/"+in.To, msg, "")
		default:
			return
		}
	}
	if err != nil {
		log.Warn().Err(err).Msg("failure not reported to a person")
	}
}

// Retryable says whether err can go away by itself, and after how long.
// 5xx, network errors and rate limits retry; 4xx that will not change
// (404, 422) and planner errors marked terminal do not. Unknown errors retry:
// the queue's delivery limit dead-letters them in the end.
func Retryable(err error, now time.Time) (time.Duration, bool) {
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	var er *github.ErrorResponse
	var ne net.Error
	var wait *ghretry.WaitError
	switch {
	case fate.IsTerminal(err), errors.Is(err, gitmirror.ErrTooLarge), errors.Is(err, gitmirror.ErrInvalidPath):
		return 0, false
	case errors.As(err, &wait):
		return max(wait.Until.Sub(now), time.Second), true
	case errors.Is(err, prwriter.ErrBaseMoved):
		return time.Millisecond, true
	case errors.As(err, &rl):
		return max(rl.Rate.Reset.Time.Sub(now), time.Second), true
	case errors.As(err, &abuse):
		if abuse.RetryAfter != nil {
			return max(*abuse.RetryAfter, time.Second), true
		}
		return time.Minute, true
	case errors.As(err, &er) && er.Response != nil:
		code := er.Response.StatusCode
		if code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout {
			return 5 * time.Second, true
		}
		return 0, false
	case errors.As(err, &ne):
		return 5 * time.Second, true
	}
	return 10 * time.Second, true
}

func short(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}
