package ui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// balancer sends the requests for the status page's host to whichever
// replica is current, in process, the way a Service spreads them over
// pods; every other request (GitHub) goes out as usual.
type balancer struct {
	host    string
	replica atomic.Pointer[Handler]
}

func (b *balancer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != b.host {
		return http.DefaultTransport.RoundTrip(r)
	}
	rec := httptest.NewRecorder()
	b.replica.Load().ServeHTTP(rec, r)
	return rec.Result(), nil
}

// replica is another promobot process of the same deployment: the same
// OAuth client and secret, its own memory (used states, access cache).
func (e *signInEnv) replica(secret string) *Handler {
	e.t.Helper()
	h, err := New(Config{Source: smallSource(), Log: zerolog.Nop(), Now: e.clock.now, OAuth: &OAuth{
		ClientID: testClientID, ClientSecrets: [][]byte{[]byte(secret)}, WebURL: e.gh.URL(), APIURL: e.gh.APIURL(), PublicURL: e.ui.URL}})
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// TestSignInAcrossReplicas: with several pods behind a Service, the sign-in
// starts on one, GitHub's callback lands on another, and the pages come
// from any: the OAuth state and the session live in sealed cookies, not in
// a process, so no session affinity is needed. A callback replayed on a
// replica that never saw its state is still refused (GitHub takes a code
// once), as are an expired state and a state sealed by a replica with
// another secret.
func TestSignInAcrossReplicas(t *testing.T) {
	e := newSignInEnv(t)
	a, b := e.h, e.replica(testSecret)
	u, _ := url.Parse(e.ui.URL)
	lb := &balancer{host: u.Host}
	jarClient := e.browser(false)
	c := &http.Client{Jar: jarClient.Jar, Transport: lb, CheckRedirect: jarClient.CheckRedirect}
	on := func(h *Handler, method, path string) (*http.Response, string) {
		t.Helper()
		lb.replica.Store(h)
		return do(t, c, method, e.ui.URL+path)
	}
	// login on a; GitHub's authorize page; the callback URL it sends back.
	login := func(h *Handler) *url.URL {
		t.Helper()
		resp, _ := on(h, "GET", "/auth/login?next="+url.QueryEscape("/repos/acme/gitops/services/payment-service"))
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		resp, _ = do(t, c, "GET", resp.Header.Get("Location"))
		cb, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode != http.StatusFound || cb.Host != u.Host || cb.Path != "/auth/callback" {
			t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		return cb
	}

	cb := login(a)
	saved := c.Jar.Cookies(u)
	resp, _ := on(b, "GET", cb.RequestURI())
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/repos/acme/gitops/services/payment-service" {
		t.Fatalf("callback on the other replica: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	for name, h := range map[string]*Handler{"a": a, "b": b} {
		if resp, body := on(h, "GET", "/"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Signed in as <strong>alice</strong>") {
			t.Errorf("page on replica %s: %d", name, resp.StatusCode)
		}
		if resp, _ := on(h, "GET", "/api/v1/status"); resp.StatusCode != http.StatusOK {
			t.Errorf("API on replica %s: %d", name, resp.StatusCode)
		}
	}

	tests := []struct {
		name string
		run  func() *http.Response
	}{
		{"replayed on the replica that started it", func() *http.Response {
			replay := e.browser(false)
			replay.Jar.SetCookies(u, saved)
			rc := &http.Client{Jar: replay.Jar, Transport: lb, CheckRedirect: replay.CheckRedirect}
			lb.replica.Store(a)
			r, _ := do(t, rc, "GET", cb.String())
			return r
		}},
		{"expired before the callback", func() *http.Response {
			cb := login(a)
			e.clock.add(11 * time.Minute)
			r, _ := on(b, "GET", cb.RequestURI())
			return r
		}},
		{"state sealed with another secret", func() *http.Response {
			cb := login(e.replica("fedcba9876543210fedcba9876543210fedcba98"))
			r, _ := on(b, "GET", cb.RequestURI())
			return r
		}},
	}
	for _, tt := range tests {
		c.Jar.SetCookies(u, []*http.Cookie{{Name: "promobot_session", Value: "", Path: "/", MaxAge: -1}})
		resp := tt.run()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", tt.name, resp.StatusCode)
		}
		for _, ck := range resp.Cookies() {
			if ck.Name == "promobot_session" && ck.MaxAge >= 0 {
				t.Errorf("%s: a session cookie was set", tt.name)
			}
		}
	}
}
