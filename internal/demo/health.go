package demo

import "github.com/promobot/promobot/internal/worker"

// observeHealth keeps the results of health reports apart: every status of
// a health check makes one, and the promotion results keep their
// numbering.
func (h *Harness) observeHealth(r worker.Result) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.health = append(h.health, r)
}

// HealthResults returns every health report's result so far, in order.
func (h *Harness) HealthResults() []worker.Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]worker.Result(nil), h.health...)
}
