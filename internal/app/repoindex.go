package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/repoindex"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/webhook"
	"github.com/promobot/promobot/internal/worker"
)

// openIndex opens the repository configuration index and loads it; it is
// then followed until stop is called.
func openIndex(ctx context.Context, nc *nats.Conn, replicas int, log zerolog.Logger) (_ *repoindex.Index, stop context.CancelFunc, err error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, nil, fmt.Errorf("repository configuration index: %w", err)
	}
	idx, err := repoindex.Open(ctx, js, replicas, log)
	if err != nil {
		return nil, nil, err
	}
	watchCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	if err := idx.Watch(watchCtx); err != nil {
		stop()
		return nil, nil, err
	}
	return idx, stop, nil
}

// webhookConfigs shows the index to the webhook (webhook.RepoConfigs),
// converted once per version of the index and server rules.
type webhookConfigs struct {
	idx *repoindex.Index

	mu      sync.Mutex
	server  *rules.Rules
	version uint64
	list    []webhook.RepoConfig
}

func (w *webhookConfigs) RepoConfigs(server *rules.Rules) []webhook.RepoConfig {
	v, cs := w.idx.Configs(server)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.list != nil && w.server == server && w.version == v {
		return w.list
	}
	list := make([]webhook.RepoConfig, len(cs))
	for i, c := range cs {
		list[i] = webhook.RepoConfig{Repo: c.Repo, Rules: c.Rules, Invalid: c.State == repoindex.Invalid}
	}
	w.server, w.version, w.list = server, v, list
	return list
}

// checkoutIndex writes what workers read into the index (checkout.ConfigIndex).
type checkoutIndex struct{ idx *repoindex.Index }

func (c checkoutIndex) IndexConfig(ctx context.Context, lc checkout.LoadedConfig) error {
	e := repoindex.Entry{Repo: lc.Repo, Path: lc.Path, Commit: lc.Commit, Committed: lc.CommitTime, State: repoindex.None}
	switch {
	case lc.Err != nil:
		e.State, e.Config, e.Errors = repoindex.Invalid, lc.Data, checkout.ConfigErrors(lc.Err)
	case lc.Found:
		e.State, e.Config = repoindex.Valid, lc.Data
	}
	return c.idx.Put(ctx, e)
}

// kvOnce remembers once-per-repository replies in the state bucket
// (worker.Once).
type kvOnce struct{ kv jetstream.KeyValue }

func (o kvOnce) Seen(ctx context.Context, key string) (bool, error) {
	_, err := o.kv.Get(ctx, queue.EscapeKey(key))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("get %s: %w", key, err)
	}
	return true, nil
}

