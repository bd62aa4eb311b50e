package planner

import (
	"testing"
	"time"

	"github.com/promobot/promobot/internal/intent"
)

func TestSoakGate(t *testing.T) {
	view := repo("sha-2222222", "v1.3.0", "v1.2.0", "v1.2.0")
	stagingFile := "apps/payment-service/overlays/staging/kustomization.yaml"
	wed10 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	since := func(d time.Duration) History {
		return fakeHistory{since: map[string]time.Time{stagingFile: wed10.Add(-d)}, view: view}
	}
	for _, tc := range []struct {
		name, env, tag string
		kind           intent.Kind
		history        History
		want           gateWant
	}{
		{name: "environment without soak", env: "staging", history: since(0),
			want: gateWant{open: true, reason: "no soak time required"}},
		{name: "rollback does not wait", env: "prod", kind: intent.KindRollback, history: since(0),
			want: gateWant{open: true, reason: "rollback: no soak time"}},
		{name: "no history", env: "prod",
			want: gateWant{open: true, reason: "not checked: no git history available"}},
		{name: "soaked", env: "prod", history: since(3 * time.Hour),
			want: gateWant{open: true, reason: "ran at least 2h0m0s in the previous environment"}},
		{name: "still soaking", env: "prod", history: since(30 * time.Minute),
			want: gateWant{reason: "payment-service v1.3.0 has run in staging since 2026-11-25T09:30:00Z; 2h0m0s soak ends 2026-11-25T11:30:00Z",
				retryAt: wed10.Add(90 * time.Minute)}},
		{name: "never ran in the previous environment", env: "prod", tag: "v1.4.0", history: since(3 * time.Hour),
			want: gateWant{reason: "payment-service v1.4.0 is not running in staging"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := gateInput(t, gatedRules, "payment-service", tc.env)
			if tc.kind != "" {
				in.Kind = tc.kind
			}
			if tc.tag == "" {
				tc.tag = "v1.3.0"
			}
			in.Changes = []Change{tagChange("payment-service", tc.env, "v1.2.0", tc.tag)}
			in.Views = Views{Base: view, History: tc.history}
			in.Now = wed10
			checkGate(t, soakGate{}, in, tc.want)
		})
	}
}
