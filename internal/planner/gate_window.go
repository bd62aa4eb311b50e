package planner

import (
	"context"
	"fmt"
	"time"

	"github.com/promobot/promobot/internal/rules"
)

// windowGate is open when now is inside an allow window (if any are
// configured) and outside every deny window. When closed, RetryAt is the
// next moment it opens.
type windowGate struct{}

func (windowGate) Name() string { return GateWindow }

func (windowGate) Check(_ context.Context, in GateInput) (GateResult, error) {
	return windowResult(in.Rules.Windows(in.Service.Name, in.Env.Name), in.Now), nil
}

func windowResult(ws []rules.WindowSchedule, now time.Time) GateResult {
	if len(ws) == 0 {
		return GateResult{Open: true, Reason: "no windows configured"}
	}
	open, why := windowOpen(ws, now)
	if open {
		return GateResult{Open: true, Reason: "inside the allowed windows"}
	}
	// Walk forward: out of each deny window, into the next allow window,
	// until a moment satisfies both (bounded: cron horizons are finite).
	t := now
	for i := 0; i < 100; i++ {
		next := time.Time{}
		for _, w := range ws {
			if !w.Allow && w.Open(t) {
				if e := w.End(t); e.After(next) {
					next = e
				}
			}
		}
		if next.IsZero() {
			for _, w := range ws {
				if w.Allow {
					if n := w.NextOpen(t); !n.IsZero() && (next.IsZero() || n.Before(next)) {
						next = n
					}
				}
			}
		}
		if next.IsZero() {
			return GateResult{Reason: why + "; no window opens again"}
		}
		t = next
		if ok, _ := windowOpen(ws, t); ok {
			return GateResult{Reason: fmt.Sprintf("%s; opens %s", why, t.UTC().Format(time.RFC3339)), RetryAt: t}
		}
	}
	return GateResult{Reason: why + "; no opening found"}
}

func windowOpen(ws []rules.WindowSchedule, t time.Time) (bool, string) {
	allowed, anyAllow := false, false
	for _, w := range ws {
		if !w.Allow && w.Open(t) {
			return false, fmt.Sprintf("inside the deny window %q (%s) until %s", w.Spec, w.Location, w.End(t).UTC().Format(time.RFC3339))
		}
		if w.Allow {
			anyAllow = true
			allowed = allowed || w.Open(t)
		}
	}
	if anyAllow && !allowed {
		return false, "outside every allow window"
	}
	return true, ""
}
