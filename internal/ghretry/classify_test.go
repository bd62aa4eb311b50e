package ghretry

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestRealClockSleepCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- realClock{}.Sleep(ctx, time.Hour) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Sleep ignored cancellation")
	}
	if err := (realClock{}).Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

func TestBackoffHostileRand(t *testing.T) {
	tests := []struct {
		name string
		r    float64
		want time.Duration
	}{
		{"negative", -3, 0},
		{"NaN", nan(), 0},
		{"above one", 7, 500 * time.Millisecond},
		{"half", 0.5, 250 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(nil, Config{Rand: func() float64 { return tc.r }}).(*transport)
			if got := tr.backoff(0); got != tc.want {
				t.Errorf("backoff = %v, want %v", got, tc.want)
			}
			if got := tr.backoff(1000); got > DefaultMaxDelay || got < 0 {
				t.Errorf("backoff(1000) = %v, outside [0, MaxDelay]", got)
			}
		})
	}
}

func nan() float64 { f, _ := strconv.ParseFloat("NaN", 64); return f }

func TestRateLimitHostileHeaders(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name       string
		status     int
		retryAfter string
		remaining  string
		reset      string
		body       string
		ok         bool
		until      time.Duration
	}{
		{name: "huge Retry-After clamped", status: 403, retryAfter: "99999999999999999999", body: "rate limit", ok: true, until: time.Minute},
		{name: "int64 Retry-After clamped", status: 429, retryAfter: "9223372036854775807", ok: true, until: time.Hour},
		{name: "negative Retry-After ignored", status: 403, retryAfter: "-5"},
		{name: "float Retry-After ignored", status: 403, retryAfter: "1.5"},
		{name: "past HTTP date is now", status: 429, retryAfter: "Sun, 06 Nov 1994 08:49:37 GMT", ok: true, until: 0},
		{name: "reset garbage, body says rate limit", status: 403, remaining: "0", reset: "tomorrow", body: "API rate limit exceeded", ok: true, until: time.Minute},
		{name: "reset garbage, no message", status: 403, remaining: "0", reset: "tomorrow"},
		{name: "reset overflow", status: 403, remaining: "0", reset: "99999999999999999999999"},
		{name: "reset negative", status: 403, remaining: "0", reset: "-1"},
		{name: "remaining not zero", status: 403, remaining: "10", reset: "1700000100"},
		{name: "not a limit status", status: 500, retryAfter: "5"},
		{name: "200 with limit headers", status: 200, remaining: "0", reset: "1700000100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range map[string]string{"Retry-After": tc.retryAfter, "X-RateLimit-Remaining": tc.remaining, "X-RateLimit-Reset": tc.reset} {
				if v != "" {
					h.Set(k, v)
				}
			}
			_, until, ok := rateLimit(tc.status, h, []byte(tc.body), now, 0)
			if ok != tc.ok || (ok && until.Sub(now) != tc.until) {
				t.Errorf("rateLimit = %v, %v; want %v, now+%v", until.Sub(now), ok, tc.ok, tc.until)
			}
		})
	}
}

// FuzzRateLimit: whatever GitHub (or a proxy) answers, the decision never
// allows a retry before now, never waits beyond the cap, and never panics.
func FuzzRateLimit(f *testing.F) {
	f.Add(403, "7", "", "", []byte(`{"message":"You have exceeded a secondary rate limit."}`), uint8(0))
	f.Add(403, "", "0", "1700000030", []byte(`{"message":"API rate limit exceeded"}`), uint8(0))
	f.Add(429, "", "", "", []byte(""), uint8(3))
	f.Add(429, "Wed, 21 Oct 2015 07:28:00 GMT", "", "", []byte{}, uint8(0))
	f.Add(403, "", "", "", []byte(`{"message":"Resource not accessible by integration"}`), uint8(0))
	f.Add(403, "-1", "0", "-99", []byte("RATE LIMIT"), uint8(255))
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, status int, retryAfter, remaining, reset string, body []byte, strikes uint8) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		h.Set("X-RateLimit-Remaining", remaining)
		h.Set("X-RateLimit-Reset", reset)
		reason, until, ok := rateLimit(status, h, body, now, int(strikes))
		if !ok {
			if reason != "" {
				t.Fatalf("reason %q without a limit", reason)
			}
			return
		}
		if status != 403 && status != 429 {
			t.Fatalf("status %d treated as a rate limit", status)
		}
		if until.Before(now) || until.After(now.Add(maxHint+time.Second)) {
			t.Fatalf("until now%+v outside [now, now+%v]", until.Sub(now), maxHint+time.Second)
		}
		if reason == reasonPrimary && until.Before(now.Add(time.Second)) {
			t.Fatalf("primary limit retried within a second")
		}
		if reason == reasonHeaderless && until.Before(now.Add(headerlessWait)) {
			t.Fatalf("headerless limit retried within a minute")
		}
	})
}
