package app

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/ui"
)

// TestPruneHealthDropsChecksNoRulesName: a generator repository's
// per-run CI contexts are recorded (the webhook cannot tell them from
// health checks) and deleted once no rules name them and the grace has
// passed; a named check is kept however old, and so is everything of a
// repository the page has not read.
func TestPruneHealthDropsChecksNoRulesName(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv := stateBuckets(t, ctx)()
	rs, err := rules.Parse("r.yaml", []byte(`version: 1
environments:
  - {name: dev, direct: true}
  - {name: prod, health: {checks: ['argocd/{{.Service}}-{{.Env}}']}}
services:
  - {name: web, repo: acme/gitops, image: r.example.com/web, targets: {dev: {kustomize: apps/web/dev}, prod: {kustomize: apps/web/prod}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	board := newLiveBoard(kv, zerolog.Nop())
	for _, r := range []healthRecord{
		{Repo: "acme/gitops", Check: "argocd/web-prod", State: "success", At: now.AddDate(0, -3, 0)}, // named: kept
		{Repo: "acme/gitops", Check: "ci/run-1234", State: "success", At: now.Add(-2 * time.Hour)},   // unnamed, old: deleted
		{Repo: "acme/gitops", Check: "argocd/api-prod", State: "pending", At: now.Add(-time.Minute)}, // unnamed, recent: kept
		{Repo: "acme/unread", Check: "ci/run-1", State: "success", At: now.AddDate(-1, 0, 0)},        // repository not read: kept
	} {
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		key := healthKey(r.Repo, r.Check)
		if _, err := kv.Put(ctx, key, data); err != nil {
			t.Fatal(err)
		}
		board.apply(key, jetstream.KeyValuePut, data)
	}
	src := &uiSource{rules: func() *rules.Rules { return rs }, live: board, now: func() time.Time { return now }, log: zerolog.Nop(),
		built: map[string]builtRepo{"acme/gitops": {rules: rs, rp: ui.Repository{Repo: "acme/gitops"}}}}
	src.pruneHealth(ctx)
	for check, kept := range map[string]bool{"argocd/web-prod": true, "ci/run-1234": false, "argocd/api-prod": true} {
		_, err := kv.Get(ctx, healthKey("acme/gitops", check))
		if gone := errors.Is(err, jetstream.ErrKeyNotFound); gone == kept {
			t.Errorf("%s: kept %v, want %v (%v)", check, !gone, kept, err)
		}
	}
	if _, err := kv.Get(ctx, healthKey("acme/unread", "ci/run-1")); err != nil {
		t.Errorf("a record of a repository the page has not read was touched: %v", err)
	}
}
