package checkout

import (
	"context"
	"time"
)

// EverSeen answers whether a file of the base branch ever held, at any
// commit of its history (policy.Ran: has a tag run in an environment).
func (h history) EverSeen(ctx context.Context, path string, holds func([]byte) bool) (time.Time, bool, error) {
	return h.m.EverSeen(ctx, h.repo, h.branch, path, holds)
}
