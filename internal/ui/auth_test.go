package ui

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/githubtest"
)

const (
	testClientID = "Iv1.5e55ion0000test"
	testSecret   = "0123456789abcdef0123456789abcdef01234567"
	testInst     = 4242
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// signInEnv is promobot's UI with sign-in against the GitHub test server:
// alice reads acme/gitops, bob reads acme/gitops and acme/secret-gitops.
type signInEnv struct {
	t     *testing.T
	gh    *githubtest.Server
	ui    *httptest.Server
	clock *clock
	h     *Handler
}

func newSignInEnv(t *testing.T, secrets ...string) *signInEnv {
	t.Helper()
	gh, err := githubtest.New(githubtest.Config{Dir: t.TempDir(), InstallationID: testInst, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gh.Close)
	for _, r := range []string{"acme/gitops", "acme/secret-gitops"} {
		if err := gh.CreateRepo(r, "main", map[string]string{"README.md": "x\n"}); err != nil {
			t.Fatal(err)
		}
	}
	gh.SetUserAccess("alice", "acme/gitops")
	gh.SetUserAccess("bob", "acme/gitops", "acme/secret-gitops")
	gh.SignInAs("alice")
	e := &signInEnv{t: t, gh: gh, clock: &clock{t: time.Now()}}
	if len(secrets) == 0 {
		secrets = []string{testSecret}
	}
	var sec [][]byte
	for _, s := range secrets {
		sec = append(sec, []byte(s))
	}
	mux := http.NewServeMux()
	e.ui = httptest.NewServer(mux)
	t.Cleanup(e.ui.Close)
	e.h, err = New(Config{Source: smallSource(), Log: zerolog.Nop(), Now: e.clock.now, OAuth: &OAuth{
		ClientID: testClientID, ClientSecrets: sec, WebURL: gh.URL(), APIURL: gh.APIURL(), PublicURL: e.ui.URL}})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", e.h)
	gh.SetOAuthClient(testClientID, testSecret, e.ui.URL+"/auth/callback")
	return e
}

// browser is a cookie-keeping client; follow says whether it follows redirects.
func (e *signInEnv) browser(follow bool) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	if !follow {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

func do(t *testing.T, c *http.Client, method, u string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signIn signs the browser in as login and returns it.
func (e *signInEnv) signIn(login string) *http.Client {
	e.t.Helper()
	e.gh.SignInAs(login)
	c := e.browser(true)
	resp, body := do(e.t, c, "GET", e.ui.URL+"/")
	if resp.StatusCode != 200 || !strings.Contains(body, "Signed in as <strong>"+login+"</strong>") {
		e.t.Fatalf("sign-in as %s: %d %s", login, resp.StatusCode, body)
	}
	return c
}

func (e *signInEnv) sessionCookie(c *http.Client) *http.Cookie {
	u, _ := url.Parse(e.ui.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "promobot_session" {
			return ck
		}
	}
	e.t.Fatal("no session cookie")
	return nil
}

func TestNoSessionRedirectsToSignIn(t *testing.T) {
	e := newSignInEnv(t)
	c := e.browser(false)
	for _, p := range []string{"/", "/repos/acme/gitops/services/payment-service?page=2"} {
		resp, body := do(t, c, "GET", e.ui.URL+p)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/auth/login?next="+url.QueryEscape(p) || strings.Contains(body, "v1.2.0") {
			t.Errorf("GET %s = %d %s", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	for _, p := range []string{"/api/v1/status", "/api/v1/repos/acme/gitops/services/payment-service"} {
		if resp, body := do(t, c, "GET", e.ui.URL+p); resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "payment") {
			t.Errorf("GET %s = %d", p, resp.StatusCode)
		}
	}
	resp, _ := do(t, c, "GET", e.ui.URL+"/auth/login?next=/x")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), e.gh.URL()+"/login/oauth/authorize?") ||
		loc.Query().Get("client_id") != testClientID || loc.Query().Get("redirect_uri") != e.ui.URL+"/auth/callback" || len(loc.Query().Get("state")) < 40 {
		t.Errorf("login redirect = %d %s", resp.StatusCode, loc)
	}
	var state *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "promobot_oauth_state" {
			state = ck
		}
	}
	if state == nil || !state.HttpOnly || state.SameSite != http.SameSiteLaxMode || state.Secure {
		t.Errorf("state cookie = %+v", state)
	}
}

func TestUserSeesOnlyRepositoriesTheyCanRead(t *testing.T) {
	e := newSignInEnv(t)
	c, cb := e.startLogin("/")
	resp, _ := do(t, c, "GET", cb.String())
	var ck *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == "promobot_session" {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure || ck.MaxAge != 8*3600 || ck.Path != "/" {
		t.Errorf("session cookie = %+v", ck)
	}
	alice := e.signIn("alice")
	_, body := do(t, alice, "GET", e.ui.URL+"/")
	if !strings.Contains(body, "payment-service") || strings.Contains(body, "secret-gitops") || strings.Contains(body, "vault-agent") {
		t.Error("alice's page is wrong: she sees secret-gitops or misses gitops")
	}
	for _, p := range []string{"/repos/acme/secret-gitops/services/vault-agent", "/api/v1/repos/acme/secret-gitops/services/vault-agent",
		"/repos/ACME/Secret-Gitops/services/vault-agent"} {
		if resp, body := do(t, alice, "GET", e.ui.URL+p); resp.StatusCode != 404 || strings.Contains(body, "s3cr3t") {
			t.Errorf("alice GET %s = %d", p, resp.StatusCode)
		}
	}
	for _, p := range []string{"/api/v1/status", "/api/v1/status?repo=acme/secret-gitops", "/?repo=acme/secret-gitops"} {
		if _, body := do(t, alice, "GET", e.ui.URL+p); strings.Contains(body, "s3cr3t") || strings.Contains(body, "vault-agent") {
			t.Errorf("alice GET %s shows secret-gitops", p)
		}
	}
	if resp, _ := do(t, alice, "GET", e.ui.URL+"/repos/acme/gitops/services/payment-service"); resp.StatusCode != 200 {
		t.Errorf("alice's own timeline: %d", resp.StatusCode)
	}
	bob := e.signIn("bob")
	if resp, body := do(t, bob, "GET", e.ui.URL+"/repos/acme/secret-gitops/services/vault-agent"); resp.StatusCode != 200 || !strings.Contains(body, "s3cr3t-0") {
		t.Errorf("bob's timeline of secret-gitops: %d", resp.StatusCode)
	}
}

func TestAccessIsCachedForMinutes(t *testing.T) {
	e := newSignInEnv(t)
	alice := e.signIn("alice")
	e.gh.ResetCalls()
	for range 3 {
		do(t, alice, "GET", e.ui.URL+"/api/v1/status")
	}
	if n := len(e.gh.Calls()); n != 0 {
		t.Errorf("%d GitHub calls within the cache time, want 0", n)
	}
	e.gh.SetUserAccess("alice") // alice loses access
	e.clock.add(6 * time.Minute)
	if _, body := do(t, alice, "GET", e.ui.URL+"/api/v1/status"); strings.Contains(body, "payment-service") {
		t.Error("a revoked repository is still shown after the cache time")
	}
}

func TestBadCookiesSignOut(t *testing.T) {
	e := newSignInEnv(t)
	alice := e.signIn("alice")
	good := e.sessionCookie(alice).Value
	other, _ := newSealer([][]byte{[]byte("another-secret-0123456789abcdef")})
	forged, _ := other.seal(sessionPurpose, session{Login: "bob", Token: "ghu_x", Issued: e.clock.now().Unix(), Expires: e.clock.now().Add(time.Hour).Unix()})
	stateAsSession, _ := e.h.auth.seal.seal(statePurpose, oauthState{State: "x", Expires: e.clock.now().Add(time.Hour).Unix()})
	flip := []byte(good)
	flip[10] ^= 1
	tests := map[string]string{
		"forged with another key": forged,
		"tampered":                string(flip),
		"signature cut":           good[:strings.LastIndex(good, ".")],
		"state cookie as session": stateAsSession,
		"oversized":               good + strings.Repeat("A", 5000),
		"empty":                   "",
		"garbage":                 "v1.%%%.###",
		"other version":           "v2" + good[2:],
		"unsigned JSON":           `{"l":"bob","t":"x","e":9999999999}`,
	}
	for name, v := range tests {
		c := e.browser(false)
		u, _ := url.Parse(e.ui.URL)
		c.Jar.SetCookies(u, []*http.Cookie{{Name: "promobot_session", Value: v, Path: "/"}})
		resp, body := do(t, c, "GET", e.ui.URL+"/")
		if resp.StatusCode != http.StatusSeeOther || strings.Contains(body, "payment") {
			t.Errorf("%s: %d, want a redirect to sign in", name, resp.StatusCode)
		}
	}
	e.clock.add(9 * time.Hour) // past the session's expiry
	resp, _ := do(t, e.browser(false), "GET", e.ui.URL+"/")
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("no cookie: %d", resp.StatusCode)
	}
	c := e.browser(false)
	u, _ := url.Parse(e.ui.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "promobot_session", Value: good, Path: "/"}})
	resp, _ = do(t, c, "GET", e.ui.URL+"/")
	cleared := false
	for _, ck := range resp.Cookies() {
		cleared = cleared || ck.Name == "promobot_session" && ck.MaxAge < 0
	}
	if resp.StatusCode != http.StatusSeeOther || !cleared {
		t.Errorf("expired cookie: %d, cleared %v", resp.StatusCode, cleared)
	}
}

