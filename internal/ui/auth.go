package ui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"golang.org/x/oauth2"
)

// OAuth is sign-in with GitHub through the GitHub App's OAuth client.
type OAuth struct {
	ClientID string
	// ClientSecrets: the first is the App's current client secret, used to
	// exchange codes and to seal cookies; later ones (an old secret during
	// a rotation) still open cookies sealed with them.
	ClientSecrets [][]byte
	// WebURL is GitHub's web address (https://github.com, or the GHES
	// host): sign-in goes to WebURL/login/oauth/authorize.
	WebURL string
	// APIURL is GitHub's REST base, for the user's installations.
	APIURL string
	// PublicURL is where browsers reach promobot; the OAuth callback is
	// PublicURL + "/auth/callback". https makes the cookies Secure.
	PublicURL string
	// SessionTTL is how long a sign-in lasts (default 8h); AccessTTL how
	// long the list of repositories a user can read is reused (default 5m).
	SessionTTL, AccessTTL time.Duration
	// HTTPClient calls GitHub (default http.DefaultClient).
	HTTPClient *http.Client
}

// WebURLFromAPI returns GitHub's web address for its REST base:
// https://api.github.com/ → https://github.com, https://HOST/api/v3/ →
// https://HOST.
func WebURLFromAPI(api string) (string, error) {
	u, err := url.Parse(api)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("github api url %q is not an http(s) URL", api)
	}
	if strings.EqualFold(u.Host, "api.github.com") {
		return "https://github.com", nil
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v3")
	u.RawQuery, u.Fragment, u.ForceQuery = "", "", false
	return strings.TrimSuffix(u.String(), "/"), nil
}

// siteURL is the public URL without its webhook path: the status page
// lives at the root of the site GitHub reaches promobot on.
func siteURL(public string) string {
	return strings.TrimSuffix(strings.TrimSuffix(public, "/"), "/webhook")
}

// auth runs sign-in, sessions and per-user repository access.
type auth struct {
	oc      oauth2.Config
	seal    *sealer
	cfg     OAuth
	secure  bool
	now     func() time.Time
	access  *accessCache
	used    usedStates
	session string // cookie names
	state   string
}

func newAuth(cfg OAuth, now func() time.Time) (*auth, error) {
	if cfg.ClientID == "" || len(cfg.ClientSecrets) == 0 || len(cfg.ClientSecrets[0]) == 0 {
		return nil, errors.New("github oauth needs a client id and a client secret")
	}
	pub, err := url.Parse(cfg.PublicURL)
	if err != nil || pub.Host == "" || (pub.Scheme != "https" && pub.Scheme != "http") {
		return nil, fmt.Errorf("github oauth needs --public-url (an http(s) URL), got %q", cfg.PublicURL)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = 5 * time.Minute
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	// GitHub client secrets are 40 hex characters; the sealer wants 16+
	// bytes, which a real secret always has.
	s, err := newSealer(cfg.ClientSecrets)
	if err != nil {
		return nil, err
	}
	web := strings.TrimSuffix(cfg.WebURL, "/")
	a := &auth{
		oc: oauth2.Config{
			ClientID: cfg.ClientID, ClientSecret: string(cfg.ClientSecrets[0]),
			Endpoint: oauth2.Endpoint{AuthURL: web + "/login/oauth/authorize", TokenURL: web + "/login/oauth/access_token",
				AuthStyle: oauth2.AuthStyleInParams},
			RedirectURL: siteURL(cfg.PublicURL) + "/auth/callback",
		},
		seal: s, cfg: cfg, secure: pub.Scheme == "https", now: now,
		access:  &accessCache{ttl: cfg.AccessTTL, now: now, entries: map[[32]byte]accessEntry{}},
		used:    usedStates{m: map[string]int64{}},
		session: "promobot_session", state: "promobot_oauth_state",
	}
	if a.secure {
		// __Host- cookies are Secure, host-only and for the whole site.
		a.session, a.state = "__Host-promobot_session", "__Host-promobot_oauth_state"
	}
	return a, nil
}

func (a *auth) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode}
}

