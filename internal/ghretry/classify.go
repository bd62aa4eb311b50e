package ghretry

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// rateLimit reports whether a 403/429 is a rate limit and the earliest time
// the request may be retried, following GitHub's documented order: a
// Retry-After header wins; else X-RateLimit-Remaining 0 means wait until
// X-RateLimit-Reset (+1 s); else a 429, or a 403 whose message mentions a
// rate limit, means wait at least a minute, doubling on each repeat
// (strikes). body may be nil when only the headers are to be consulted.
func rateLimit(status int, h http.Header, body []byte, now time.Time, strikes int) (reason string, until time.Time, ok bool) {
	if status != http.StatusForbidden && status != http.StatusTooManyRequests {
		return "", time.Time{}, false
	}
	if d, ok := parseRetryAfter(h.Get("Retry-After"), now); ok {
		return reasonSecondary, now.Add(d), true
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if reset, ok := parseUnix(h.Get("X-RateLimit-Reset")); ok {
			// +1 s: the reset is whole seconds and clocks drift. A reset
			// already past (our clock ahead) still waits that second.
			if hi := now.Add(maxHint); reset.After(hi) {
				reset = hi
			}
			if reset.Before(now) {
				reset = now
			}
			return reasonPrimary, reset.Add(time.Second), true
		}
	}
	if status == http.StatusTooManyRequests || bytes.Contains(bytes.ToLower(body), []byte("rate limit")) {
		d := headerlessWait
		for i := 0; i < strikes && d < maxHint; i++ {
			d *= 2
		}
		return reasonHeaderless, now.Add(min(d, maxHint)), true
	}
	return "", time.Time{}, false
}

// parseRetryAfter accepts both forms HTTP allows, delay-seconds or a date,
// clamped to [0, maxHint].
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(maxHint/time.Second) {
			return maxHint, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), maxHint), true
}

func parseUnix(s string) (time.Time, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// decideErr retries transport errors that a later attempt can cure.
func decideErr(ctx context.Context, err error) decision {
	if ctx.Err() != nil || !retryableErr(err) {
		return decision{}
	}
	return decision{reason: reasonNetwork}
}

func retryableErr(err error) bool {
	// A *url.Error is always a net.Error; judge what it wraps.
	var ue *url.Error
	for errors.As(err, &ue) {
		err = ue.Err
	}
	var (
		we  *WaitError
		cve *tls.CertificateVerificationError
		uae x509.UnknownAuthorityError
		hne x509.HostnameError
		cie x509.CertificateInvalidError
		ne  net.Error
	)
	switch {
	case errors.As(err, &we), errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &hne), errors.As(err, &cie):
		return false // will not change by retrying
	case errors.As(err, &ne):
		return true // dial errors, timeouts, DNS
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// errKind names a transport error for the log without its text, which can
// quote response bytes.
func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected EOF"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "network"
}
