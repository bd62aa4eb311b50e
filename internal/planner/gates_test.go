package planner

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

const gatedRules = `version: 1
environments:
  - name: dev
    auto: true
  - name: staging
    auto: true
  - name: prod
    soak: 2h
    windows:
      - allow: '0 9 * * 1-5'
        duration: 8h
        timezone: Europe/Berlin
      - deny: '0 0 24 12 *'
        duration: 72h
        timezone: Europe/Berlin
services:
  - name: payment-service
    repo: acme/gitops
    image: registry.example.com/payment-service
    targets:
      dev:     { kustomize: apps/payment-service/overlays/dev }
      staging: { kustomize: apps/payment-service/overlays/staging }
      prod:    { kustomize: apps/payment-service/overlays/prod-eu }
`

// fakeHistory says the tag has held in a file since a fixed time.
type fakeHistory struct {
	since map[string]time.Time // path → since
	view  mapView
}

func (h fakeHistory) FirstSeen(ctx context.Context, path string, holds func([]byte) bool) (time.Time, bool, error) {
	b, err := h.view.ReadFile(ctx, path)
	if err != nil || !holds(b) {
		return time.Time{}, false, nil
	}
	return h.since[path], true, nil
}

func TestTimeGates(t *testing.T) {
	rs, err := rules.Parse("rules.yaml", []byte(gatedRules))
	if err != nil {
		t.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	view := repo("sha-2222222", "v1.3.0", "v1.2.0", "v1.2.0")
	stagingFile := "apps/payment-service/overlays/staging/kustomization.yaml"
	in := intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"payment-service"}, From: "staging", To: "prod"}
	wed10 := time.Date(2026, 11, 25, 10, 0, 0, 0, berlin) // Wednesday, inside 09:00-17:00
	for _, tc := range []struct {
		name        string
		now         time.Time
		soakedSince time.Time
		kind        intent.Kind
		tag         string
		wantOpen    bool
		wantReason  string
		wantRetryAt time.Time // zero: a refusal without retry
	}{
		{name: "inside the window and soaked", now: wed10, soakedSince: wed10.Add(-3 * time.Hour), wantOpen: true},
		{name: "saturday: retry monday 09:00 Berlin", now: time.Date(2026, 11, 28, 12, 0, 0, 0, berlin), soakedSince: wed10.Add(-72 * time.Hour),
			wantReason: "outside every allow window", wantRetryAt: time.Date(2026, 11, 30, 9, 0, 0, 0, berlin)},
		{name: "evening: retry next morning", now: time.Date(2026, 11, 25, 18, 30, 0, 0, berlin), soakedSince: wed10.Add(-72 * time.Hour),
			wantReason: "outside every allow window", wantRetryAt: time.Date(2026, 11, 26, 9, 0, 0, 0, berlin)},
		{name: "christmas freeze: retry after the freeze, in the next allow window", now: time.Date(2026, 12, 24, 10, 0, 0, 0, berlin), soakedSince: wed10,
			wantReason: "deny window", wantRetryAt: time.Date(2026, 12, 28, 9, 0, 0, 0, berlin)},
		{name: "not soaked long enough: retry when the soak ends", now: wed10, soakedSince: wed10.Add(-30 * time.Minute),
			wantReason: "soak ends", wantRetryAt: wed10.Add(90 * time.Minute)},
		{name: "tag never ran in staging: refused, no retry", now: wed10, tag: "v1.4.0", soakedSince: wed10.Add(-3 * time.Hour),
			wantReason: "is not running in staging"},
		{name: "rollback skips soak", now: wed10, kind: intent.KindRollback, tag: "v1.1.0", soakedSince: wed10, wantOpen: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := in
			if tc.kind != "" {
				in.Kind = tc.kind
			}
			in.Tag = tc.tag
			h := fakeHistory{since: map[string]time.Time{stagingFile: tc.soakedSince}, view: view}
			dec, err := Decide(context.Background(), rs, in, Views{Base: view, History: h}, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantOpen {
				if dec.Plan == nil {
					t.Fatalf("want a plan, got refusal %+v", dec.Refusal)
				}
				return
			}
			if dec.Refusal == nil {
				t.Fatalf("want a refusal, got plan=%v skip=%q", dec.Plan != nil, dec.Skip)
			}
			var reasons []string
			for _, g := range dec.Refusal.Gates {
				reasons = append(reasons, g.Reason)
			}
			if !strings.Contains(strings.Join(reasons, "\n"), tc.wantReason) {
				t.Errorf("gates %v do not mention %q", reasons, tc.wantReason)
			}
			if !dec.Refusal.RetryAt.Equal(tc.wantRetryAt) {
				t.Errorf("RetryAt = %v, want %v", dec.Refusal.RetryAt, tc.wantRetryAt)
			}
		})
	}
}