// current returns the request's session; a cookie that does not open is
// cleared (the visitor is signed out).
func (a *auth) current(w http.ResponseWriter, r *http.Request) (session, bool) {
	c, err := r.Cookie(a.session)
	if err != nil {
		return session{}, false
	}
	s, ok := a.seal.parseSession(c.Value, a.now())
	if !ok {
		http.SetCookie(w, a.cookie(a.session, "", -1))
	}
	return s, ok
}

// login starts the OAuth web flow: a fresh state, bound to this browser by
// a sealed cookie, and a redirect to GitHub.
func (a *auth) login(w http.ResponseWriter, r *http.Request) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		http.Error(w, "no randomness", http.StatusInternalServerError)
		return
	}
	st := oauthState{State: base64.RawURLEncoding.EncodeToString(b), Next: localPath(r.URL.Query().Get("next")),
		Expires: a.now().Add(10 * time.Minute).Unix()}
	v, err := a.seal.seal(statePurpose, st)
	if err != nil {
		http.Error(w, "sign-in unavailable", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, a.cookie(a.state, v, 600))
	http.Redirect(w, r, a.oc.AuthCodeURL(st.State), http.StatusFound)
}

// localPath keeps a post-sign-in destination on this site: an absolute
// path, never "//host" or "/\host", else "/".
func localPath(p string) string {
	if len(p) > 1024 || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	for _, c := range p {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	return p
}

// errSignIn is a sign-in refused for what the browser sent.
var errSignIn = errors.New("sign-in refused")

// callback finishes the OAuth web flow. The state must match the sealed
// cookie this browser got at login, be current and not used before.
func (a *auth) callback(ctx context.Context, w http.ResponseWriter, r *http.Request) (session, string, error) {
	q := r.URL.Query()
	http.SetCookie(w, a.cookie(a.state, "", -1)) // one attempt per state
	if e := q.Get("error"); e != "" {
		return session{}, "", fmt.Errorf("%w: github answered %.64q", errSignIn, e)
	}
	code, state := q.Get("code"), q.Get("state")
	if len(q["code"]) != 1 || len(q["state"]) != 1 || code == "" || state == "" || len(code) > 256 || len(state) > 256 || !printable(code) {
		return session{}, "", fmt.Errorf("%w: missing or malformed code or state", errSignIn)
	}
	c, err := r.Cookie(a.state)
	if err != nil {
		return session{}, "", fmt.Errorf("%w: no state cookie", errSignIn)
	}
	var st oauthState
	if err := a.seal.open(statePurpose, c.Value, &st); err != nil {
		return session{}, "", fmt.Errorf("%w: state cookie does not open", errSignIn)
	}
	now := a.now()
	if st.State == "" || subtle.ConstantTimeCompare([]byte(st.State), []byte(state)) != 1 {
		return session{}, "", fmt.Errorf("%w: state does not match", errSignIn)
	}
	if now.Unix() >= st.Expires {
		return session{}, "", fmt.Errorf("%w: state expired", errSignIn)
	}
	if !a.used.use(st.State, st.Expires, now.Unix()) {
		return session{}, "", fmt.Errorf("%w: state used before", errSignIn)
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, a.cfg.HTTPClient)
	tok, err := a.oc.Exchange(ctx, code)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode != "" {
			return session{}, "", fmt.Errorf("%w: github refused the code: %s", errSignIn, re.ErrorCode)
		}
		return session{}, "", fmt.Errorf("exchange code: %w", err)
	}
	u, _, err := a.client(tok.AccessToken).Users.Get(ctx, "")
	if err != nil {
		return session{}, "", fmt.Errorf("read signed-in user: %w", err)
	}
	s := session{Login: u.GetLogin(), Token: tok.AccessToken, Issued: now.Unix(), Expires: now.Add(a.cfg.SessionTTL).Unix()}
	if !s.valid(now) {
		return session{}, "", fmt.Errorf("%w: github named no valid user", errSignIn)
	}
	v, err := a.seal.seal(sessionPurpose, s)
	if err != nil {
		return session{}, "", err
	}
	if len(v) > maxCookie {
		return session{}, "", errors.New("session too large for a cookie")
	}
	http.SetCookie(w, a.cookie(a.session, v, int(a.cfg.SessionTTL/time.Second)))
	return s, st.Next, nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func (a *auth) logout(w http.ResponseWriter) {
	http.SetCookie(w, a.cookie(a.session, "", -1))
}

func (a *auth) client(token string) *github.Client {
	c := github.NewClient(a.cfg.HTTPClient).WithAuthToken(token)
	if a.cfg.APIURL != "" {
		if base, err := url.Parse(strings.TrimSuffix(a.cfg.APIURL, "/") + "/"); err == nil {
			c.BaseURL = base
		}
	}
	return c
}

// readable returns the repositories (lower-case owner/name) the session's
// user can read through the App's installations, cached for AccessTTL.
func (a *auth) readable(ctx context.Context, s session) (map[string]bool, error) {
	key := sha256.Sum256([]byte(s.Token))
	if m, ok := a.access.get(key); ok {
		return m, nil
	}
	gh := a.client(s.Token)
	m := map[string]bool{}
	opt := &github.ListOptions{PerPage: 100}
	for pages := 0; ; pages++ {
		insts, resp, err := gh.Apps.ListUserInstallations(ctx, opt)
		if err != nil {
			return nil, fmt.Errorf("list user installations: %w", err)
		}
		for _, in := range insts {
			if err := a.installationRepos(ctx, gh, in.GetID(), m); err != nil {
				return nil, err
			}
		}
		if resp.NextPage == 0 || pages >= 50 {
			break
		}
		opt.Page = resp.NextPage
	}
	a.access.put(key, m)
	return m, nil
}

func (a *auth) installationRepos(ctx context.Context, gh *github.Client, id int64, m map[string]bool) error {
	opt := &github.ListOptions{PerPage: 100}
	for pages := 0; ; pages++ {
		rs, resp, err := gh.Apps.ListUserRepos(ctx, id, opt)
		if err != nil {
			return fmt.Errorf("list repositories of installation %d: %w", id, err)
		}
		for _, r := range rs.Repositories {
			m[strings.ToLower(r.GetFullName())] = true
		}
		if resp.NextPage == 0 || pages >= 200 {
			return nil
		}
		opt.Page = resp.NextPage
	}
}

// accessCache keeps each user's readable repositories for a few minutes,
// keyed by a hash of their token.
type accessCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	now     func() time.Time
	entries map[[32]byte]accessEntry
}

