package githubtest

import (
	"context"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"
)

const (
	testAppID   = 4242
	testInstID  = 77
	testStatic  = "static-token-for-tests"
	testSecret  = "hook-secret"
	testRepo    = "acme/gitops"
	testTimeout = 30 * time.Second
)

var appKey = sync.OnceValues(func() ([]byte, *rsa.PublicKey) {
	priv, pub, err := GenerateAppKey()
	if err != nil {
		panic(err)
	}
	return priv, pub
})

type hookRecord struct {
	Event, ID string
	Body      []byte
	Header    http.Header
}

// receiver is a webhook endpoint that checks GitHub's signatures.
type receiver struct {
	t    *testing.T
	mu   sync.Mutex
	got  []hookRecord
	bad  []string
	srv  *httptest.Server
	code int
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t, code: http.StatusAccepted}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte(testSecret))
		m.Write(body)
		m1 := hmac.New(sha1.New, []byte(testSecret))
		m1.Write(body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if r.Header.Get("X-Hub-Signature-256") != "sha256="+hex.EncodeToString(m.Sum(nil)) ||
			r.Header.Get("X-Hub-Signature") != "sha1="+hex.EncodeToString(m1.Sum(nil)) {
			rc.bad = append(rc.bad, r.Header.Get("X-GitHub-Delivery"))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rc.got = append(rc.got, hookRecord{Event: r.Header.Get("X-GitHub-Event"), ID: r.Header.Get("X-GitHub-Delivery"), Body: body, Header: r.Header.Clone()})
		w.WriteHeader(rc.code)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) all() []hookRecord {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		rc.t.Errorf("deliveries with bad signatures: %v", rc.bad)
	}
	return append([]hookRecord(nil), rc.got...)
}

func (rc *receiver) reset() {
	rc.mu.Lock()
	rc.got = nil
	rc.mu.Unlock()
}

// events returns the decoded payloads of one event type (and action, if set).
func (rc *receiver) pushes() []*github.PushEvent {
	var out []*github.PushEvent
	for _, h := range rc.all() {
		if h.Event == "push" {
			var ev github.PushEvent
			if err := json.Unmarshal(h.Body, &ev); err != nil {
				rc.t.Fatalf("decode push: %v", err)
			}
			out = append(out, &ev)
		}
	}
	return out
}

func (rc *receiver) pulls(action string) []*github.PullRequestEvent {
	var out []*github.PullRequestEvent
	for _, h := range rc.all() {
		if h.Event == "pull_request" {
			var ev github.PullRequestEvent
			if err := json.Unmarshal(h.Body, &ev); err != nil {
				rc.t.Fatalf("decode pull_request: %v", err)
			}
			if action == "" || ev.GetAction() == action {
				out = append(out, &ev)
			}
		}
	}
	return out
}

type env struct {
	t    *testing.T
	s    *Server
	hook *receiver
	ctx  context.Context
}

func newEnv(t *testing.T) *env {
	t.Helper()
	_, pub := appKey()
	rc := newReceiver(t)
	s, err := New(Config{Dir: t.TempDir(), AppID: testAppID, AppPublicKey: pub, InstallationID: testInstID,
		StaticToken: testStatic, WebhookURL: rc.srv.URL, WebhookSecret: []byte(testSecret), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	err = s.CreateRepo(testRepo, "main", map[string]string{
		"README.md": "# gitops\n",
		"apps/payment/overlays/dev/kustomization.yaml":  "images:\n- name: registry.example.com/payment\n  newTag: v1.0.0\n",
		"apps/payment/overlays/prod/kustomization.yaml": "images:\n- name: registry.example.com/payment\n  newTag: v0.9.0\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return &env{t: t, s: s, hook: rc, ctx: ctx}
}

func (e *env) wait() {
	e.t.Helper()
	if err := e.s.WaitIdle(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

// appTransport is ghinstallation's App (JWT) transport pointed at the server.
func (e *env) appTransport() *ghinstallation.AppsTransport {
	priv, _ := appKey()
	atr, err := ghinstallation.NewAppsTransport(http.DefaultTransport, testAppID, priv)
	if err != nil {
		e.t.Fatal(err)
	}
	atr.BaseURL = e.s.APIURL()
	return atr
}

func (e *env) appClient() *github.Client {
	c, err := github.NewClient(&http.Client{Transport: e.appTransport()}).WithEnterpriseURLs(e.s.APIURL(), e.s.APIURL())
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// installationClient authenticates like promobot in App mode.
func (e *env) installationClient() (*github.Client, *ghinstallation.Transport) {
	itr := ghinstallation.NewFromAppsTransport(e.appTransport(), testInstID)
	itr.BaseURL = e.s.APIURL()
	c, err := github.NewClient(&http.Client{Transport: itr}).WithEnterpriseURLs(e.s.APIURL(), e.s.APIURL())
	if err != nil {
		e.t.Fatal(err)
	}
	return c, itr
}

func (e *env) tokenClient(tok string) *github.Client {
	c, err := github.NewClient(nil).WithAuthToken(tok).WithEnterpriseURLs(e.s.APIURL(), e.s.APIURL())
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// raw sends a request with an optional Authorization header value.
func (e *env) raw(method, path, auth, body string) (int, http.Header, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = stringsReader(body)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, e.s.URL()+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func ghStatus(t *testing.T, err error) (int, string) {
	t.Helper()
	var er *github.ErrorResponse
	if err == nil {
		return 200, ""
	}
	if !asErr(err, &er) {
		t.Fatalf("not a github error: %v", err)
	}
	msg := er.Message
	for _, fe := range er.Errors {
		msg += "|" + fe.Message
	}
	return er.Response.StatusCode, msg
}
