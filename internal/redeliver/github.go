package redeliver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/ghretry"
)

// perPage is the most deliveries GitHub lists on one page.
const perPage = 100

// AppHook is a GitHub App's webhook: GET /app/hook/deliveries and
// POST /app/hook/deliveries/{delivery_id}/attempts, with the App's JWT.
type AppHook struct {
	// Client is authenticated as the App (ghapp.Clients.AppClient).
	Client *github.Client
}

// Name is "app".
func (AppHook) Name() string { return "app" }

// List reads one page of the App webhook's deliveries.
func (h AppHook) List(ctx context.Context, cursor string) (Page, error) {
	ds, resp, err := h.Client.Apps.ListHookDeliveries(ctx, &github.ListCursorOptions{PerPage: perPage, Cursor: cursor})
	return page(ds, resp, err)
}

// Redeliver asks GitHub for another attempt of delivery id.
func (h AppHook) Redeliver(ctx context.Context, id int64) error {
	_, _, err := h.Client.Apps.RedeliverHookDelivery(ctx, id)
	return redelivered(err)
}

// RepoHook is one repository webhook: GET
// /repos/{owner}/{repo}/hooks/{hook_id}/deliveries and its attempts, with a
// token that may read the repository's webhooks.
type RepoHook struct {
	Client      *github.Client
	Owner, Repo string
	ID          int64
}

// Name is "repo/OWNER/NAME/hook/ID".
func (h RepoHook) Name() string { return fmt.Sprintf("repo/%s/%s/hook/%d", h.Owner, h.Repo, h.ID) }

// List reads one page of the hook's deliveries.
func (h RepoHook) List(ctx context.Context, cursor string) (Page, error) {
	ds, resp, err := h.Client.Repositories.ListHookDeliveries(ctx, h.Owner, h.Repo, h.ID, &github.ListCursorOptions{PerPage: perPage, Cursor: cursor})
	return page(ds, resp, err)
}

// Redeliver asks GitHub for another attempt of delivery id.
func (h RepoHook) Redeliver(ctx context.Context, id int64) error {
	_, _, err := h.Client.Repositories.RedeliverHookDelivery(ctx, h.Owner, h.Repo, h.ID, id)
	return redelivered(err)
}

func page(ds []*github.HookDelivery, resp *github.Response, err error) (Page, error) {
	if err != nil {
		return Page{}, ghretry.Fate(err, time.Now())
	}
	p := Page{Deliveries: make([]Delivery, 0, len(ds))}
	for _, d := range ds {
		p.Deliveries = append(p.Deliveries, Delivery{
			ID: d.GetID(), GUID: d.GetGUID(), DeliveredAt: d.GetDeliveredAt().Time, Redelivery: d.GetRedelivery(),
			Status: d.GetStatus(), StatusCode: d.GetStatusCode(), Event: d.GetEvent(), Action: d.GetAction(),
		})
	}
	if resp != nil {
		p.Next = resp.Cursor
	}
	return p, nil
}

// redelivered maps the answer to a redelivery request: 202 (go-github's
// AcceptedError) is success; a 4xx other than 401, 408 and 429 (the
// delivery is unknown, or too old) means GitHub never will.
func redelivered(err error) error {
	var accepted *github.AcceptedError
	if err == nil || errors.As(err, &accepted) {
		return nil
	}
	err = ghretry.Fate(err, time.Now())
	if k, _ := fate.Of(err); k == fate.Terminal {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return err
}

// RepoHooks finds, in each repository promobot works on, the repository
// webhook that delivers to promobot (token mode: there is no App webhook).
// Reading a repository's webhooks needs admin access to it (a fine-grained
// token: the "Webhooks" repository permission, read and write to redeliver);
// a repository it may not read is logged and skipped.
type RepoHooks struct {
	// Client is the token's client (ghapp.Clients.TokenClient).
	Client *github.Client
	// Repos lists the repositories (owner/name) to look in, on every run.
	Repos func() []string
	// URL is promobot's webhook URL; a hook matches when its config.url is
	// the same URL (scheme and host case and a trailing slash aside).
	URL string
	Log zerolog.Logger
	// Refresh is how long a repository's lookup is kept; default one hour.
	Refresh time.Duration
	Now     func() time.Time

	mu    sync.Mutex
	found map[string]lookup // lower-case owner/name →
}

type lookup struct {
	hook RepoHook // ID 0: the repository has no hook to promobot, or may not be read
	at   time.Time
}

// Hooks returns the hooks to promobot of every repository that has one.
func (s *RepoHooks) Hooks(ctx context.Context) ([]Hook, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	refresh := s.Refresh
	if refresh <= 0 {
		refresh = time.Hour
	}
	repos := map[string]string{}
	for _, r := range s.Repos() {
		repos[strings.ToLower(r)] = r
	}
	keys := make([]string, 0, len(repos))
	for k := range repos {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var hooks []Hook
	var errs []error
	for _, key := range keys {
		s.mu.Lock()
		l, ok := s.found[key]
		s.mu.Unlock()
		if !ok || now().Sub(l.at) >= refresh {
			var err error
			if l, err = s.lookup(ctx, repos[key], now()); err != nil {
				errs = append(errs, err)
				continue
			}
			s.mu.Lock()
			if s.found == nil {
				s.found = map[string]lookup{}
			}
			s.found[key] = l
			s.mu.Unlock()
		}
		if l.hook.ID != 0 {
			hooks = append(hooks, l.hook)
		}
	}
	return hooks, errors.Join(errs...)
}

func (s *RepoHooks) lookup(ctx context.Context, repo string, now time.Time) (lookup, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" {
		return lookup{at: now}, nil // the rules name no such repository; their validation says so
	}
	opts := &github.ListOptions{PerPage: perPage}
	for {
		hs, resp, err := s.Client.Repositories.ListHooks(ctx, owner, name, opts)
		if err != nil {
			var er *github.ErrorResponse
			if errors.As(err, &er) && er.Response != nil && (er.Response.StatusCode == http.StatusForbidden || er.Response.StatusCode == http.StatusNotFound) {
				s.Log.Warn().Err(err).Str("repo", repo).
					Msg("delivery reconciler: the token may not read this repository's webhooks (it needs admin access, or the Webhooks permission), so deliveries to promobot that failed there are not recovered")
				return lookup{at: now}, nil
			}
			return lookup{}, fmt.Errorf("list webhooks of %s: %w", repo, ghretry.Fate(err, time.Now()))
		}
		for _, h := range hs {
			if h.GetActive() && sameURL(h.GetConfig().GetURL(), s.URL) {
				return lookup{hook: RepoHook{Client: s.Client, Owner: owner, Repo: name, ID: h.GetID()}, at: now}, nil
			}
		}
		if resp == nil || resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	s.Log.Info().Str("repo", repo).Str("url", s.URL).
		Msg("delivery reconciler: the repository has no active webhook to promobot's URL; nothing to recover there")
	return lookup{at: now}, nil
}

// sameURL compares webhook URLs as GitHub would deliver to them.
func sameURL(a, b string) bool {
	ua, err1 := url.Parse(strings.TrimSpace(a))
	ub, err2 := url.Parse(strings.TrimSpace(b))
	if err1 != nil || err2 != nil {
		return false
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host) &&
		strings.TrimSuffix(ua.EscapedPath(), "/") == strings.TrimSuffix(ub.EscapedPath(), "/") && ua.RawQuery == ub.RawQuery
}