type accessEntry struct {
	repos map[string]bool
	at    time.Time
}

const maxAccessEntries = 10000

func (c *accessCache) get(k [32]byte) (map[string]bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || c.now().Sub(e.at) >= c.ttl {
		return nil, false
	}
	return e.repos, true
}

func (c *accessCache) put(k [32]byte, m map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= maxAccessEntries {
		for key, e := range c.entries {
			if now.Sub(e.at) >= c.ttl {
				delete(c.entries, key)
			}
		}
		if len(c.entries) >= maxAccessEntries {
			c.entries = map[[32]byte]accessEntry{}
		}
	}
	c.entries[k] = accessEntry{repos: m, at: now}
}

// usedStates remembers the OAuth states already used until they expire,
// so a callback URL replayed with its cookie is refused.
type usedStates struct {
	mu sync.Mutex
	m  map[string]int64
}

const maxUsedStates = 100000

func (u *usedStates) use(state string, expires, now int64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.m[state]; ok {
		return false
	}
	if len(u.m) >= maxUsedStates {
		for k, exp := range u.m {
			if exp <= now {
				delete(u.m, k)
			}
		}
		if len(u.m) >= maxUsedStates {
			return false // refuse rather than forget: a flood cannot reopen old states
		}
	}
	u.m[state] = expires
	return true
}
