package queue

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// TryHold takes the lease on key for the caller's work if nobody holds it,
// and returns ErrLeaseHeld at once if someone does: for periodic work that
// one process of a deployment does at a time, where the others simply skip
// their turn (Hold, for work that must happen, waits instead).
//
// While held, the lease is refreshed every third of its TTL; the returned
// context ends, with cause ErrLeaseLost, when the lease is lost. release
// gives the lease back; call it once.
func (q *Queue) TryHold(ctx context.Context, key string) (held context.Context, release func(), err error) {
	l, err := q.Lease(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	held, cancel := context.WithCancelCause(ctx)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(q.cfg.LeaseTTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-held.Done():
				return
			case <-tick.C:
				err := l.Refresh(held)
				if errors.Is(err, ErrLeaseLost) {
					q.log.Warn().Err(err).Str("lease", key).Msg("lease lost; stopping the work it guarded")
					cancel(err)
					return
				}
				if err != nil && held.Err() == nil {
					q.log.Warn().Err(err).Str("lease", key).Msg("lease refresh failed")
				}
			}
		}
	}()
	return held, func() {
		close(stop)
		<-done
		cancel(nil)
		if err := l.Release(context.WithoutCancel(ctx)); err != nil && !errors.Is(err, ErrLeaseLost) {
			q.log.Warn().Err(fmt.Errorf("release lease %s: %w", key, err)).Msg("release lease")
		}
	}, nil
}
