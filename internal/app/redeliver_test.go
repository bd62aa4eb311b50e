package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/redeliver"
	"github.com/promobot/promobot/internal/rules"
)

func TestWebhookURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://promobot.example.com":                  "https://promobot.example.com/webhook",
		"https://promobot.example.com/":                 "https://promobot.example.com/webhook",
		"https://promobot.example.com/webhook":          "https://promobot.example.com/webhook",
		"https://example.com/tools/promobot/":           "https://example.com/tools/promobot/webhook",
		"http://127.0.0.1:8080":                         "http://127.0.0.1:8080/webhook",
		"promobot.example.com":                          "",
		"ftp://promobot.example.com":                    "",
		"https://promobot.example.com/?secret=1":        "",
		"https://promobot.example.com/webhook#fragment": "",
	} {
		got, err := WebhookURL(in)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("WebhookURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestRuleRepos(t *testing.T) {
	rs := &rules.Rules{
		Services: []rules.Service{
			{Repo: "acme/gitops", Source: &rules.Source{Repo: "acme/payments"}},
			{Repo: "acme/gitops"},
		},
		Generators: []rules.Generator{{Repo: "acme/platform", Service: rules.GeneratorService{Source: &rules.Source{Repo: "acme/{{.Dir}}"}}}},
	}
	if got, want := ruleRepos(rs), []string{"acme/gitops", "acme/payments", "acme/platform"}; !slices.Equal(got, want) {
		t.Errorf("ruleRepos = %v, want %v", got, want)
	}
	if ruleRepos(nil) != nil {
		t.Error("no rules, yet repositories")
	}
}

// TestRedeliverLockAndState: one process at a time holds the reconciler's
// lease; its state survives in the state bucket.
func TestRedeliverLockAndState(t *testing.T) {
	ctx := context.Background()
	a, err := Start(ctx, config(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown(ctx) })
	l := leaseLock{a.q}
	_, release, err := l.TryLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.TryLock(ctx); !errors.Is(err, redeliver.ErrHeld) {
		t.Fatalf("second TryLock: %v, want ErrHeld", err)
	}
	release()
	_, release, err = l.TryLock(ctx)
	if err != nil {
		t.Fatalf("TryLock after release: %v", err)
	}
	release()

	s := redeliverState{kvState{a.q.State()}}
	if st, err := s.Load(ctx, "app"); err != nil || st.Last != 0 || st.Pending != nil {
		t.Fatalf("state before any run = %+v, %v", st, err)
	}
	at := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	want := redeliver.State{Last: 42, LastAt: at, Recent: map[int64]time.Time{42: at},
		Pending: map[string]*redeliver.Pending{"g": {ID: 41, At: at, First: at, Event: "push", Status: "failed to connect to host", Requests: 1, RequestedAt: at}}}
	if err := s.Save(ctx, "repo/acme/gitops/hook/7", want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, "repo/acme/gitops/hook/7")
	if err != nil || got.Last != 42 || !got.LastAt.Equal(at) || len(got.Recent) != 1 || got.Pending["g"] == nil || *got.Pending["g"] != *want.Pending["g"] {
		t.Fatalf("state = %+v, %v; want %+v", got, err, want)
	}
}

// syncBuffer is a log sink tests read while promobot writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRedeliverStartupModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		want string
	}{
		{"off", func(c *Config) { c.RedeliverInterval = 0 }, "delivery reconciler off (--redeliver-interval 0)"},
		{"token without public url", func(c *Config) { c.RedeliverInterval = time.Minute }, "--public-url is not set"},
		{"webhook only", func(c *Config) { c.RedeliverInterval, c.Webhook = time.Minute, true }, "the worker processes run it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			cfg := config(t)
			cfg.Log = zerolog.New(&logs)
			tc.cfg(&cfg)
			a, err := Start(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
			if !strings.Contains(logs.String(), tc.want) {
				t.Errorf("start-up log lacks %q:\n%s", tc.want, logs.String())
			}
		})
	}
}

// TestRedeliverTokenMode: with a token, promobot finds the webhook of each
// repository in its rules that points at --public-url, and has GitHub
// redeliver what failed there.
func TestRedeliverTokenMode(t *testing.T) {
	const public = "https://promobot.example.com"
	asked := make(chan string, 1)
	var mu sync.Mutex
	var seen []string
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		now := time.Now().UTC().Format(time.RFC3339)
		switch r.Method + " " + r.URL.Path {
		case "GET /api/v3/repos/acme/gitops/hooks":
			fmt.Fprintf(w, `[{"id": 9, "name": "web", "active": false, "config": {"url": %q}},
				{"id": 7, "name": "web", "active": true, "config": {"url": %q}}]`, public+"/webhook", public+"/webhook/")
		case "GET /api/v3/repos/acme/gitops/hooks/7/deliveries":
			fmt.Fprintf(w, `[{"id": 71, "guid": "g-1", "delivered_at": %q, "redelivery": false, "duration": 10.0,
				"status": "timed out", "status_code": 0, "event": "push", "action": null, "installation_id": null, "repository_id": 1}]`, now)
		case "POST /api/v3/repos/acme/gitops/hooks/7/deliveries/71/attempts":
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprint(w, `{}`)
			select {
			case asked <- r.URL.Path:
			default:
			}
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message": "Not Found"}`)
		}
	}))
	t.Cleanup(gh.Close)
	cfg := config(t)
	cfg.GitHubAPIURL, cfg.PublicURL, cfg.RedeliverInterval = gh.URL+"/api/v3", public, time.Hour
	cfg.GitHubRetry.ContentPace = -1
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
	select {
	case <-asked:
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("no redelivery asked for; GitHub saw %q", seen)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		if !strings.HasSuffix(s, " Bearer t") {
			t.Errorf("request without the token: %s", s)
		}
	}
}
