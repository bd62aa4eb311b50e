// Package ghapp builds authenticated GitHub clients: per-installation clients
// for a GitHub App (JWT → installation token, via ghinstallation), or one
// client for a plain token. It also owns the HTTP transport every GitHub call
// goes through, which counts calls for metrics.
package ghapp

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v60/github"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/ghretry"
)

// Config says how to authenticate. Either AppID and PrivateKey, or Token.
type Config struct {
	// APIURL is the REST API; default github.com. For GitHub Enterprise
	// Server, https://HOST in any of the forms APIURLs accepts.
	APIURL     string
	AppID      int64
	PrivateKey []byte // PEM
	Token      string
	// Login is the login promobot acts as on GitHub, for a token that may
	// not ask (GET /user answers 403 to an installation token). Empty:
	// Identity asks GitHub.
	Login      string
	Transport  http.RoundTripper // base transport; default http.DefaultTransport
	Registerer prometheus.Registerer
	// Retry configures retries, rate-limit waits and pacing (internal/ghretry).
	Retry ghretry.Config
}

// Installation is an authenticated client for one installation (or the token).
type Installation struct {
	ID     int64
	Client *github.Client
	// Token returns a token usable for git over HTTPS (x-access-token).
	Token func(ctx context.Context) (string, error)

	forgotten atomic.Bool // GitHub no longer honours it: see Clients.Forget
}

// Clients hands out clients per installation and caches them: the
// installation of each repository, a client per installation, each
// repository's clone URL. An entry is dropped when GitHub says it is stale
// (see Forget), so an App uninstalled and installed again works on without
// a restart.
type Clients struct {
	rest, uploads string
	cfg           Config
	base          http.RoundTripper
	key           *rsa.PrivateKey
	apps          *github.Client // authenticated as the App (JWT)
	token         *Installation

	mu      sync.Mutex
	byID    map[int64]*Installation
	repoIDs map[string]int64  // lower-case owner/name → installation
	clone   map[string]string // lower-case owner/name → clone URL
	stale   map[int64]bool    // installations GitHub no longer honours

	idMu  sync.Mutex // one Identity question at a time
	login string
}

// New validates cfg and prepares the transports.
func New(cfg Config) (*Clients, error) {
	rest, uploads, err := APIURLs(cfg.APIURL)
	if err != nil {
		return nil, err
	}
	cfg.APIURL = rest
	base := cfg.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	// ghinstallation → ghretry → counting → network: every attempt is
	// counted, and token exchanges are retried like any other call.
	base = newCountingTransport(base, cfg.Registerer)
	retry := cfg.Retry
	if retry.Route == nil {
		retry.Route = Route
	}
	if retry.Registerer == nil {
		retry.Registerer = cfg.Registerer
	}
	base = ghretry.New(base, retry)
	c := &Clients{rest: rest, uploads: uploads, cfg: cfg, base: base,
		byID: map[int64]*Installation{}, repoIDs: map[string]int64{}, clone: map[string]string{}, stale: map[int64]bool{}}
	switch {
	case cfg.Token != "":
		gh, err := c.newClient(base)
		if err != nil {
			return nil, err
		}
		tok := cfg.Token
		c.token = &Installation{Client: gh.WithAuthToken(tok), Token: func(context.Context) (string, error) { return tok, nil }}
	case cfg.AppID != 0 && len(cfg.PrivateKey) > 0:
		key, err := jwt.ParseRSAPrivateKeyFromPEM(cfg.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("github app key: %w", err)
		}
		c.key = key
		if c.apps, err = c.newClient(c.appsTransport()); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("github credentials: set an App id and private key, or a token")
	}
	return c, nil
}

// tokenBase is what ghinstallation puts "/app/installations/{id}/access_tokens"
// after: the REST base without its slash.
func (c *Clients) tokenBase() string { return strings.TrimSuffix(c.rest, "/") }