func TestSignOut(t *testing.T) {
	e := newSignInEnv(t)
	alice := e.signIn("alice")
	resp, body := do(t, alice, "POST", e.ui.URL+"/auth/logout")
	if resp.StatusCode != 200 || !strings.Contains(body, "You are signed out") {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	alice.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if resp, _ := do(t, alice, "GET", e.ui.URL+"/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after sign-out: %d", resp.StatusCode)
	}
	if resp, _ := do(t, alice, "GET", e.ui.URL+"/auth/logout"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /auth/logout: %d", resp.StatusCode)
	}
}

// startLogin runs /auth/login and GitHub's authorize step without
// following the callback; it returns the browser and the callback URL.
func (e *signInEnv) startLogin(next string) (*http.Client, *url.URL) {
	e.t.Helper()
	c := e.browser(false)
	resp, _ := do(e.t, c, "GET", e.ui.URL+"/auth/login?next="+url.QueryEscape(next))
	resp, _ = do(e.t, c, "GET", resp.Header.Get("Location"))
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		e.t.Fatalf("authorize: %d %v", resp.StatusCode, err)
	}
	return c, cb
}

func TestCallbackRefusesBadState(t *testing.T) {
	e := newSignInEnv(t)
	with := func(cb *url.URL, set func(q url.Values)) string {
		u := *cb
		q := u.Query()
		set(q)
		u.RawQuery = q.Encode()
		return u.String()
	}
	tests := []struct {
		name   string
		mangle func(c *http.Client, cb *url.URL) string
	}{
		{"missing state", func(_ *http.Client, cb *url.URL) string { return with(cb, func(q url.Values) { q.Del("state") }) }},
		{"wrong state", func(_ *http.Client, cb *url.URL) string {
			return with(cb, func(q url.Values) { q.Set("state", "AAAA") })
		}},
		{"two states", func(_ *http.Client, cb *url.URL) string {
			return with(cb, func(q url.Values) { q.Add("state", q.Get("state")) })
		}},
		{"missing code", func(_ *http.Client, cb *url.URL) string { return with(cb, func(q url.Values) { q.Del("code") }) }},
		{"hostile code", func(_ *http.Client, cb *url.URL) string {
			return with(cb, func(q url.Values) { q.Set("code", "a b\r\nSet-Cookie: x=1") })
		}},
		{"oversized code", func(_ *http.Client, cb *url.URL) string {
			return with(cb, func(q url.Values) { q.Set("code", strings.Repeat("a", 5000)) })
		}},
		{"github error", func(_ *http.Client, cb *url.URL) string {
			return with(cb, func(q url.Values) { q.Del("code"); q.Set("error", "access_denied") })
		}},
		{"no state cookie", func(c *http.Client, cb *url.URL) string {
			u, _ := url.Parse(e.ui.URL)
			c.Jar.SetCookies(u, []*http.Cookie{{Name: "promobot_oauth_state", Value: "", Path: "/", MaxAge: -1}})
			return cb.String()
		}},
		{"state cookie of another browser", func(c *http.Client, cb *url.URL) string {
			other, _ := e.startLogin("/")
			u, _ := url.Parse(e.ui.URL)
			for _, ck := range other.Jar.Cookies(u) {
				c.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/"}})
			}
			return cb.String()
		}},
		{"expired state", func(_ *http.Client, cb *url.URL) string { e.clock.add(11 * time.Minute); return cb.String() }},
	}
	for _, tt := range tests {
		c, cb := e.startLogin("/")
		resp, body := do(t, c, "GET", tt.mangle(c, cb))
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(body, "payment") {
			t.Errorf("%s: %d", tt.name, resp.StatusCode)
		}
		for _, ck := range resp.Cookies() {
			if ck.Name == "promobot_session" && ck.MaxAge >= 0 {
				t.Errorf("%s: a session cookie was set", tt.name)
			}
		}
	}
}