func (o kvOnce) Remember(ctx context.Context, key string) error {
	if _, err := o.kv.Put(ctx, queue.EscapeKey(key), []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// installedRepos lists the repositories the App is installed on.
type installedRepos interface {
	Installations(ctx context.Context) ([]int64, error)
	Repos(ctx context.Context, installation int64) ([]string, error)
}

// ghInstalled lists installations with the App's JWT and each one's
// repositories with its installation token.
type ghInstalled struct{ clients *ghapp.Clients }

func (g ghInstalled) Installations(ctx context.Context) ([]int64, error) {
	app := g.clients.AppClient()
	if app == nil {
		return nil, nil // a token: no installations to list
	}
	var ids []int64
	opts := &github.ListOptions{PerPage: 100}
	for {
		page, resp, err := app.Apps.ListInstallations(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list installations: %w", err)
		}
		for _, in := range page {
			ids = append(ids, in.GetID())
		}
		if resp.NextPage == 0 {
			return ids, nil
		}
		opts.Page = resp.NextPage
	}
}

func (g ghInstalled) Repos(ctx context.Context, installation int64) ([]string, error) {
	in, err := g.clients.For(ctx, "", installation)
	if err != nil {
		return nil, err
	}
	var names []string
	opts := &github.ListOptions{PerPage: 100}
	for {
		page, resp, err := in.Client.Apps.ListRepos(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list repositories of installation %d: %w", installation, err)
		}
		for _, r := range page.Repositories {
			names = append(names, r.GetFullName())
		}
		if resp.NextPage == 0 {
			return names, nil
		}
		opts.Page = resp.NextPage
	}
}

// indexScan queues a configuration read for every installed repository
// the index does not know yet: at start, and when the App is installed or
// given repositories. One process of the deployment scans at a time.
type indexScan struct {
	idx       *repoindex.Index
	installed installedRepos
	q         *queue.Queue
	log       zerolog.Logger
	now       func() time.Time
}

func (s *indexScan) run(ctx context.Context) {
	ctx, release, err := s.q.TryHold(ctx, "repoindex/scan")
	if errors.Is(err, queue.ErrLeaseHeld) {
		return // another process scans
	}
	if err != nil {
		s.log.Warn().Err(err).Msg("repository configuration scan not started")
		return
	}
	defer release()
	n, err := s.scan(ctx)
	ev := s.log.Info()
	if err != nil {
		ev = s.log.Warn().Err(err)
	}
	ev.Int("queued", n).Msg("installed repositories without an index entry: configuration reads queued")
}

func (s *indexScan) scan(ctx context.Context) (int, error) {
	ids, err := s.installed.Installations(ctx)
	if err != nil {
		return 0, err
	}
	delivery := fmt.Sprintf("configscan-%d", s.now().Unix())
	var msgs []queue.Message
	var errs []error
	for _, id := range ids {
		repos, err := s.installed.Repos(ctx, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, repo := range repos {
			if s.idx.Has(repo) || !intent.ValidRepo(repo) {
				continue
			}
			in := intent.Intent{
				ID: intent.MsgID(delivery, len(msgs)), Kind: intent.KindConfig, DeliveryID: delivery, Event: "installation",
				InstallationID: id, Repo: repo, CreatedAt: s.now(), Source: intent.SourceRef{Repo: repo, InstallationID: id},
			}
			data, err := in.Marshal()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			msgs = append(msgs, queue.Message{Subject: in.Subject(), ID: in.ID, Data: data})
		}
	}
	if len(msgs) > 0 {
		if err := s.q.Publish(ctx, msgs); err != nil {
			errs = append(errs, err)
		}
	}
	return len(msgs), errors.Join(errs...)
}

// scanOnInstallations scans again when an installation change adds
// repositories (the App installed, repositories added).
func (s *indexScan) scanOnInstallations(ctx context.Context, nc *nats.Conn) (*nats.Subscription, error) {
	sub, err := nc.Subscribe(installationSubject, func(m *nats.Msg) {
		var ch webhook.InstallationChange
		if err := json.Unmarshal(m.Data, &ch); err != nil {
			return // forgetInstallations logs it
		}
		if ch.Action == "created" || ch.Action == "added" || ch.Action == "unsuspend" {
			s.run(ctx) // on the subscription's own goroutine; Drain waits for it
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to installation changes: %w", err)
	}
	return sub, nil
}

// startScanWait bounds the start-up scan: a GitHub that does not answer
// delays the start by this much at most (the scan runs again on the next
// installation change or restart).
const startScanWait = 15 * time.Second

// startIndexScan scans once now, before Start returns (its few listing
// calls are over before anything else asks GitHub), and again on
// installation changes.
func (a *App) startIndexScan(ctx context.Context, clients *ghapp.Clients) error {
	s := &indexScan{idx: a.index, installed: ghInstalled{clients}, q: a.q, log: a.log, now: time.Now}
	if _, err := s.scanOnInstallations(ctx, a.nc); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, startScanWait)
	defer cancel()
	s.run(sctx)
	return nil
}

// splitObserve routes the results of configuration reads (housekeeping of
// the index) and of configuration checks of pull requests that do not
// change the configuration to ObserveIndex, every other result to Observe.
func splitObserve(cfg Config) func(worker.Result) {
	if cfg.Observe == nil && cfg.ObserveIndex == nil {
		return nil
	}
	return func(r worker.Result) {
		f := cfg.Observe
		if r.Intent.Kind == intent.KindConfig || r.Intent.Kind == intent.KindConfigCheck && r.Outcome == worker.Skipped {
			f = cfg.ObserveIndex
		}
		if f != nil {
			f(r)
		}
	}
}
