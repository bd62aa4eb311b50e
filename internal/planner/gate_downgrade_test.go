package planner

import (
	"testing"

	"github.com/promobot/promobot/internal/intent"
)

func TestDowngradeGate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kind   intent.Kind
		change Change
		want   gateWant
	}{
		{name: "newer version", change: tagChange("payment-service", "prod", "v1.2.0", "v1.3.0"),
			want: gateWant{open: true, reason: "no tag moves backwards"}},
		{name: "older version", change: tagChange("payment-service", "prod", "v1.2.0", "v1.1.0"),
			want: gateWant{reason: "payment-service v1.1.0 is older than v1.2.0 running in prod (use /rollback)"}},
		{name: "prerelease of the running version", change: tagChange("payment-service", "prod", "v1.2.0", "v1.2.0-rc.1"),
			want: gateWant{reason: "is older than v1.2.0"}},
		{name: "rollback may go back", kind: intent.KindRollback, change: tagChange("payment-service", "prod", "v1.2.0", "v1.1.0"),
			want: gateWant{open: true, reason: "rollback: downgrades allowed"}},
		{name: "commit tags have no order", change: tagChange("payment-service", "staging", "sha-2222222", "sha-1111111"),
			want: gateWant{open: true, reason: "no tag moves backwards"}},
		{name: "nothing running yet", change: tagChange("payment-service", "prod", "", "v0.1.0"),
			want: gateWant{open: true, reason: "no tag moves backwards"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := gateInput(t, testRules, "payment-service", "prod")
			if tc.kind != "" {
				in.Kind = tc.kind
			}
			in.Changes = []Change{tc.change}
			checkGate(t, downgradeGate{}, in, tc.want)
		})
	}
}
