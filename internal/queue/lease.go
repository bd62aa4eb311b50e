package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

var (
	// ErrLeaseHeld means another holder has the lease.
	ErrLeaseHeld = errors.New("queue: lease held by another worker")
	// ErrLeaseLost means the lease expired or was taken over since it was
	// last written by this holder.
	ErrLeaseLost = errors.New("queue: lease lost")
)

// Lease is a per-key lock in the "promobot-leases" bucket. It expires
// Config.LeaseTTL after it was taken or last refreshed, so a crashed
// holder blocks its key for at most that long; a holder with an Instance
// names its boot id in the lease, and the process restarted on that
// Instance deletes it at once (see Instance).
type Lease struct {
	kv     jetstream.KeyValue
	key    string // escaped
	holder []byte
	mu     sync.Mutex
	rev    uint64
}

// Lease takes the lease on key (any string, e.g. "repo/service/env"; it is
// escaped with EscapeKey). It returns ErrLeaseHeld when another holder has
// it, and an error wrapping ErrUnavailable when JetStream does not answer.
func (q *Queue) Lease(ctx context.Context, key string) (*Lease, error) {
	k := EscapeKey(key)
	holder := q.newHolder()
	// The create is not cut short by ctx: a create the server stored but
	// whose answer ctx's end discarded would leave a lease nobody holds,
	// blocking its key until the TTL (a shutdown racing a TryHold did).
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.cfg.PublishTimeout)
	defer cancel()
	rev, err := q.leases.Create(cctx, k, holder)
	if err != nil {
		if CASConflict(err) {
			return nil, fmt.Errorf("%w: %s", ErrLeaseHeld, key)
		}
		return nil, fmt.Errorf("%w: lease %s: %w", ErrUnavailable, key, err)
	}
	l := &Lease{kv: q.leases, key: k, holder: holder, rev: rev}
	if cerr := ctx.Err(); cerr != nil {
		// The caller gave up meanwhile: give the lease back at once.
		return nil, errors.Join(fmt.Errorf("lease %s: %w", key, cerr), l.Release(cctx))
	}
	return l, nil
}

// Refresh restarts the lease's TTL. ErrLeaseLost when it is no longer ours.
func (l *Lease) Refresh(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	rev, err := l.kv.Update(ctx, l.key, l.holder, l.rev)
	if err != nil {
		if CASConflict(err) {
			return ErrLeaseLost
		}
		return fmt.Errorf("%w: refresh lease: %w", ErrUnavailable, err)
	}
	l.rev = rev
	return nil
}

// Release frees the lease if it is still ours; ErrLeaseLost when it is not
// (it expired, and maybe someone else holds it now: that lease is left alone).
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev))
	if err != nil {
		if CASConflict(err) {
			return ErrLeaseLost
		}
		return fmt.Errorf("%w: release lease: %w", ErrUnavailable, err)
	}
	return nil
}

// CASConflict reports a failed compare-and-set on a KV key: the key
// exists (Create), or its revision moved on (Update: 10071, or 10164 on
// replicated streams).
func CASConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
