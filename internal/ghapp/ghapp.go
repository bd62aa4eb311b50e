// Package ghapp builds authenticated GitHub clients: per-installation clients
// for a GitHub App (JWT → installation token, via ghinstallation), or one
// client for a plain token. It also owns the HTTP transport every GitHub call
// goes through, which counts calls for metrics.
package ghapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/ghretry"
)

// DefaultAPIURL is github.com's REST API.
const DefaultAPIURL = "https://api.github.com/"

// Config says how to authenticate. Either AppID and PrivateKey, or Token.
type Config struct {
	APIURL     string // default DefaultAPIURL; GHES: https://HOST/api/v3/
	AppID      int64
	PrivateKey []byte // PEM
	Token      string
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
}

// Clients hands out clients per installation and caches them.
type Clients struct {
	apiURL string
	cfg    Config
	base   http.RoundTripper
	apps   *ghinstallation.AppsTransport
	token  *Installation

	mu      sync.Mutex
	byID    map[int64]*Installation
	repoIDs map[string]int64
	clone   map[string]string
}

// New validates cfg and prepares the transports.
func New(cfg Config) (*Clients, error) {
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
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
	c := &Clients{apiURL: cfg.APIURL, cfg: cfg, base: base, byID: map[int64]*Installation{}, repoIDs: map[string]int64{}, clone: map[string]string{}}
	switch {
	case cfg.Token != "":
		gh, err := c.newClient(base)
		if err != nil {
			return nil, err
		}
		tok := cfg.Token
		c.token = &Installation{Client: gh.WithAuthToken(tok), Token: func(context.Context) (string, error) { return tok, nil }}
	case cfg.AppID != 0 && len(cfg.PrivateKey) > 0:
		atr, err := ghinstallation.NewAppsTransport(base, cfg.AppID, cfg.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("github app key: %w", err)
		}
		atr.BaseURL = strings.TrimRight(cfg.APIURL, "/")
		c.apps = atr
	default:
		return nil, errors.New("github credentials: set an App id and private key, or a token")
	}
	return c, nil
}

func (c *Clients) newClient(rt http.RoundTripper) (*github.Client, error) {
	gh := github.NewClient(&http.Client{Transport: rt})
	if c.apiURL == DefaultAPIURL {
		return gh, nil
	}
	gh, err := gh.WithEnterpriseURLs(c.apiURL, c.apiURL)
	if err != nil {
		return nil, fmt.Errorf("github api url: %w", err)
	}
	return gh, nil
}

// For returns the client for repo. installationID comes from the delivery;
// when it is 0, the repository's installation is looked up with the App JWT
// (once per repository per process).
func (c *Clients) For(ctx context.Context, repo string, installationID int64) (*Installation, error) {
	if c.token != nil {
		return c.token, nil
	}
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
	itr := ghinstallation.NewFromAppsTransport(c.apps, installationID)
	itr.BaseURL = strings.TrimRight(c.apiURL, "/")
	gh, err := c.newClient(itr)
	if err != nil {
		return nil, err
	}
	in := &Installation{ID: installationID, Client: gh, Token: itr.Token}
	c.byID[installationID] = in
	return in, nil
}

func (c *Clients) lookup(ctx context.Context, repo string) (int64, error) {
	c.mu.Lock()
	id, ok := c.repoIDs[repo]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	owner, name, err := split(repo)
	if err != nil {
		return 0, err
	}
	appClient, err := c.newClient(c.apps)
	if err != nil {
		return 0, err
	}
	inst, _, err := appClient.Apps.FindRepositoryInstallation(ctx, owner, name)
	if err != nil {
		return 0, fmt.Errorf("find installation of %s: %w", repo, ghretry.Fate(err, time.Now()))
	}
	c.mu.Lock()
	c.repoIDs[repo] = inst.GetID()
	c.mu.Unlock()
	return inst.GetID(), nil
}

// CloneURL returns the repository's clone_url: known from a push payload
// when given, otherwise asked of GitHub once per repository per process.
func (c *Clients) CloneURL(ctx context.Context, in *Installation, repo, known string) (string, error) {
	c.mu.Lock()
	u, ok := c.clone[repo]
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
	c.clone[repo] = known
	c.mu.Unlock()
	return known, nil
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
	repoPrefix = regexp.MustCompile(`^(/api/v3)?/repos/[^/]+/[^/]+`)
	idSegment  = regexp.MustCompile(`/([0-9]+|[0-9a-f]{40})(/|$)`)
)

// Route reduces a request path to a low-cardinality label, e.g.
// "POST /repos/{owner}/{repo}/pulls/{n}/requested_reviewers".
func Route(method, path string) string {
	p := repoPrefix.ReplaceAllString(path, "/repos/{owner}/{repo}")
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
