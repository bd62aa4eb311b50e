package planner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// Gate names, in the order the gates are checked: the proposed tags first,
// then the environment's policy, reading git history last.
const (
	GateTagPattern = "tag pattern"
	GateDowngrade  = "no downgrade"
	GateTicket     = "change ticket"
	GateWindow     = "deployment window"
	GateSoak       = "soak time"
	GateHealth     = "health"
)

// GateInput is everything a gate may read about one decision. Decide builds
// it once, so a gate is a function of this struct alone and is tested by
// filling one in.
type GateInput struct {
	Rules *rules.Rules
	// Service is the first service of the intent: the target environment's
	// settings, windows and ticket pattern are read for it.
	Service *rules.Service
	Env     rules.EnvSettings // the target environment, as set for Service
	Kind    intent.Kind
	Changes []Change // what the plan would write, every service included
	Ticket  string   // "" when none was found
	Views   Views    // Base to locate files, History for the soak gate
	Now     time.Time
}

// Gate is one check a promotion must pass. Check reports the gate closed in
// its result, not as an error; an error means the gate could not be checked.
// A closed gate that opens with time sets RetryAt and names that time in
// Reason, so a Reason shown alone still says when to expect it.
type Gate interface {
	Name() string
	Check(ctx context.Context, in GateInput) (GateResult, error)
}

// allGates are checked in this order; results are shown in it too.
var allGates = []Gate{tagPatternGate{}, downgradeGate{}, ticketGate{}, windowGate{}, soakGate{}, healthGate{}}

// checkGates evaluates every gate; it never stops at the first closed one,
// so the PR body or the reply can list them all.
func checkGates(ctx context.Context, in GateInput) ([]GateResult, error) {
	out := make([]GateResult, 0, len(allGates))
	for _, g := range allGates {
		r, err := g.Check(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("%s gate: %w", g.Name(), err)
		}
		r.Gate = g.Name()
		r.Policy = raisedBy(r.Gate, in.Env.Policy)
		out = append(out, r)
	}
	return out, nil
}

// GateSummary renders gate results as a markdown list, one line each: ✅
// open, ⏳ closed until a known time, ⛔ closed. Every place that shows gate
// results to people uses it, so they all read the same.
func GateSummary(gs []GateResult) string {
	var b strings.Builder
	for _, g := range gs {
		mark := "✅"
		switch {
		case g.Open:
		case !g.RetryAt.IsZero():
			mark = "⏳"
		default:
			mark = "⛔"
		}
		fmt.Fprintf(&b, "- %s %s: %s%s\n", mark, g.Gate, oneLine(g.Reason), policyNote(g.Policy))
	}
	return b.String()
}

// oneLine keeps a reason inside its list item and out of HTML: reasons
// quote tags and tickets people typed.
var oneLine = strings.NewReplacer("\r", " ", "\n", " ", "<", "&lt;").Replace
