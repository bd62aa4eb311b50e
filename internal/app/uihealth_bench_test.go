package app

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/ui"
)

// BenchmarkStatusPageHealth is BenchmarkStatusPageYear's matrix with
// health checks on staging and prod (two per cell) and a report for every
// check in the live board: the cost health adds to each request.
func BenchmarkStatusPageHealth(b *testing.B) {
	_, h := yearHistory(b, 200)
	envs := []string{"dev", "staging", "preprod", "prod"}
	var y strings.Builder
	y.WriteString("version: 1\nenvironments:\n")
	for i, e := range envs {
		fmt.Fprintf(&y, "  - name: %s\n    direct: %v\n", e, i == 0)
		if e == "staging" || e == "prod" {
			y.WriteString("    health: { checks: ['argocd/{{.Service}}-{{.Env}}', 'smoke/{{.Service}}-{{.Env}}'] }\n")
		}
	}
	y.WriteString("services:\n")
	for s := range 200 {
		fmt.Fprintf(&y, "  - name: svc-%03d\n    repo: acme/gitops\n    image: registry.example.com/svc-%03d\n    targets:\n", s, s)
		for _, e := range envs {
			fmt.Fprintf(&y, "      %s: { kustomize: apps/svc-%03d/%s }\n", e, s, e)
		}
	}
	rs, err := rules.Parse("bench.yaml", []byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	live := newLiveBoard(nil, zerolog.Nop())
	at := time.Date(2026, 11, 20, 13, 0, 0, 0, time.UTC).Format(time.RFC3339)
	for s := range 200 {
		for _, e := range []string{"staging", "prod"} {
			for _, c := range []string{"argocd", "smoke"} {
				name := fmt.Sprintf("%s/svc-%03d-%s", c, s, e)
				live.applyHealth(healthKey("acme/gitops", name), jetstream.KeyValuePut,
					[]byte(fmt.Sprintf(`{"repo":"acme/gitops","check":%q,"state":"success","url":"https://argocd.example.com/x","sha":"%040x","at":%q}`, name, s, at)))
			}
		}
	}
	src := &uiSource{rules: func() *rules.Rules { return rs }, live: live, webURL: "https://github.com", now: time.Now, log: zerolog.Nop(),
		walk: func(context.Context, *rules.Rules, string) (*history.History, error) { return h, nil }}
	handler, err := ui.New(ui.Config{Source: src, NoAuth: true, Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	for _, path := range []string{"/", "/api/v1/status"} {
		b.Run(strings.Trim(path, "/")+"-200x4", func(b *testing.B) {
			b.ReportAllocs()
			start := cpuUsed(b)
			for b.Loop() {
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				if rec.Code != 200 || !strings.Contains(rec.Body.String(), "healthy") {
					b.Fatalf("code %d, or no health shown", rec.Code)
				}
			}
			b.ReportMetric(float64(cpuUsed(b)-start)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}
