package demo

import (
	"context"
	"fmt"

	"github.com/promobot/promobot/internal/worker"
)

func (h *Harness) observePolicy(r worker.Result) {
	h.mu.Lock()
	h.policy = append(h.policy, r)
	h.mu.Unlock()
	select {
	case h.policyNotify <- struct{}{}:
	default:
	}
}

// PolicyResults returns every policy check result so far, in order.
func (h *Harness) PolicyResults() []worker.Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]worker.Result(nil), h.policy...)
}

// AwaitPolicy waits until the n-th policy check result (counting from 0)
// exists and returns it. Policy results are counted apart from Await's.
func (h *Harness) AwaitPolicy(ctx context.Context, n int) (worker.Result, error) {
	for {
		h.mu.Lock()
		if len(h.policy) > n {
			r := h.policy[n]
			h.mu.Unlock()
			return r, nil
		}
		h.mu.Unlock()
		select {
		case <-h.policyNotify:
		case <-ctx.Done():
			return worker.Result{}, fmt.Errorf("waiting for policy result #%d (have %d): %w", n+1, len(h.PolicyResults()), ctx.Err())
		}
	}
}
