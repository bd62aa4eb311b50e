package worker

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/gitmirror"
	"github.com/promobot/promobot/internal/prwriter"
)

func ghErr(code int) error {
	return &github.ErrorResponse{Response: &http.Response{StatusCode: code}, Message: http.StatusText(code)}
}

func TestRetryable(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		err   error
		retry bool
		delay time.Duration // checked when non-zero
	}{
		{"planner terminal", fate.Terminalf("edit x: %w", errors.New("bad")), false, 0},
		{"file too large", fmt.Errorf("read: %w", gitmirror.ErrTooLarge), false, 0},
		{"404", fmt.Errorf("create tree: %w", ghErr(404)), false, 0},
		{"422", fmt.Errorf("open pull request: %w", ghErr(422)), false, 0},
		{"502", fmt.Errorf("create commit: %w", ghErr(502)), true, 5 * time.Second},
		{"base moved", fmt.Errorf("update main: %w", prwriter.ErrBaseMoved), true, time.Millisecond},
		{"rate limited until reset", fmt.Errorf("x: %w", &ghretry.WaitError{Until: now.Add(90 * time.Second)}), true, 90 * time.Second},
		{"reset already past", fmt.Errorf("x: %w", &ghretry.WaitError{Until: now.Add(-time.Minute)}), true, time.Second},
		{"network", fmt.Errorf("fetch: %w", &net.OpError{Op: "dial", Err: errors.New("refused")}), true, 5 * time.Second},
		{"unknown", errors.New("something odd"), true, 10 * time.Second},
	} {
		d, ok := Retryable(tc.err, now)
		if ok != tc.retry || (tc.delay != 0 && d != tc.delay) {
			t.Errorf("%s: Retryable = %v, %v; want %v, %v", tc.name, d, ok, tc.delay, tc.retry)
		}
	}
}
