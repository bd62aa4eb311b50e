package app

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/ui"
)

const healthPageRules = `version: 1
environments:
  - {name: dev, direct: true}
  - name: prod
    health: { checks: ['argocd/{{.Service}}-{{.Env}}', 'smoke/{{.Service}}'] }
services:
  - {name: web, repo: acme/gitops, image: r.example.com/web, targets: {dev: {kustomize: apps/web/dev}, prod: {kustomize: apps/web/prod}}}
`

// TestCellHealth: a cell's health is the worst of its checks' latest
// reports, a report from before the tag arrived counting as not reported
// yet; environments without health checks show none.
func TestCellHealth(t *testing.T) {
	rs, err := rules.Parse("r.yaml", []byte(healthPageRules))
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	h := &history.History{Head: "h1", Current: []history.Current{
		{Service: "web", Env: "dev", Tag: "v2", Since: since, Commit: "c2"},
		{Service: "web", Env: "prod", Tag: "v2", Since: since, Commit: "c3"},
	}}
	argo, smoke := "argocd/web-prod", "smoke/web"
	after, before := since.Add(time.Minute), since.Add(-time.Minute)
	type report struct {
		state string
		at    time.Time
	}
	tests := []struct {
		name    string
		reports map[string]report
		health  string
		states  string // each check's state, in the rules' order
	}{
		{"never reported", nil, "unknown", "unknown unknown"},
		{"both succeeded for what runs now", map[string]report{argo: {"success", after}, smoke: {"success", since}}, "healthy", "healthy healthy"},
		{"one reported before the tag arrived", map[string]report{argo: {"success", after}, smoke: {"success", before}}, "progressing", "healthy progressing"},
		{"an old failure is about an earlier version", map[string]report{argo: {"failure", before}, smoke: {"success", after}}, "progressing", "progressing healthy"},
		{"one pending", map[string]report{argo: {"pending", after}, smoke: {"success", after}}, "progressing", "progressing healthy"},
		{"one failed, one pending: the worst wins", map[string]report{argo: {"pending", after}, smoke: {"failure", after}}, "unhealthy", "progressing unhealthy"},
		{"an error is unhealthy", map[string]report{argo: {"error", after}, smoke: {"success", after}}, "unhealthy", "unhealthy healthy"},
		{"one succeeded, one never reported", map[string]report{argo: {"success", after}}, "unknown", "healthy unknown"},
		{"pending beats never reported", map[string]report{smoke: {"pending", after}}, "progressing", "unknown progressing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live := newLiveBoard(nil, zerolog.Nop())
			for name, r := range tt.reports {
				live.applyHealth(healthKey("Acme/GitOps", name), jetstream.KeyValuePut,
					[]byte(fmt.Sprintf(`{"repo":"Acme/GitOps","check":%q,"state":%q,"url":"https://argocd.example.com/%s","sha":"%s","at":%q}`,
						name, r.state, name, strings.Repeat("a", 40), r.at.Format(time.RFC3339))))
			}
			src := &uiSource{rules: func() *rules.Rules { return rs }, live: live, now: func() time.Time { return since.Add(time.Hour) },
				log: zerolog.Nop(), walk: func(context.Context, *rules.Rules, string) (*history.History, error) { return h, nil }}
			st, err := src.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			cells := st.Repositories[0].Services[0].Cells
			dev, prod := cells[0], cells[1]
			if dev.Health != "" || dev.HealthChecks != nil {
				t.Errorf("dev has no health checks but shows %q %+v", dev.Health, dev.HealthChecks)
			}
			var states []string
			for _, c := range prod.HealthChecks {
				states = append(states, c.State)
				if r, ok := tt.reports[c.Name]; ok && (c.Reported != r.state || !c.At.Equal(r.at) || c.URL != "https://argocd.example.com/"+c.Name) {
					t.Errorf("check %+v, want the report %+v with its link", c, r)
				}
			}
			if prod.Health != tt.health || strings.Join(states, " ") != tt.states || prod.HealthChecks[0].Name != argo {
				t.Errorf("prod health %q %+v, want %q with %s", prod.Health, prod.HealthChecks, tt.health, tt.states)
			}
		})
	}
}

// TestHealthStoreKeepsTheLatestReport: over a real state bucket, a report
// older than the one kept is dropped (a late redelivery), concurrent
// writers keep the latest, and another process's page sees it.
func TestHealthStoreKeepsTheLatestReport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv := stateBuckets(t, ctx)
	store := healthStore{kv()}
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	sha := strings.Repeat("c", 40)
	name := "continuous-delivery/web-prod"
	record := func(state string, at time.Time) bool {
		t.Helper()
		kept, err := store.Record(ctx, "Acme/GitOps", sha, intent.Check{Name: name, State: state, URL: "https://argocd.example.com/web", At: at})
		if err != nil {
			t.Fatal(err)
		}
		return kept
	}
	steps := []struct {
		state string
		at    time.Time
		kept  bool
	}{
		{"pending", t0, true},
		{"success", t0.Add(time.Minute), true},
		{"pending", t0, false},                 // redelivered late
		{"success", t0.Add(time.Minute), true}, // the same report again
		{"failure", t0.Add(time.Minute), true}, // the same second: the later arrival wins
		{"success", t0.Add(30 * time.Second), false},
	}
	for i, s := range steps {
		if got := record(s.state, s.at); got != s.kept {
			t.Errorf("step %d (%s at %s): kept %v, want %v", i, s.state, s.at.Format(time.TimeOnly), got, s.kept)
		}
	}

	// Writers racing on the same check keep the latest report.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := store.Record(ctx, "acme/gitops", sha, intent.Check{Name: name, State: "success", At: t0.Add(time.Duration(2+i) * time.Minute)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()

	reader := newLiveBoard(kv(), zerolog.Nop())
	applied := make(chan struct{}, 64)
	reader.applied = func() { applied <- struct{}{} }
	go reader.watch(ctx)
	rs, err := rules.Parse("r.yaml", []byte(`version: 1
environments:
  - name: prod
    health: { checks: ['continuous-delivery/{{.Service}}-{{.Env}}'] }
services:
  - {name: web, repo: acme/gitops, image: r.example.com/web, targets: {prod: {kustomize: apps/web/prod}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for {
		health, checks := reader.cellHealth(rs, "acme/gitops", "web", ui.Cell{Env: "prod", Since: t0})
		if health == "healthy" && len(checks) == 1 && checks[0].At.Equal(t0.Add(9*time.Minute)) {
			break
		}
		select {
		case <-applied:
		case <-ctx.Done():
			t.Fatalf("the page never showed the latest report: %q %+v", health, checks)
		}
	}
}
