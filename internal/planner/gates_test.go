package planner

import (
	"context"
	"errors"
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

// gateInput is a GateInput for service svc moving to env under the rules in
// yaml, promoted now, with nothing changed yet.
func gateInput(t *testing.T, yaml, svc, env string) GateInput {
	t.Helper()
	rs, err := rules.Parse("rules.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	s, ok := rs.Service(svc)
	if !ok {
		t.Fatalf("no service %s", svc)
	}
	e, ok := rs.Env(svc, env)
	if !ok {
		t.Fatalf("no environment %s for %s", env, svc)
	}
	return GateInput{Rules: rs, Service: s, Env: e, Kind: intent.KindPromote, Now: now}
}

func tagChange(svc, env, old, new string) Change {
	return Change{Service: svc, Env: env, Old: refOf(old), New: refOf(new)}
}

// gateWant is what a gate's table test expects: reason is a substring;
// retryAt zero means the gate does not open with time.
type gateWant struct {
	open    bool
	reason  string
	retryAt time.Time
}

func checkGate(t *testing.T, g Gate, in GateInput, want gateWant) {
	t.Helper()
	got, err := g.Check(context.Background(), in)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if got.Open != want.open || !strings.Contains(got.Reason, want.reason) || !got.RetryAt.Equal(want.retryAt) {
		t.Errorf("got open=%v reason=%q retryAt=%v, want open=%v reason ~%q retryAt=%v",
			got.Open, got.Reason, got.RetryAt, want.open, want.reason, want.retryAt)
	}
	if !got.RetryAt.IsZero() && !strings.Contains(got.Reason, got.RetryAt.UTC().Format(time.RFC3339)) {
		t.Errorf("reason %q does not say when the gate opens (%v)", got.Reason, got.RetryAt)
	}
}

func TestCheckGates(t *testing.T) {
	in := gateInput(t, testRules, "payment-service", "prod")
	in.Views = Views{Base: repo("sha-2222222", "sha-1111111", "v1.2.0", "v1.2.0")}
	for _, tc := range []struct {
		name   string
		change Change
		ticket string
		closed []string
	}{
		{name: "all open", change: tagChange("payment-service", "prod", "v1.2.0", "v1.3.0"), ticket: "PAY-7"},
		{name: "every closed gate is reported, not only the first", change: tagChange("payment-service", "prod", "v1.2.0", "latest"),
			closed: []string{GateTagPattern, GateTicket}},
		{name: "downgrade and ticket", change: tagChange("payment-service", "prod", "v1.2.0", "v1.1.0"), ticket: "nope",
			closed: []string{GateDowngrade, GateTicket}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := in
			in.Changes, in.Ticket = []Change{tc.change}, tc.ticket
			gs, err := checkGates(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			var names, closed []string
			for _, g := range gs {
				names = append(names, g.Gate)
				if !g.Open {
					closed = append(closed, g.Gate)
				}
			}
			order := []string{GateTagPattern, GateDowngrade, GateTicket, GateWindow, GateSoak, GateHealth}
			if strings.Join(names, ",") != strings.Join(order, ",") {
				t.Errorf("gates %v, want %v", names, order)
			}
			if strings.Join(closed, ",") != strings.Join(tc.closed, ",") {
				t.Errorf("closed %v, want %v", closed, tc.closed)
			}
		})
	}
}

func TestCheckGatesError(t *testing.T) {
	in := gateInput(t, gatedRules, "payment-service", "prod")
	boom := errors.New("boom")
	in.Views = Views{Base: repo("a", "v1.3.0", "v1.2.0", "v1.2.0"), History: errHistory{boom}}
	in.Changes = []Change{tagChange("payment-service", "prod", "v1.2.0", "v1.3.0")}
	in.Now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	gs, err := checkGates(context.Background(), in)
	if !errors.Is(err, boom) || gs != nil {
		t.Fatalf("got %v, %v; want the history error", gs, err)
	}
	if !strings.HasPrefix(err.Error(), GateSoak+" gate: ") {
		t.Errorf("error %q does not name the gate", err)
	}
}

type errHistory struct{ err error }

func (h errHistory) FirstSeen(context.Context, string, func([]byte) bool) (time.Time, bool, error) {
	return time.Time{}, false, h.err
}

func TestGateSummary(t *testing.T) {
	at := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		gs   []GateResult
		want string
	}{
		{name: "none", want: ""},
		{name: "open and closed", gs: []GateResult{
			{Gate: GateTagPattern, Open: true, Reason: "every tag matches"},
			{Gate: GateTicket, Reason: "prod requires a change ticket"},
		}, want: "- ✅ tag pattern: every tag matches\n- ⛔ change ticket: prod requires a change ticket\n"},
		{name: "closed until a time", gs: []GateResult{{Gate: GateWindow, Reason: "outside every allow window; opens 2026-11-30T08:00:00Z", RetryAt: at}},
			want: "- ⏳ deployment window: outside every allow window; opens 2026-11-30T08:00:00Z\n"},
		{name: "typed text stays in its item and out of HTML", gs: []GateResult{{Gate: GateTicket, Reason: "ticket \"<!-- x\nY-1\" does not match"}},
			want: "- ⛔ change ticket: ticket \"&lt;!-- x Y-1\" does not match\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := GateSummary(tc.gs); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
