package worker

import "github.com/promobot/promobot/internal/planner"

// closedGate names the first closed gate ("" when none is).
func closedGate(gates []planner.GateResult) string {
	for _, g := range gates {
		if !g.Open {
			return g.Gate
		}
	}
	return ""
}
