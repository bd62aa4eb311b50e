package planner

import (
	"testing"
	"time"
)

func TestWindowGate(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, env string
		now       time.Time
		want      gateWant
	}{
		{name: "no windows", env: "staging", now: time.Date(2026, 11, 28, 3, 0, 0, 0, berlin),
			want: gateWant{open: true, reason: "no windows configured"}},
		{name: "wednesday morning", env: "prod", now: time.Date(2026, 11, 25, 10, 0, 0, 0, berlin),
			want: gateWant{open: true, reason: "inside the allowed windows"}},
		{name: "saturday opens monday 09:00", env: "prod", now: time.Date(2026, 11, 28, 12, 0, 0, 0, berlin),
			want: gateWant{reason: "outside every allow window; opens 2026-11-30T08:00:00Z", retryAt: time.Date(2026, 11, 30, 9, 0, 0, 0, berlin)}},
		{name: "evening opens next morning", env: "prod", now: time.Date(2026, 11, 25, 18, 30, 0, 0, berlin),
			want: gateWant{reason: "outside every allow window", retryAt: time.Date(2026, 11, 26, 9, 0, 0, 0, berlin)}},
		{name: "freeze opens in the first allow window after it", env: "prod", now: time.Date(2026, 12, 24, 10, 0, 0, 0, berlin),
			want: gateWant{reason: `inside the deny window "0 0 24 12 *" (Europe/Berlin) until 2026-12-26T23:00:00Z`, retryAt: time.Date(2026, 12, 28, 9, 0, 0, 0, berlin)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := gateInput(t, gatedRules, "payment-service", tc.env)
			in.Now = tc.now
			checkGate(t, windowGate{}, in, tc.want)
		})
	}
}
