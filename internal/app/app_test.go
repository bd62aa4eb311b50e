package app

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

const rulesYAML = `version: 1
environments: [{name: dev, auto: true}, {name: prod}]
services:
  - {name: web, repo: acme/gitops, image: r.example.com/web,
     targets: {dev: {kustomize: apps/web/dev}, prod: {kustomize: apps/web/prod}}}
`

func config(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(path, []byte(rulesYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	return Config{
		RulesPath: path, Listen: "127.0.0.1:0", DataDir: dir, Token: "t", WebhookSecret: []byte("s3cret"),
		Workers: 1, Log: zerolog.New(zerolog.NewTestWriter(t)),
	}
}

func TestStartRefusesWithoutWebhookSecret(t *testing.T) {
	cfg := config(t)
	cfg.WebhookSecret = nil
	a, err := Start(context.Background(), cfg)
	if err == nil {
		_ = a.Shutdown(context.Background())
		t.Fatal("promobot started without a webhook secret")
	}
	if !strings.Contains(err.Error(), "secret") {
		t.Errorf("error does not say why: %v", err)
	}
}

func TestStartRefusesInvalidRules(t *testing.T) {
	cfg := config(t)
	if err := os.WriteFile(cfg.RulesPath, []byte("version: 1\nenvironments: []\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("want a rules error naming the unknown field, got %v", err)
	}
}

func TestHealthReadyAndShutdown(t *testing.T) {
	a, err := Start(context.Background(), config(t))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.Addr()
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s = %d", p, resp.StatusCode)
		}
	}
	// An unsigned delivery is refused on the real wiring too.
	resp, err := http.Post(base+"/webhook", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned webhook = %d, want 401", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still serving after shutdown")
	}
}

func TestReadyzReportsNATSDown(t *testing.T) {
	a, err := Start(context.Background(), config(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Shutdown(context.Background()) }()
	a.embedded.Shutdown()
	resp, err := http.Get("http://" + a.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || body["status"] != "unavailable" {
		t.Errorf("readyz with NATS down = %d %v", resp.StatusCode, body)
	}
}

// A worker keeps its queue instance under DataDir: a restart on the same
// directory knows its predecessor (and would take back its leases and
// intents had it crashed), and a second live process on the directory runs
// without one instead of taking over a live process's work.
func TestWorkerInstanceUnderDataDir(t *testing.T) {
	cfg := config(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a1, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a1.instance == nil {
		t.Fatal("worker started without an instance directory")
	}
	boot1 := a1.instance.Boot()
	if rec := a1.q.Recovery(); len(rec.Gone)+len(rec.Alive)+len(rec.Unknown) != 0 {
		t.Errorf("first start recovered %+v", rec)
	}
	if err := a1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	a2, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a2.Shutdown(ctx) }()
	if rec := a2.q.Recovery(); len(rec.Gone) != 1 || rec.Gone[0] != boot1 || rec.Leases != 0 || rec.Deliveries != 0 {
		t.Errorf("restart recovered %+v, want boot %s gone with nothing held", rec, boot1)
	}

	// The same directory while a2 lives: a worker on a2's NATS runs, without an instance.
	cfg3 := cfg
	cfg3.NATSURL, cfg3.Webhook, cfg3.Worker = a2.NATSURL(), false, true
	a3, err := Start(ctx, cfg3)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a3.Shutdown(ctx) }()
	if a3.instance != nil {
		t.Error("a second live worker took the directory's instance")
	}
	if rec := a3.q.Recovery(); len(rec.Gone) != 0 {
		t.Errorf("second worker recovered %+v from a live process", rec)
	}
}
