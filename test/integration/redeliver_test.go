package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/app"
	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/worker"
)

// results collects a promobot's handled intents (app.Config.Observe).
type results struct {
	mu     sync.Mutex
	got    []worker.Result
	notify chan struct{}
}

func newResults() *results { return &results{notify: make(chan struct{}, 1)} }

func (r *results) observe(res worker.Result) {
	r.mu.Lock()
	r.got = append(r.got, res)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// await waits for result n (from 0) and checks its outcome.
func (r *results) await(t *testing.T, ctx context.Context, n int, want worker.Outcome) worker.Result {
	t.Helper()
	for {
		r.mu.Lock()
		if len(r.got) > n {
			res := r.got[n]
			r.mu.Unlock()
			if res.Outcome != want {
				t.Fatalf("intent result #%d (%s, %s→%s): outcome %s (%s), want %s", n, res.Intent.Kind, res.Intent.From, res.Intent.To, res.Outcome, res.Reason, want)
			}
			return res
		}
		r.mu.Unlock()
		select {
		case <-r.notify:
		case <-ctx.Done():
			t.Fatalf("waiting for intent result #%d: %v", n+1, ctx.Err())
		}
	}
}

// gate stands in front of promobot's webhook: closed, it answers 503 as
// promobot does while NATS is unreachable; open, it passes requests on.
type gate struct {
	srv    *httptest.Server
	target atomic.Pointer[httputil.ReverseProxy]
}

func newGate(t *testing.T) *gate {
	g := &gate{}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := g.target.Load(); p != nil {
			p.ServeHTTP(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":"queue unavailable"}`)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gate) open(addr string) {
	g.target.Store(httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: addr}))
}

// TestRedeliverFailedDelivery: a build's webhook fails while promobot
// cannot take it; GitHub does not try again by itself. When promobot starts,
// its delivery reconciler finds the failed delivery in GitHub's delivery
// log and has GitHub redeliver it; the staging PR appears with nobody
// pressing Redeliver.
func TestRedeliverFailedDelivery(t *testing.T) {
	for _, tc := range []struct {
		name string
		// down makes GitHub's deliveries fail and returns where promobot
		// will listen and how to let deliveries through to it again.
		down       func(t *testing.T, h *demo.Harness) (listen string, up func())
		wantStatus string
		wantCode   int
	}{{
		name: "promobot stopped: connection refused",
		down: func(t *testing.T, h *demo.Harness) (string, func()) {
			// GitHub keeps the webhook URL; promobot comes back on it.
			return h.App.Addr(), func() {}
		},
		wantStatus: githubtest.StatusConnectFailed, wantCode: 0,
	}, {
		name: "webhook answered 503 (NATS unreachable)",
		down: func(t *testing.T, h *demo.Harness) (string, func()) {
			g := newGate(t)
			h.GitHub.SetWebhook(g.srv.URL+"/webhook", h.Secret)
			ln, err := net.Listen("tcp", "127.0.0.1:0") // where promobot will listen
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			_ = ln.Close()
			return addr, func() { g.open(addr) }
		},
		wantStatus: "Invalid HTTP Response: 503", wantCode: 503,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			t.Cleanup(cancel)
			dir := t.TempDir()
			log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
			h, err := demo.Start(ctx, demo.Options{Dir: dir, Log: log})
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			t.Cleanup(h.Close)
			gh := h.GitHub

			// 1. promobot cannot take webhooks.
			listen, up := tc.down(t, h)
			if err := h.App.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			h.App = nil

			// 2. A build succeeds; GitHub's delivery of it fails.
			msg := "PAY-321: settle refunds nightly"
			sha, err := h.SourceCommit(msg)
			if err != nil {
				t.Fatal(err)
			}
			payload, err := h.WorkflowRun(demo.Build{SHA: sha, Message: msg, RunNumber: 7})
			if err != nil {
				t.Fatal(err)
			}
			guid := gh.Deliver("workflow_run", payload)
			if err := gh.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
			failed := attempts(gh, guid)
			if len(failed) != 1 || failed[0].StatusText != tc.wantStatus || failed[0].Status != tc.wantCode {
				t.Fatalf("the build's delivery = %+v, want one attempt %q (status code %d)", failed, tc.wantStatus, tc.wantCode)
			}

			// 3. promobot starts (on its data directory) with the reconciler
			// on; nobody redelivers anything by hand.
			up()
			res := newResults()
			a, err := app.Start(ctx, app.Config{
				RulesPath: h.RulesPath, Listen: listen, DataDir: filepath.Join(dir, "promobot"),
				GitHubAPIURL: gh.APIURL(), AppID: demo.AppID, PrivateKey: h.PrivateKey, WebhookSecret: h.Secret,
				Workers: 2, Webhook: true, Worker: true, Log: log, Observe: res.observe,
				Queue: queue.Config{AckWait: 30 * time.Second}, GitHubRetry: ghretry.Config{ContentPace: -1},
				// Its run at start finds the failure; no later run is needed.
				RedeliverInterval: time.Hour,
			})
			if err != nil {
				t.Fatalf("restart promobot: %v", err)
			}
			h.App = a

			// 4. The build lands in dev and the staging PR appears.
			dev := res.await(t, ctx, 0, worker.Committed)
			if dev.Intent.DeliveryID != guid {
				t.Errorf("dev commit came from delivery %s, want the redelivered %s", dev.Intent.DeliveryID, guid)
			}
			stg := res.await(t, ctx, 1, worker.Opened)
			pr := findPR(t, h, stg.PR)
			if pr.Head != "promobot/staging/payment-service" || !strings.Contains(pr.Title, "sha-"+sha[:7]) {
				t.Errorf("staging PR %q from %s, want the build's tag on promobot/staging/payment-service", pr.Title, pr.Head)
			}

			// GitHub's log: the failed attempt, then promobot's redelivery
			// of the same event, answered 202.
			if err := gh.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
			all := attempts(gh, guid)
			if len(all) != 2 || !all[1].Redelivery || all[1].StatusText != githubtest.StatusOK || all[1].Status != http.StatusAccepted {
				t.Errorf("attempts of the build's event = %+v, want the failure and one successful redelivery", all)
			}
			asked := 0
			for _, c := range gh.Calls() {
				if c.Route == "POST /app/hook/deliveries/{delivery_id}/attempts" {
					asked++
					if c.Auth != "app-jwt" || c.Status != http.StatusAccepted {
						t.Errorf("redelivery request %s: auth %s, status %d", c.Path, c.Auth, c.Status)
					}
				}
			}
			if asked == 0 {
				t.Error("promobot never asked GitHub to redeliver")
			}
			metrics := scrape(t, ctx, a.Addr())
			for _, m := range []string{"promobot_redeliver_runs_total", "promobot_redeliver_failed_found_total", "promobot_redeliver_requested_total"} {
				if !strings.Contains(metrics, "\n"+m+" ") || strings.Contains(metrics, "\n"+m+" 0\n") {
					t.Errorf("metric %s missing or zero", m)
				}
			}
			for _, err := range githubtest.CheckCalls(gh.Calls()) {
				t.Errorf("undocumented request: %v", err)
			}
		})
	}
}

// attempts are the recorded attempts of one event, oldest first.
func attempts(gh *githubtest.Server, guid string) []githubtest.Delivery {
	var out []githubtest.Delivery
	for _, d := range gh.Deliveries() {
		if d.ID == guid {
			out = append(out, d)
		}
	}
	return out
}

func scrape(t *testing.T, ctx context.Context, addr string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/metrics", addr), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return "\n" + string(b)
}