func TestCallbackReplayIsRefused(t *testing.T) {
	e := newSignInEnv(t)
	c, cb := e.startLogin("/repos/acme/gitops/services/payment-service")
	u, _ := url.Parse(e.ui.URL)
	saved := c.Jar.Cookies(u)
	resp, _ := do(t, c, "GET", cb.String())
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/repos/acme/gitops/services/payment-service" {
		t.Fatalf("callback: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	replay := e.browser(false)
	replay.Jar.SetCookies(u, saved) // the same state cookie and callback URL again
	if resp, _ := do(t, replay, "GET", cb.String()); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("replayed callback: %d", resp.StatusCode)
	}
}

func TestNextStaysOnThisSite(t *testing.T) {
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "/ok\r\nX: y", ""} {
		if got := localPath(next); got != "/" {
			t.Errorf("localPath(%q) = %q", next, got)
		}
	}
	if got := localPath("/repos/a/b/services/c?page=2"); got != "/repos/a/b/services/c?page=2" {
		t.Errorf("local path changed: %q", got)
	}
	e := newSignInEnv(t)
	c, cb := e.startLogin("//evil.example/")
	if resp, _ := do(t, c, "GET", cb.String()); resp.Header.Get("Location") != "/" {
		t.Errorf("next //evil.example/ led to %q", resp.Header.Get("Location"))
	}
}

