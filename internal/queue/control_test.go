package queue

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TryHold never waits: a held key is ErrLeaseHeld at once; released, it is
// free again; taken over, the holder's context ends with ErrLeaseLost.
func TestTryHold(t *testing.T) {
	q, _ := newQueue(t, Config{LeaseTTL: 300 * time.Millisecond})
	ctx := context.Background()
	const key = "redeliver"
	held, release, err := q.TryHold(ctx, key)
	if err != nil {
		t.Fatalf("try hold: %v", err)
	}
	if _, _, err := q.TryHold(ctx, key); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("second try hold = %v, want ErrLeaseHeld", err)
	}
	release()
	if held.Err() == nil {
		t.Error("the held context outlived its release")
	}
	held, release, err = q.TryHold(ctx, key)
	if err != nil {
		t.Fatalf("try hold after release: %v", err)
	}
	defer release()
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
