package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/fate"
)

// A second holder waits for the first to release, then holds the key.
func TestHoldWaitsForRelease(t *testing.T) {
	q, _ := newQueue(t, Config{LeaseTTL: 10 * time.Second})
	ctx := context.Background()
	const key = "acme/gitops/web/prod"

	_, release, err := q.Hold(ctx, key)
	if err != nil {
		t.Fatalf("hold: %v", err)
	}
	got := make(chan error, 1)
	go func() {
		_, release2, err := q.Hold(ctx, key)
		if err == nil {
			release2()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("second hold returned while the first holds the key: %v", err)
	default:
	}
	release()
	if err := <-got; err != nil {
		t.Fatalf("second hold after release: %v", err)
	}
	// Released for good: a plain lease is free again.
	l, err := q.Lease(ctx, key)
	if err != nil {
		t.Fatalf("lease after both released: %v", err)
	}
	_ = l.Release(ctx)
}

// A holder that keeps the key past the wait limit makes Hold give up with
// an error marked to retry soon, not a failure.
func TestHoldGivesUpWithRetryAt(t *testing.T) {
	q, _ := newQueue(t, Config{LeaseTTL: 200 * time.Millisecond})
	ctx := context.Background()
	const key = "acme/gitops/web/staging"
	_, release, err := q.Hold(ctx, key) // refreshed, so it never expires
	if err != nil {
		t.Fatalf("hold: %v", err)
	}
	defer release()
	_, _, err = q.Hold(ctx, key)
	if !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("second hold = %v, want ErrLeaseHeld", err)
	}
	if k, at := fate.Of(err); k != fate.RetryAt || at.IsZero() {
		t.Errorf("fate = %v %v, want retry-at a time", k, at)
	}
}

// Losing the lease (someone else took it over) ends the held context with
// ErrLeaseLost as its cause, so the guarded work stops.
func TestHoldLostLeaseCancels(t *testing.T) {
	q, _ := newQueue(t, Config{LeaseTTL: 300 * time.Millisecond})
	ctx := context.Background()
	const key = "acme/gitops/web/dev"
	held, release, err := q.Hold(ctx, key)
	if err != nil {
		t.Fatalf("hold: %v", err)
	}
	defer release()
	// Take the key over behind the holder's back.
	if err := q.leases.Delete(ctx, EscapeKey(key)); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := q.Lease(ctx, key); err != nil {
		t.Fatalf("take over: %v", err)
	}
	<-held.Done()
	if !errors.Is(context.Cause(held), ErrLeaseLost) {
		t.Errorf("cause = %v, want ErrLeaseLost", context.Cause(held))
	}
}

// A caller that gives up while waiting gets its context's error.
func TestHoldCancelledWhileWaiting(t *testing.T) {
	q, _ := newQueue(t, Config{LeaseTTL: 10 * time.Second})
	const key = "acme/gitops/web/qa"
	_, release, err := q.Hold(context.Background(), key)
	if err != nil {
		t.Fatalf("hold: %v", err)
	}
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := q.Hold(ctx, key); !errors.Is(err, context.Canceled) {
		t.Errorf("hold with a cancelled context = %v, want context.Canceled", err)
	}
}
