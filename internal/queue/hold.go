package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promobot/promobot/internal/fate"
)

// Hold takes the lease on key for the caller's work, waiting while another
// holder has it: a crashed holder's lease expires after the lease TTL (or
// is deleted at once when its process restarts on its Instance), and
// waiting here (the consumer heartbeats the message meanwhile) spends no
// delivery attempt. Waiting gives up after one and a half TTLs with an
// error marked to retry shortly, so a live but slow holder does not pin a
// worker for good.
//
// While held, the lease is refreshed every third of its TTL. The returned
// context ends, with cause ErrLeaseLost, when the lease is lost (NATS
// unreachable past the TTL): another worker may hold the target by then,
// so the work must stop. release gives the lease back; call it once.
func (q *Queue) Hold(ctx context.Context, key string) (held context.Context, release func(), err error) {
	ttl := q.cfg.LeaseTTL
	deadline := time.Now().Add(ttl + ttl/2)
	delay := 50 * time.Millisecond
	var l *Lease
	for {
		l, err = q.Lease(ctx, key)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrLeaseHeld) {
			return nil, nil, fmt.Errorf("lease %s: %w", key, err)
		}
		if time.Now().After(deadline) {
			return nil, nil, fate.MarkRetryAt(fmt.Errorf("lease %s: %w", key, err), time.Now().Add(2*time.Second))
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, nil, fmt.Errorf("lease %s: %w", key, ctx.Err())
		}
		delay = min(delay*2, time.Second)
	}
	held, cancel := context.WithCancelCause(ctx)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(ttl / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				err := l.Refresh(ctx)
				if errors.Is(err, ErrLeaseLost) {
					q.log.Warn().Err(err).Str("lease", key).Msg("lease lost; stopping the work it guarded")
					cancel(err)
					return
				}
				if err != nil {
					q.log.Warn().Err(err).Str("lease", key).Msg("lease refresh failed")
				}
			}
		}
	}()
	return held, func() {
		close(stop)
		<-done
		cancel(nil)
		if err := l.Release(context.WithoutCancel(ctx)); err != nil {
			q.log.Warn().Err(err).Str("lease", key).Msg("release lease")
		}
	}, nil
}
