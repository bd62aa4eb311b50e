package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/gitmirror"
	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/ui"
	"github.com/promobot/promobot/internal/webhook"
	"github.com/promobot/promobot/internal/worker"
)

// DefaultUIRefresh is how often the status page's mirrors are brought up
// to date in the background when no intent did it.
const DefaultUIRefresh = time.Minute

// startUI builds the status page (internal/ui) and, with workers in this
// process, keeps the mirrors it reads current. Without OAuth and without
// UINoAuth it answers 404 on every UI path.
func (a *App) startUI(ctx context.Context, cfg Config, mirrors *gitmirror.Mirrors) (http.Handler, error) {
	if cfg.UIOAuth == nil && !cfg.UINoAuth {
		return ui.New(ui.Config{Log: a.log})
	}
	if cfg.UINoAuth {
		a.log.Warn().Msg("the status page is open to everyone without sign-in (--ui-no-auth): it shows repository contents; use it on loopback only, never in production")
	}
	api := cfg.GitHubAPIURL
	if api == "" {
		api = "https://api.github.com/"
	}
	web, err := ui.WebURLFromAPI(api)
	if err != nil {
		return nil, fmt.Errorf("status page: %w", err)
	}
	var oauth *ui.OAuth
	if cfg.UIOAuth != nil {
		o := *cfg.UIOAuth
		if o.WebURL == "" {
			o.WebURL = web
		}
		if o.APIURL == "" {
			o.APIURL = api
		}
		if o.PublicURL == "" {
			o.PublicURL = cfg.PublicURL
		}
		oauth = &o
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.live.watch(ctx)
	}()
	src := &uiSource{rules: a.rules.Current, mirrors: mirrors, cache: history.NewCache(64), live: a.live,
		webURL: web, now: time.Now, log: a.log, bg: ctx,
		configs: &checkout.Source{RepoConfigPath: cfg.RepoConfigPath, Log: a.log}}
	if a.index != nil {
		src.configured = a.index
	}
	a.page.Store(src)
	if a.github != nil {
		every := cfg.UIRefresh
		if every <= 0 {
			every = DefaultUIRefresh
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			refreshMirrors(ctx, src, a.github, every)
		}()
		if err := a.followPushes(ctx, src); err != nil {
			return nil, err
		}
	}
	return ui.New(ui.Config{Source: src, OAuth: oauth, NoAuth: cfg.UINoAuth && oauth == nil, Log: a.log})
}

// observeUI records each promotion's result for the page.
func (a *App) observeUI() func(worker.Result) {
	if a.live == nil {
		return nil
	}
	return func(res worker.Result) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.live.observe(ctx, res)
		if p := a.page.Load(); p != nil && res.Intent.Repo != "" {
			// The worker fetched the repository: the page reads its new
			// head now rather than on the next request.
			p.kick(res.Intent.Repo)
		}
	}
}

// refreshMirrors fetches every configured repository's mirror when no
// fetch in the last interval brought it up to date (the workers' fetches
// count), so the page stays current without an intent, and drops the
// entries of promotion PRs closed since (uiprs.go).
func refreshMirrors(ctx context.Context, s *uiSource, clients *ghapp.Clients, every time.Duration) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rs := s.rules()
		if rs != nil {
			for _, repo := range s.repos(rs) {
				if err := refreshOne(ctx, s.mirrors, clients, repo, time.Now().Add(-every)); err != nil && ctx.Err() == nil {
					s.log.Warn().Err(err).Str("repo", repo).Msg("ui: mirror not refreshed; the page shows the last fetch")
				}
				if err := s.live.prunePRs(ctx, repo, ghPulls{clients}); err != nil && ctx.Err() == nil {
					s.log.Warn().Err(err).Str("repo", repo).Msg("ui: open PR entries not checked; a closed PR may stay on the page")
				}
			}
			s.refresh(ctx)
			s.pruneHealth(ctx)
		}
		t.Reset(every)
	}
}

// refreshOne fetches repo unless a fetch that started after since already
// brought it up to date.
func refreshOne(ctx context.Context, m *gitmirror.Mirrors, clients *ghapp.Clients, repo string, since time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	inst, err := clients.For(ctx, repo, 0)
	if err != nil {
		return err
	}
	cloneURL, err := clients.CloneURL(ctx, inst, repo, "")
	if err != nil {
		return err
	}
	creds := func(ctx context.Context) (string, string, error) {
		tok, err := inst.Token(ctx)
		return "x-access-token", tok, err
	}
	return m.FetchSince(ctx, repo, cloneURL, creds, since)
}

// pushSubject carries the webhook's pushes to GitOps base branches
// (webhook.Config.OnPush) to every process that serves the page.
const pushSubject = "promobot.ui.push"

// announcePushes publishes each push for the status page. Core NATS, not
// the queue: a lost announcement costs the page a minute (its refresh).
func announcePushes(nc *nats.Conn) func(context.Context, webhook.BranchMoved) error {
	return func(_ context.Context, m webhook.BranchMoved) error {
		data, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("encode push: %w", err)
		}
		if err := nc.Publish(pushSubject, data); err != nil {
			return fmt.Errorf("announce push: %w", err)
		}
		return nil
	}
}

// followPushes fetches each announced repository (one fetch at a time;
// pushes of a repository while its fetch waits are one) and rebuilds its
// matrix, so a push that makes no intent, such as a hand edit, shows at
// once.
func (a *App) followPushes(ctx context.Context, src *uiSource) error {
	var mu sync.Mutex
	waiting := map[string]bool{}
	wake := make(chan struct{}, 1)
	sub, err := a.nc.Subscribe(pushSubject, func(m *nats.Msg) {
		var ev webhook.BranchMoved
		if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Repo == "" {
			a.log.Warn().Err(err).Msg("ui: undecodable push announcement ignored")
			return
		}
		mu.Lock()
		waiting[ev.Repo] = true
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return fmt.Errorf("status page: follow pushes: %w", err)
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer func() { _ = sub.Unsubscribe() }() // the connection closes next
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
			mu.Lock()
			repos := make([]string, 0, len(waiting))
			for r := range waiting {
				repos = append(repos, r)
			}
			clear(waiting)
			mu.Unlock()
			for _, repo := range repos {
				asked := time.Now()
				if err := refreshOne(ctx, src.mirrors, a.github, repo, asked); err != nil {
					if ctx.Err() == nil {
						a.log.Warn().Err(err).Str("repo", repo).Msg("ui: mirror not fetched after a push; the page shows it after its next refresh")
					}
					continue
				}
				src.kick(repo)
			}
		}
	}()
	return nil
}

// SettleStatusPage waits for the status page's background rebuilds running
// now, and the passes asked of them meanwhile (tests and the demo, after
// a result they awaited: its rebuild was asked before the result was
// observed).
func (a *App) SettleStatusPage() {
	if p := a.page.Load(); p != nil {
		p.settle()
	}
}
