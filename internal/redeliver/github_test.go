package redeliver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/githubtest"
)

const (
	testAppID  = 4242
	testToken  = "static-token-for-tests"
	testSecret = "hook-secret"
)

type ghEnv struct {
	gh      *githubtest.Server
	clients *ghapp.Clients
	hookURL string
	ctx     context.Context
}

// newGitHub starts the GitHub test server with a receiver answering 202,
// and promobot's clients for it: an App's, or a token's.
func newGitHub(t *testing.T, token bool) *ghEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	priv, pub, err := githubtest.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	t.Cleanup(recv.Close)
	gh, err := githubtest.New(githubtest.Config{Dir: t.TempDir(), AppID: testAppID, AppPublicKey: pub, InstallationID: 77,
		StaticToken: testToken, WebhookURL: recv.URL + "/webhook", WebhookSecret: []byte(testSecret), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gh.Close)
	for _, r := range []string{"acme/gitops", "acme/service"} {
		if err := gh.CreateRepo(r, "main", map[string]string{"README.md": "x\n"}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := ghapp.Config{APIURL: gh.APIURL(), AppID: testAppID, PrivateKey: priv, Retry: ghretry.Config{ContentPace: -1}}
	if token {
		cfg = ghapp.Config{APIURL: gh.APIURL(), Token: testToken, Retry: ghretry.Config{ContentPace: -1}}
	}
	clients, err := ghapp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &ghEnv{gh: gh, clients: clients, hookURL: recv.URL + "/webhook", ctx: ctx}
}

// failOne makes a push to repo whose delivery cannot connect.
func (e *ghEnv) failOne(t *testing.T, repo string) githubtest.Delivery {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/webhook"
	_ = ln.Close()
	e.gh.SetWebhook(closed, []byte(testSecret))
	if _, err := e.gh.Commit(repo, "main", map[string]*string{"f": github.String(time.Now().String())}, "change"); err != nil {
		t.Fatal(err)
	}
	if err := e.gh.WaitIdle(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.gh.SetWebhook(e.hookURL, []byte(testSecret))
	ds := e.gh.Deliveries()
	d := ds[len(ds)-1]
	if d.StatusText != githubtest.StatusConnectFailed || d.Status != 0 {
		t.Fatalf("delivery = %+v, want a connection failure", d)
	}
	return d
}

func (e *ghEnv) reconcile(t *testing.T, r *Reconciler) Report {
	t.Helper()
	rep, err := r.Once(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.gh.WaitIdle(e.ctx); err != nil {
		t.Fatal(err)
	}
	return rep
}

// checkRedelivered: the newest attempt is a successful redelivery of d.
func (e *ghEnv) checkRedelivered(t *testing.T, d githubtest.Delivery) {
	t.Helper()
	ds := e.gh.Deliveries()
	last := ds[len(ds)-1]
	if last.ID != d.ID || !last.Redelivery || last.StatusText != githubtest.StatusOK || string(last.Body) != string(d.Body) {
		t.Fatalf("newest attempt = %+v, want a successful redelivery of %s", last, d.ID)
	}
}

func TestAppHookAgainstGitHub(t *testing.T) {
	e := newGitHub(t, false)
	if _, err := e.gh.Commit("acme/gitops", "main", map[string]*string{"ok": github.String("1")}, "delivered fine"); err != nil {
		t.Fatal(err)
	}
	if err := e.gh.WaitIdle(e.ctx); err != nil {
		t.Fatal(err)
	}
	failed := e.failOne(t, "acme/gitops")
	r, err := New(Config{Source: Hooks{AppHook{Client: e.clients.AppClient()}}, Store: &memStore{}, Lock: &fakeLock{}})
	if err != nil {
		t.Fatal(err)
	}
	if rep := e.reconcile(t, r); rep.Read != 2 || rep.Failed != 1 || rep.Requested != 1 {
		t.Fatalf("first run: %+v", rep)
	}
	e.checkRedelivered(t, failed)
	if rep := e.reconcile(t, r); rep.Read != 1 || rep.Recovered != 1 || rep.Requested != 0 || rep.Pending != 0 {
		t.Fatalf("second run: %+v", rep)
	}
	for _, err := range githubtest.CheckCalls(e.gh.Calls()) {
		t.Error(err)
	}
}

func TestAppHookRefusedAndUnknown(t *testing.T) {
	e := newGitHub(t, false)
	failed := e.failOne(t, "acme/gitops")
	h := AppHook{Client: e.clients.AppClient()}
	if err := h.Redeliver(e.ctx, failed.HookDeliveryID+1000); !isRefused(err) {
		t.Errorf("unknown delivery: %v, want ErrRefused", err)
	}
	e.gh.AgeDeliveries(githubtest.DeliveryRetention + time.Minute)
	if err := h.Redeliver(e.ctx, failed.HookDeliveryID); !isRefused(err) {
		t.Errorf("too old: %v, want ErrRefused", err)
	}
}

func isRefused(err error) bool { return errors.Is(err, ErrRefused) }

func TestRepoHooksAgainstGitHub(t *testing.T) {
	e := newGitHub(t, true)
	id, err := e.gh.AddRepoHook("acme/gitops")
	if err != nil {
		t.Fatal(err)
	}
	failed := e.failOne(t, "acme/gitops")
	e.failOne(t, "acme/service") // no repository hook there: not promobot's to recover
	src := &RepoHooks{Client: e.clients.TokenClient(), URL: e.hookURL + "/", Log: zerolog.New(zerolog.NewTestWriter(t)),
		Repos: func() []string { return []string{"acme/gitops", "acme/service", "acme/missing"} }}
	hooks, err := src.Hooks(e.ctx)
	if err != nil || len(hooks) != 1 || hooks[0].Name() != "repo/acme/gitops/hook/"+itoa(id) {
		t.Fatalf("hooks = %v, %v", hooks, err)
	}
	r, err := New(Config{Source: src, Store: &memStore{}, Lock: &fakeLock{}})
	if err != nil {
		t.Fatal(err)
	}
	if rep := e.reconcile(t, r); rep.Hooks != 1 || rep.Read != 1 || rep.Requested != 1 {
		t.Fatalf("run: %+v", rep)
	}
	e.checkRedelivered(t, failed)
	lists := 0
	for _, c := range e.gh.Calls() {
		if c.Route == "GET /repos/{owner}/{repo}/hooks" {
			lists++
		}
	}
	if lists != 3 {
		t.Errorf("listed repository webhooks %d times, want once per repository (cached since)", lists)
	}
	for _, err := range githubtest.CheckCalls(e.gh.Calls()) {
		t.Error(err)
	}
}

func TestSameURL(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"https://promobot.example.com/webhook", "https://promobot.example.com/webhook/", true},
		{"https://Promobot.Example.com/webhook", "HTTPS://promobot.example.com/webhook", true},
		{"https://promobot.example.com/webhook", "https://promobot.example.com/other", false},
		{"https://promobot.example.com/webhook", "http://promobot.example.com/webhook", false},
		{"https://promobot.example.com:8443/webhook", "https://promobot.example.com/webhook", false},
	} {
		if got := sameURL(tc.a, tc.b); got != tc.want {
			t.Errorf("sameURL(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