// appsTransport authenticates as the App. Each installation gets its own:
// ghinstallation writes to it on every token exchange.
func (c *Clients) appsTransport() *ghinstallation.AppsTransport {
	atr := ghinstallation.NewAppsTransportFromPrivateKey(c.base, c.cfg.AppID, c.key)
	atr.BaseURL = c.tokenBase()
	return atr
}

func (c *Clients) newClient(rt http.RoundTripper) (*github.Client, error) {
	gh := github.NewClient(&http.Client{Transport: rt})
	if c.rest == DefaultAPIURL {
		return gh, nil
	}
	gh, err := gh.WithEnterpriseURLs(c.rest, c.uploads)
	if err != nil {
		return nil, fmt.Errorf("github api url: %w", err)
	}
	return gh, nil
}

// For returns the client for repo. installationID comes from the delivery;
// when it is 0, or names an installation GitHub no longer honours, the
// repository's installation is looked up with the App JWT (once per
// repository until GitHub says it changed).
func (c *Clients) For(ctx context.Context, repo string, installationID int64) (*Installation, error) {
	if c.token != nil {
		return c.token, nil
	}
	c.mu.Lock()
	if c.stale[installationID] {
		installationID = 0 // uninstalled since the delivery: where is the repository now?
	}
	c.mu.Unlock()
	if installationID == 0 {
		id, err := c.lookup(ctx, repo)
		if err != nil {
			return nil, err
		}
		installationID = id
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if in, ok := c.byID[installationID]; ok {
		return in, nil
	}
	in, err := c.newInstallation(installationID)
	if err != nil {
		return nil, err
	}
	c.byID[installationID] = in
	return in, nil
}

func (c *Clients) newInstallation(id int64) (*Installation, error) {
	itr := ghinstallation.NewFromAppsTransport(c.appsTransport(), id)
	itr.BaseURL = c.tokenBase()
	in := &Installation{ID: id}
	gh, err := c.newClient(&watch{c: c, in: in, next: itr})
	if err != nil {
		return nil, err
	}
	in.Client = gh
	in.Token = func(ctx context.Context) (string, error) {
		if in.forgotten.Load() {
			return "", errForgotten(id)
		}
		tok, err := itr.Token(ctx)
		if err != nil {
			return "", c.tokenFailed(in, err)
		}
		return tok, nil
	}
	return in, nil
}

func (c *Clients) lookup(ctx context.Context, repo string) (int64, error) {
	key := strings.ToLower(repo)
	c.mu.Lock()
	id, ok := c.repoIDs[key]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	owner, name, err := split(repo)
	if err != nil {
		return 0, err
	}
	inst, _, err := c.apps.Apps.FindRepositoryInstallation(ctx, owner, name)
	if err != nil {
		return 0, fmt.Errorf("find installation of %s: %w", repo, ghretry.Fate(err, time.Now()))
	}
	id = inst.GetID()
	c.mu.Lock()
	c.repoIDs[key] = id
	delete(c.stale, id) // GitHub just named it
	c.mu.Unlock()
	return id, nil
}

// CloneURL returns the repository's clone_url: known from a push payload
// when given, otherwise asked of GitHub once per repository (until GitHub
// says the repository changed).
func (c *Clients) CloneURL(ctx context.Context, in *Installation, repo, known string) (string, error) {
	key := strings.ToLower(repo)
	c.mu.Lock()
	u, ok := c.clone[key]
	c.mu.Unlock()
	if ok {
		return u, nil
	}
	if known == "" {
		owner, name, err := split(repo)
		if err != nil {
			return "", err
		}
		r, _, err := in.Client.Repositories.Get(ctx, owner, name)
		if err != nil {
			return "", fmt.Errorf("get repository %s: %w", repo, ghretry.Fate(err, time.Now()))
		}
		known = r.GetCloneURL()
	}
	c.mu.Lock()
	c.clone[key] = known
	c.mu.Unlock()
	return known, nil
}

// Forget drops what is cached about an installation and repositories, for
// when GitHub says they changed: call it for the installation webhook
// (deleted, suspend, new_permissions_accepted: Forget(id)) and for
// installation_repositories (Forget(0, the repositories added or
// removed)). A forgotten installation's clients, wherever they were handed
// out, fail fast (retryable) instead of using a revoked token, and a
// delivery that still names it has the repository's installation looked up
// afresh. Clients forgets by itself when GitHub answers 401 to an
// installation's token (revoked: uninstalled, suspended), 404 to its token
// exchange (the installation is gone), or 404 for a repository (moved out
// of the installation, renamed, transferred).
func (c *Clients) Forget(installationID int64, repos ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if installationID != 0 {
		c.forgetLocked(installationID)
	}
	for _, repo := range repos {
		key := strings.ToLower(repo)
		delete(c.repoIDs, key)
		delete(c.clone, key)
	}
}

func (c *Clients) forgetLocked(id int64) {
	if in := c.byID[id]; in != nil {
		in.forgotten.Store(true)
		delete(c.byID, id)
	}
	c.stale[id] = true
	for repo, rid := range c.repoIDs {
		if rid == id {
			delete(c.repoIDs, repo)
			delete(c.clone, repo)
		}
	}
}

// drop forgets in's installation because GitHub refused it, unless in was
// already replaced by a newer client for the same id (a late answer to a
// request sent before a Forget).
func (c *Clients) drop(in *Installation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in.forgotten.Store(true)
	if cur, ok := c.byID[in.ID]; !ok || cur == in {
		c.forgetLocked(in.ID)
	}
}

// Identity is the login promobot acts as on GitHub, the author of its pull
// requests and replies: with a token, the token's user (GET /user); as an
// App, its bot user "<slug>[bot]" (GET /app with the App's JWT). GitHub is
// asked once; a failure is not remembered.
func (c *Clients) Identity(ctx context.Context) (string, error) {
	c.idMu.Lock()
	defer c.idMu.Unlock()
	switch {
	case c.login != "":
		return c.login, nil
	case c.cfg.Login != "":
		c.login = c.cfg.Login
		return c.login, nil
	case c.token != nil:
		u, _, err := c.token.Client.Users.Get(ctx, "")
		if err != nil {
			return "", fmt.Errorf("who the token is (GET /user): %w", ghretry.Fate(err, time.Now()))
		}
		if u.GetLogin() == "" {
			return "", fate.Terminalf("GET /user named no login")
		}
		c.login = u.GetLogin()
	default:
		app, _, err := c.apps.Apps.Get(ctx, "")
		if err != nil {
			return "", fmt.Errorf("which App promobot is (GET /app): %w", ghretry.Fate(err, time.Now()))
		}
		if app.GetSlug() == "" {
			return "", fate.Terminalf("GET /app named no slug")
		}
		c.login = app.GetSlug() + "[bot]"
	}
	return c.login, nil
}

// watch sits between go-github and an installation's token transport and
// forgets what GitHub says is stale.
type watch struct {
	c    *Clients
	in   *Installation
	next http.RoundTripper
}

func (w *watch) RoundTrip(r *http.Request) (*http.Response, error) {
	if w.in.forgotten.Load() {
		if r.Body != nil {
			_ = r.Body.Close() // a RoundTripper closes the body, even when it sends nothing
		}
		return nil, errForgotten(w.in.ID)
	}
	resp, err := w.next.RoundTrip(r)
	if err != nil {
		return nil, w.c.tokenFailed(w.in, err)
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		// The token is revoked: the App was uninstalled or suspended.
		w.c.drop(w.in)
	case http.StatusNotFound:
		if repo := repoOf(r.URL.Path); repo != "" {
			w.c.Forget(0, repo)
		}
	}
	return resp, nil
}

// tokenFailed decides the fate of a failed installation-token exchange
// (other errors pass unchanged) and forgets an installation that is gone.
func (c *Clients) tokenFailed(in *Installation, err error) error {
	var he *ghinstallation.HTTPError
	if !errors.As(err, &he) || he.Response == nil {
		return err // not an answer from GitHub: a network error, retryable
	}
	discard(he.Response)
	switch code := he.Response.StatusCode; {
	case code == http.StatusNotFound:
		// Uninstalled: the repository's installation is looked up afresh.
		c.drop(in)
		return fmt.Errorf("installation %d is gone: %w", in.ID, err)
	case code == http.StatusUnauthorized, code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return err // the App's credentials refused, or GitHub unwell: retryable
	case code >= 400:
		// Suspended (403), repositories refused (422)...: for good.
		return fate.MarkTerminal(err)
	}
	return err
}

func errForgotten(id int64) error {
	return fmt.Errorf("installation %d changed on GitHub (uninstalled, suspended or its permissions); retrying with a fresh client", id)
}

// discard drains and closes a response nobody will read.
func discard(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // best effort: the body is thrown away
	_ = resp.Body.Close()
}

// repoOf is "owner/name" of a REST path under /repos/, else "".
func repoOf(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i, s := range segs {
		if s != "repos" {
			continue
		}
		if i+2 < len(segs) && segs[i+1] != "" && segs[i+2] != "" {
			return segs[i+1] + "/" + segs[i+2]
		}
		return ""
	}
	return ""
}

func split(repo string) (string, string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fate.Terminalf("invalid repository %q", repo)
	}
	return owner, name, nil
}

