package ghretry

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/fate"
)

func TestFate(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	resp := func(code int) *http.Response { return &http.Response{StatusCode: code, Request: &http.Request{}} }
	ghErr := func(code int) error {
		return &github.ErrorResponse{Response: resp(code), Message: http.StatusText(code)}
	}
	wait := fate.MarkRetryAt(&WaitError{Until: now.Add(time.Hour)}, now.Add(time.Hour))
	ninety := 90 * time.Second
	for _, tc := range []struct {
		name string
		err  error
		kind fate.Kind
		at   time.Time
	}{
		{"404", fmt.Errorf("get ref: %w", ghErr(404)), fate.Terminal, time.Time{}},
		{"422", ghErr(422), fate.Terminal, time.Time{}},
		{"403 without rate limit", ghErr(403), fate.Terminal, time.Time{}},
		{"401: credentials revoked, renewed on the next attempt", ghErr(401), fate.Retryable, time.Time{}},
		{"408", ghErr(408), fate.Retryable, time.Time{}},
		{"429", ghErr(429), fate.Retryable, time.Time{}},
		{"502", ghErr(502), fate.Retryable, time.Time{}},
		{"network", errors.New("connection reset"), fate.Retryable, time.Time{}},
		{"primary rate limit", &github.RateLimitError{Response: resp(403), Rate: github.Rate{Reset: github.Timestamp{Time: now.Add(time.Minute)}}}, fate.RetryAt, now.Add(time.Minute + time.Second)},
		{"secondary with Retry-After", &github.AbuseRateLimitError{Response: resp(403), RetryAfter: &ninety}, fate.RetryAt, now.Add(ninety)},
		{"secondary without Retry-After", &github.AbuseRateLimitError{Response: resp(403)}, fate.RetryAt, now.Add(time.Minute)},
		{"deferred by the transport", fmt.Errorf("create tree: %w", wait), fate.RetryAt, now.Add(time.Hour)},
	} {
		k, at := fate.Of(Fate(tc.err, now))
		if k != tc.kind || !at.Equal(tc.at) {
			t.Errorf("%s: %v %v; want %v %v", tc.name, k, at, tc.kind, tc.at)
		}
	}
	if Fate(nil, now) != nil {
		t.Error("Fate(nil) != nil")
	}
	if !IsStatus(fmt.Errorf("x: %w", ghErr(422)), 422) || IsStatus(ghErr(404), 422) || IsStatus(errors.New("x"), 422) {
		t.Error("IsStatus")
	}
}
