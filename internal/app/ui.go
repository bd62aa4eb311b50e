package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/gitmirror"
	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/ui"
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
		webURL: web, now: time.Now, log: a.log}
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
			for _, repo := range reposOf(rs) {
				if err := refreshOne(ctx, s.mirrors, clients, repo, every); err != nil && ctx.Err() == nil {
					s.log.Warn().Err(err).Str("repo", repo).Msg("ui: mirror not refreshed; the page shows the last fetch")
				}
				if err := s.live.prunePRs(ctx, repo, ghPulls{clients}); err != nil && ctx.Err() == nil {
					s.log.Warn().Err(err).Str("repo", repo).Msg("ui: open PR entries not checked; a closed PR may stay on the page")
				}
			}
		}
		t.Reset(every)
	}
}

func refreshOne(ctx context.Context, m *gitmirror.Mirrors, clients *ghapp.Clients, repo string, every time.Duration) error {
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
	return m.FetchSince(ctx, repo, cloneURL, creds, time.Now().Add(-every))
}