// countingTransport counts every GitHub call by route and status, and
// records the primary rate limit remaining.
type countingTransport struct {
	next      http.RoundTripper
	calls     *prometheus.CounterVec
	remaining prometheus.Gauge
}

func newCountingTransport(next http.RoundTripper, reg prometheus.Registerer) http.RoundTripper {
	t := &countingTransport{
		next: next,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promobot_github_api_calls_total", Help: "GitHub API calls by route and status.",
		}, []string{"route", "status"}),
		remaining: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "promobot_github_rate_limit_remaining", Help: "X-RateLimit-Remaining of the last GitHub response.",
		}),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{t.calls, t.remaining} {
			if err := reg.Register(col); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					return next
				}
			}
		}
	}
	return t
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	route := Route(r.Method, r.URL.Path)
	if err != nil {
		t.calls.WithLabelValues(route, "error").Inc()
		return nil, err
	}
	t.calls.WithLabelValues(route, strconv.Itoa(resp.StatusCode)).Inc()
	if v, err := strconv.ParseFloat(resp.Header.Get("X-RateLimit-Remaining"), 64); err == nil {
		t.remaining.Set(v)
	}
	return resp, nil
}

var (
	repoPrefix = regexp.MustCompile(`^/repos/[^/]+/[^/]+`)
	idSegment  = regexp.MustCompile(`/([0-9]+|[0-9a-f]{40})(/|$)`)
)

// Route reduces a request path to a low-cardinality label, e.g.
// "POST /repos/{owner}/{repo}/pulls/{n}/requested_reviewers".
func Route(method, path string) string {
	p := strings.TrimPrefix(path, "/api/v3") // GitHub Enterprise Server
	p = repoPrefix.ReplaceAllString(p, "/repos/{owner}/{repo}")
	p = idSegment.ReplaceAllString(p, "/{n}$2")
	p = idSegment.ReplaceAllString(p, "/{n}$2")
	if i := strings.Index(p, "/git/refs/"); i >= 0 {
		p = p[:i] + "/git/refs/{ref}"
	}
	if i := strings.Index(p, "/git/ref/"); i >= 0 {
		p = p[:i] + "/git/ref/{ref}"
	}
	if i := strings.Index(p, "/contents/"); i >= 0 {
		p = p[:i] + "/contents/{path}"
	}
	return method + " " + p
}
