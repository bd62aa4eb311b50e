package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/redeliver"
	"github.com/promobot/promobot/internal/rules"
)

// redeliverLease is the lease one process holds while it reconciles
// deliveries (target leases are owner/name/service/env: no clash).
const redeliverLease = "redeliver"

// startRedeliver starts the delivery reconciler (internal/redeliver): every
// cfg.RedeliverInterval, and once now, it asks GitHub which webhook
// deliveries failed and has them redelivered. It runs where GitHub
// credentials are, the worker half (serve and worker; the webhook server
// never calls GitHub), in one process of a deployment at a time (a lease in
// NATS KV), and keeps its place in the state bucket. An App reconciles its
// webhook; a token, the repository webhooks to cfg.PublicURL of the
// repositories in the rules.
//
// It does not fail: a reconciler that cannot start is logged as an error
// (cmd/promobot checks --public-url before it starts promobot).
func (a *App) startRedeliver(ctx context.Context, cfg Config, reg prometheus.Registerer) {
	log := a.log.With().Str("component", "redeliver").Logger()
	if a.github == nil {
		if cfg.RedeliverInterval > 0 {
			log.Info().Msg("delivery reconciler: not in this process (the webhook server never calls GitHub); the worker processes run it")
		}
		return
	}
	if cfg.RedeliverInterval <= 0 {
		log.Info().Msg("delivery reconciler off (--redeliver-interval 0): webhook deliveries GitHub failed to make (promobot down, NATS unreachable) are not recovered")
		return
	}
	if err := a.runRedeliver(ctx, cfg, reg, log); err != nil {
		log.Error().Err(err).Msg("delivery reconciler not started: webhook deliveries GitHub failed to make are not recovered")
	}
}

func (a *App) runRedeliver(ctx context.Context, cfg Config, reg prometheus.Registerer, log zerolog.Logger) error {
	rest, _, err := ghapp.APIURLs(cfg.GitHubAPIURL)
	if err != nil {
		return err
	}
	maxAge := redeliver.Retention
	if strings.HasSuffix(rest, "/api/v3/") {
		maxAge = redeliver.RetentionEnterprise
	}
	var src redeliver.Source
	what := "the App's webhook"
	if c := a.github.AppClient(); c != nil {
		src = redeliver.Hooks{redeliver.AppHook{Client: c}}
	} else {
		if cfg.PublicURL == "" {
			log.Warn().Msg("delivery reconciler off: with a token, promobot finds its repository webhooks by their URL, and --public-url is not set; webhook deliveries GitHub failed to make (promobot down, NATS unreachable) are not recovered")
			return nil
		}
		hookURL, err := WebhookURL(cfg.PublicURL)
		if err != nil {
			return err
		}
		what = "the repository webhooks to " + hookURL
		src = &redeliver.RepoHooks{Client: a.github.TokenClient(), URL: hookURL, Log: log,
			Repos: func() []string { return ruleRepos(a.rules.Current()) }}
	}
	r, err := redeliver.New(redeliver.Config{
		Source: src, Store: redeliverState{kvState{a.q.State()}}, Lock: leaseLock{a.q},
		Interval: cfg.RedeliverInterval, MaxAge: maxAge, Log: log, Registerer: reg,
	})
	if err != nil {
		return err
	}
	log.Info().Dur("interval", cfg.RedeliverInterval).Dur("window", maxAge).Str("hooks", what).
		Msg("delivery reconciler started: failed webhook deliveries are redelivered (one process of the deployment at a time)")
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		r.Run(ctx)
	}()
	return nil
}

// WebhookURL is promobot's webhook endpoint under its public URL:
// https://promobot.example.com → https://promobot.example.com/webhook (a URL
// that already ends in /webhook is kept).
func WebhookURL(public string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(public))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("public url %q: want https://HOST[/PATH], where GitHub reaches promobot", public)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/webhook") {
		u.Path += "/webhook"
	}
	u.RawPath = ""
	return u.String(), nil
}

// ruleRepos are the repositories the rules name: GitOps repositories and
// build sources (a templated source repository is left out).
func ruleRepos(rs *rules.Rules) []string {
	if rs == nil {
		return nil
	}
	set := map[string]bool{}
	add := func(r string) {
		if r != "" && !strings.Contains(r, "{{") {
			set[r] = true
		}
	}
	for _, s := range rs.Services {
		add(s.Repo)
		if s.Source != nil {
			add(s.Source.Repo)
		}
	}
	for _, g := range rs.Generators {
		add(g.Repo)
		if g.Service.Source != nil {
			add(g.Service.Source.Repo)
		}
	}
	out := make([]string, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// leaseLock is the reconciler's lock: a lease in the leases bucket that
// another process's attempt finds held.
type leaseLock struct{ q *queue.Queue }

func (l leaseLock) TryLock(ctx context.Context) (context.Context, func(), error) {
	held, release, err := l.q.TryHold(ctx, redeliverLease)
	if errors.Is(err, queue.ErrLeaseHeld) {
		return nil, nil, fmt.Errorf("%w: %w", redeliver.ErrHeld, err)
	}
	return held, release, err
}

// redeliverState keeps each hook's reconciler state in the state bucket,
// under redeliver/<hook>.
type redeliverState struct{ kv kvState }

func (s redeliverState) Load(ctx context.Context, hook string) (redeliver.State, error) {
	var st redeliver.State
	_, err := s.kv.get(ctx, "redeliver/"+hook, &st)
	return st, err
}

func (s redeliverState) Save(ctx context.Context, hook string, st redeliver.State) error {
	return s.kv.put(ctx, "redeliver/"+hook, st)
}
