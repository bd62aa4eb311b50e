package planner

import "context"

// CheckGates evaluates every promotion gate over in, in the order Decide
// checks them, and never stops at the first closed one. The policy check
// (internal/policy) runs the same gates over the changes of any pull
// request, so a hand-written PR is judged exactly as promobot's own.
func CheckGates(ctx context.Context, in GateInput) ([]GateResult, error) {
	return checkGates(ctx, in)
}
