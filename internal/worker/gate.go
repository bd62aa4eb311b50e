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

// promoted shows a promotion's result to Promoted, when it came to one.
func (w *Worker) promoted(r Result, err error) (Result, error) {
	if w.Promoted != nil && err == nil {
		w.Promoted(r)
	}
	return r, err
}