func TestSecretRotationKeepsSessions(t *testing.T) {
	old := newSignInEnv(t, testSecret)
	alice := old.signIn("alice")
	v := old.sessionCookie(alice).Value
	rotated, _ := newSealer([][]byte{[]byte("fedcba9876543210fedcba9876543210fedcba98"), []byte(testSecret)})
	if _, ok := rotated.parseSession(v, old.clock.now()); !ok {
		t.Error("a session sealed with the previous secret is refused during the rotation")
	}
	after, _ := newSealer([][]byte{[]byte("fedcba9876543210fedcba9876543210fedcba98")})
	if _, ok := after.parseSession(v, old.clock.now()); ok {
		t.Error("a session sealed with a removed secret is accepted")
	}
}

func TestSecureCookiesOnHTTPS(t *testing.T) {
	a, err := newAuth(OAuth{ClientID: "x", ClientSecrets: [][]byte{[]byte(testSecret)}, WebURL: "https://github.com", PublicURL: "https://promobot.example.com"}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	a.login(rec, httptest.NewRequest("GET", "/auth/login", nil))
	ck := rec.Result().Cookies()[0]
	if !ck.Secure || ck.Name != "__Host-promobot_oauth_state" || ck.Path != "/" || ck.Domain != "" {
		t.Errorf("state cookie on https = %+v", ck)
	}
}

func FuzzParseSession(f *testing.F) {
	s, _ := newSealer([][]byte{[]byte(testSecret)})
	now := time.Unix(1_800_000_000, 0)
	want := session{Login: "alice", Token: "ghu_x", Issued: now.Unix(), Expires: now.Add(time.Hour).Unix()}
	good, _ := s.seal(sessionPurpose, want)
	for _, seed := range []string{good, "", "v1.", "v1..", "v1.AAAA.AAAA", good + "x", strings.Repeat("v1.", 2000), `{"l":"a"}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		ss, ok := s.parseSession(v, now)
		// Only a value sealed with the key opens (the fuzzing workers seal
		// their own seed, with another nonce).
		if ok && ss != want {
			t.Fatalf("accepted a cookie this test never sealed: %q", v)
		}
	})
}

func TestGitHubTroubleKeepsTheSessionButARevokedTokenSignsOut(t *testing.T) {
	e := newSignInEnv(t)
	alice := e.signIn("alice")
	alice.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	e.clock.add(6 * time.Minute) // past the access cache
	e.gh.SetFault(func(c githubtest.Call) *githubtest.Fault {
		if strings.Contains(c.Path, "/user/installations") {
			return &githubtest.Fault{Status: http.StatusBadGateway}
		}
		return nil
	})
	if resp, body := do(t, alice, "GET", e.ui.URL+"/"); resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "v1.2.0") {
		t.Errorf("GitHub failing: %d", resp.StatusCode)
	}
	e.gh.SetFault(func(c githubtest.Call) *githubtest.Fault {
		if strings.Contains(c.Path, "/user/installations") {
			return &githubtest.Fault{Status: http.StatusUnauthorized, Body: `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`}
		}
		return nil
	})
	if resp, _ := do(t, alice, "GET", e.ui.URL+"/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("token revoked: %d, want a redirect to sign in", resp.StatusCode)
	}
	e.gh.SetFault(nil)
	if resp, _ := do(t, alice, "GET", e.ui.URL+"/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after the revoked token the session is gone: %d", resp.StatusCode)
	}
}

func TestCallbackURLDropsTheWebhookPath(t *testing.T) {
	for public, want := range map[string]string{
		"https://p.example.com":          "https://p.example.com/auth/callback",
		"https://p.example.com/":         "https://p.example.com/auth/callback",
		"https://p.example.com/webhook":  "https://p.example.com/auth/callback",
		"https://p.example.com/webhook/": "https://p.example.com/auth/callback",
	} {
		a, err := newAuth(OAuth{ClientID: "x", ClientSecrets: [][]byte{[]byte(testSecret)}, WebURL: "https://github.com", PublicURL: public}, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		if a.oc.RedirectURL != want {
			t.Errorf("%s: callback %s, want %s", public, a.oc.RedirectURL, want)
		}
	}
}
