package queue

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLease(t *testing.T) {
	q, _ := newQueue(t, Config{})
	ctx := context.Background()
	const key = "acme/gitops/payment-service/prod"

	a, err := q.Lease(ctx, key)
	if err != nil {
		t.Fatalf("first lease: %v", err)
	}
	if _, err := q.Lease(ctx, key); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("second lease = %v, want ErrLeaseHeld", err)
	}
	other, err := q.Lease(ctx, "acme/gitops/payment-service/staging")
	if err != nil {
		t.Fatalf("lease on another target: %v", err)
	}
	if err := a.Refresh(ctx); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("release after refresh: %v", err)
	}
	b, err := q.Lease(ctx, key)
	if err != nil {
		t.Fatalf("lease after release: %v", err)
	}
	// The old holder cannot touch the new holder's lease.
	if err := a.Release(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("stale release = %v, want ErrLeaseLost", err)
	}
	if err := a.Refresh(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("stale refresh = %v, want ErrLeaseLost", err)
	}
	if _, err := q.Lease(ctx, key); !errors.Is(err, ErrLeaseHeld) {
		t.Errorf("lease while b holds = %v, want ErrLeaseHeld", err)
	}
	for _, l := range []*Lease{b, other} {
		if err := l.Release(ctx); err != nil {
			t.Errorf("release: %v", err)
		}
	}
}

// Keys that escape to different KV keys are different leases.
func TestLeaseKeysAreDistinct(t *testing.T) {
	q, _ := newQueue(t, Config{})
	ctx := context.Background()
	for _, k := range []string{"a/b", "a_b", "a.b", "a_2Fb", "", "ä/ö", "a b", "*", ">"} {
		if _, err := q.Lease(ctx, k); err != nil {
			t.Errorf("Lease(%q) = %v", k, err)
		}
	}
}

func TestLeaseExpires(t *testing.T) {
	q, _ := newQueue(t, Config{LeaseTTL: time.Second})
	ctx := context.Background()
	crashed, err := q.Lease(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	// The holder "crashes": never refreshes. The lease must come free.
	var next *Lease
	eventually(t, "lease to expire", func() (bool, error) {
		var err error
		next, err = q.Lease(ctx, "k")
		if errors.Is(err, ErrLeaseHeld) {
			return false, err
		}
		if err != nil {
			t.Fatalf("lease: %v", err)
		}
		return true, nil
	})
	if err := crashed.Release(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("release of expired lease = %v, want ErrLeaseLost", err)
	}
	if err := next.Release(ctx); err != nil {
		t.Errorf("release of new lease: %v", err)
	}
}

func TestLeaseRefreshKeepsItAlive(t *testing.T) {
	q, _ := newQueue(t, Config{LeaseTTL: 2 * time.Second})
	ctx := context.Background()
	l, err := q.Lease(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	// Refresh well inside the TTL for longer than one TTL: nobody else gets it.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	end := time.After(3 * time.Second)
	for done := false; !done; {
		select {
		case <-end:
			done = true
		case <-tick.C:
			if err := l.Refresh(ctx); err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if _, err := q.Lease(ctx, "k"); !errors.Is(err, ErrLeaseHeld) {
				t.Fatalf("lease taken while refreshed: %v", err)
			}
		}
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("release: %v", err)
	}
}

func TestLeaseUnavailable(t *testing.T) {
	q, e := newQueue(t, Config{})
	e.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := q.Lease(ctx, "k"); !isUnavailable(err) {
		t.Fatalf("Lease with server down = %v, want ErrUnavailable", err)
	}
}
