// Package ghretry is the resilient transport under every GitHub API call. It
// retries network errors and 5xx with exponential backoff and full jitter
// (a request that may have taken effect only when a repeat is harmless, see
// Replayable), waits out rate limits the way GitHub documents them, and
// spaces content-creating requests so promobot stays under the secondary
// limits.
//
// It sits below go-github and ghinstallation, so go-github only ever sees the
// final response of a call (and never caches a rate-limit state that this
// transport already waited out), and installation-token refreshes are
// retried too.
//
// References: https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
// and https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api
package ghretry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/fate"
)

// Defaults for a zero Config.
const (
	DefaultMaxAttempts = 6
	DefaultBaseDelay   = 500 * time.Millisecond
	DefaultMaxDelay    = 30 * time.Second
	DefaultMaxWait     = 2 * time.Minute
	// DefaultContentPace follows GitHub's secondary-limit guidance: "wait at
	// least one second between each" content-creating request.
	DefaultContentPace = time.Second
)

// MaxBody bounds a request body that has to be buffered to be replayed
// (requests without GetBody). GitHub's own limit is 25 MB.
const MaxBody = 25 << 20

// maxHint bounds any wait GitHub asks for: its rate-limit windows are at most
// an hour, so a larger Retry-After or reset is garbage, not an instruction.
const maxHint = time.Hour

// headerlessWait is GitHub's guidance for a secondary limit that carries
// neither Retry-After nor X-RateLimit-Remaining: "wait for at least one
// minute", increasing exponentially on repeats.
const headerlessWait = time.Minute

// ErrRateLimited is matched (errors.Is) by the *WaitError returned when GitHub
// asks for a wait longer than Config.MaxWait, or still limits the request on
// its last attempt.
var ErrRateLimited = errors.New("github rate limited")

var errBodyTooLarge = fmt.Errorf("request body exceeds %d bytes", MaxBody)

// WaitError says GitHub will not accept the request before Until. The worker
// turns it into a delayed retry instead of blocking.
type WaitError struct {
	Until  time.Time
	Reason string // "primary_rate_limit" or "secondary_rate_limit"
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("github %s: retry after %s", e.Reason, e.Until.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrRateLimited) true.
func (e *WaitError) Unwrap() error { return ErrRateLimited }

// Clock is the time source; tests inject a fake one so nothing really sleeps.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or returns ctx.Err() as soon as ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
}

// Config tunes the transport. Zero fields take the defaults above.
type Config struct {
	MaxAttempts int           // attempts per request, rate-limit waits included
	BaseDelay   time.Duration // first backoff ceiling; doubles per attempt
	MaxDelay    time.Duration // backoff ceiling
	// MaxWait is the longest rate-limit wait taken in place; beyond it
	// RoundTrip returns a *WaitError.
	MaxWait time.Duration
	// ContentPace is the minimum spacing between POST/PATCH/PUT/DELETE
	// requests of one transport. Zero means DefaultContentPace; a negative
	// value disables pacing (tests).
	ContentPace time.Duration
	Clock       Clock
	Rand        func() float64 // jitter source in [0,1); default math/rand/v2
	Log         zerolog.Logger // one line per retry; zero value logs nothing
	Registerer  prometheus.Registerer
	// Route reduces a path to a log label, e.g. ghapp.Route; default
	// method and path.
	Route func(method, path string) string
	// Replayable says which requests may be sent again when their outcome
	// is unknown (network error after sending, 5xx); default Replayable.
	Replayable func(method, path string) bool
}

type transport struct {
	next   http.RoundTripper
	cfg    Config
	clock  Clock
	rand   func() float64
	route  func(method, path string) string
	replay func(method, path string) bool
	m      *metrics
	paceMu sync.Mutex
	last   time.Time // slot of the latest content-creating request
}

// New wraps next (http.DefaultTransport when nil) with retries, rate-limit
// waits and content pacing.
func New(next http.RoundTripper, cfg Config) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = DefaultBaseDelay
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.ContentPace == 0 {
		cfg.ContentPace = DefaultContentPace
	}
	t := &transport{next: next, cfg: cfg, clock: cfg.Clock, rand: cfg.Rand, route: cfg.Route, replay: cfg.Replayable}
	if t.replay == nil {
		t.replay = Replayable
	}
	if t.clock == nil {
		t.clock = realClock{}
	}
	if t.rand == nil {
		t.rand = rand.Float64
	}
	if t.route == nil {
		t.route = func(method, path string) string { return method + " " + path }
	}
	t.m = newMetrics(cfg.Registerer, cfg.Log)
	return t
}

// decision is what to do after one attempt.
type decision struct {
	reason string    // metric/log label; "" means return as is
	until  time.Time // earliest retry, for rate limits
	limit  bool      // a rate limit: until applies, MaxWait too; else backoff
}

// RoundTrip sends req until it succeeds, fails for good, or runs out of
// attempts.
//
// A network error after the request went out, or a 500/502/503/504, leaves
// its outcome unknown: GitHub may have carried it out. Such a request is
// sent again only when a repeat cannot double its effect (Config.Replayable,
// by default Replayable: git data, refs and PRs that answer 422 when they
// exist, sets, reactions...). Any other request, a comment above all, comes
// back with its failure, and its caller looks the effect up before creating
// it again. Rate limits and failed dials are retried for every request:
// GitHub never saw those.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	body, err := replayable(req)
	if err != nil {
		return nil, err
	}
	route := t.route(req.Method, req.URL.Path)
	content := contentCreating(req.Method)
	replay := t.replay(req.Method, req.URL.Path)
	strikes := 0 // headerless secondary limits so far
	for attempt := 1; ; attempt++ {
		if content {
			if err := t.pace(ctx); err != nil {
				return nil, err
			}
		}
		r := req.Clone(ctx)
		if r.Body, err = body(); err != nil {
			return nil, fmt.Errorf("replay request body: %w", err)
		}
		resp, err := t.next.RoundTrip(r)
		var d decision
		if err != nil {
			d = decideErr(ctx, err)
		} else {
			d, resp = t.decideResp(resp, strikes)
		}
		if d.reason == "" {
			return resp, err
		}
		if !d.limit && !replay && (err == nil || !unsent(err)) {
			ev := t.cfg.Log.Info().Str("method", req.Method).Str("route", route).Int("attempt", attempt).Str("reason", d.reason)
			if resp != nil {
				ev = ev.Int("status", resp.StatusCode)
			} else {
				ev = ev.Str("error", errKind(err))
			}
			ev.Msg("github request not replayed: it may have taken effect")
			return resp, err
		}
		if d.reason == reasonHeaderless {
			strikes++
		}
		var wait time.Duration
		switch {
		case d.limit:
			wait = d.until.Sub(t.clock.Now())
			if wait > t.cfg.MaxWait || attempt >= t.cfg.MaxAttempts {
				discard(resp)
				reason := reasonPrimary
				if d.reason != reasonPrimary {
					reason = reasonSecondary
				}
				t.m.deferrals.WithLabelValues(reason).Inc()
				t.cfg.Log.Warn().Str("method", req.Method).Str("route", route).Int("attempt", attempt).
					Time("until", d.until).Str("reason", d.reason).Msg("github rate limit: deferring")
				// Born here with its fate: the intent retries at the reset.
				return nil, fate.MarkRetryAt(&WaitError{Until: d.until, Reason: reason}, d.until)
			}
		case attempt >= t.cfg.MaxAttempts:
			if err != nil {
				return nil, fmt.Errorf("%d attempts: %w", attempt, err)
			}
			return resp, nil
		default:
			wait = t.backoff(attempt - 1)
		}
		ev := t.cfg.Log.Info().Str("method", req.Method).Str("route", route).Int("attempt", attempt).
			Dur("wait", wait).Str("reason", d.reason)
		if resp != nil {
			ev = ev.Int("status", resp.StatusCode)
		} else {
			ev = ev.Str("error", errKind(err))
		}
		ev.Msg("github request retried")
		discard(resp)
		t.m.retries.WithLabelValues(d.reason).Inc()
		if wait > 0 {
			t.m.waits.WithLabelValues(d.reason).Observe(wait.Seconds())
			if err := t.clock.Sleep(ctx, wait); err != nil {
				return nil, err
			}
		}
	}
}

// decideResp classifies a response. It may read (and then restore) the
// body of a 403/429 to tell a rate limit from a permission error.
func (t *transport) decideResp(resp *http.Response, strikes int) (decision, *http.Response) {
	switch resp.StatusCode {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return decision{reason: reasonServer}, resp
	case http.StatusForbidden, http.StatusTooManyRequests:
	default:
		return decision{}, resp
	}
	now := t.clock.Now()
	reason, until, ok := rateLimit(resp.StatusCode, resp.Header, nil, now, strikes)
	if !ok && resp.Body != nil {
		// No rate-limit headers: the message tells a headerless secondary
		// limit from a permission error. Keep the whole body for the caller.
		head, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(head), errReader{err}, resp.Body), resp.Body}
		reason, until, ok = rateLimit(resp.StatusCode, resp.Header, head, now, strikes)
	}
	if !ok {
		return decision{}, resp
	}
	return decision{reason: reason, until: until, limit: true}, resp
}

// backoff is full jitter: uniform in [0, min(MaxDelay, BaseDelay·2^n)).
func (t *transport) backoff(n int) time.Duration {
	ceil := t.cfg.BaseDelay
	for i := 0; i < n && ceil < t.cfg.MaxDelay; i++ {
		ceil *= 2
	}
	ceil = min(ceil, t.cfg.MaxDelay)
	f := t.rand()
	if !(f >= 0) { // NaN or negative
		f = 0
	}
	f = min(f, 1)
	return time.Duration(f * float64(ceil))
}

// pace reserves the next content-creating slot and waits for it. Slots are
// handed out under the mutex, and the wait happens outside it, so a waiter
// whose ctx ends gives up without holding others.
func (t *transport) pace(ctx context.Context) error {
	if t.cfg.ContentPace < 0 {
		return nil
	}
	t.paceMu.Lock()
	now := t.clock.Now()
	slot := now
	if !t.last.IsZero() {
		if next := t.last.Add(t.cfg.ContentPace); next.After(slot) {
			slot = next
		}
	}
	t.last = slot
	t.paceMu.Unlock()
	wait := slot.Sub(now)
	if wait <= 0 {
		return nil
	}
	t.m.waits.WithLabelValues(reasonPace).Observe(wait.Seconds())
	return t.clock.Sleep(ctx, wait)
}

func contentCreating(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// replayable returns a function producing the request body for each attempt.
// It uses req.GetBody when set (go-github and ghinstallation set it), and
// otherwise buffers the body once, up to MaxBody.
func replayable(req *http.Request) (func() (io.ReadCloser, error), error) {
	if req.Body == nil || req.Body == http.NoBody {
		b := req.Body
		return func() (io.ReadCloser, error) { return b, nil }, nil
	}
	if req.GetBody != nil {
		// Every attempt, the first included, reads a fresh copy.
		if err := req.Body.Close(); err != nil {
			return nil, fmt.Errorf("close request body: %w", err)
		}
		return req.GetBody, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, MaxBody+1))
	cerr := req.Body.Close()
	switch {
	case err != nil:
		return nil, fmt.Errorf("read request body: %w", err)
	case len(buf) > MaxBody:
		return nil, errBodyTooLarge
	case cerr != nil:
		return nil, fmt.Errorf("close request body: %w", cerr)
	}
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }, nil
}

// discard drains (a bounded amount of) a response that will not be returned
// and closes it, so the connection can be reused.
func discard(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // best effort: the body is thrown away
	_ = resp.Body.Close()                                        // nothing to do about a failed close of a discarded body
}

type readCloser struct {
	io.Reader
	io.Closer
}

// errReader replays a read error met while peeking at a body.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// Retry reasons, used as metric and log labels.
const (
	reasonNetwork    = "network"
	reasonServer     = "server_error"
	reasonPrimary    = "primary_rate_limit"
	reasonSecondary  = "secondary_rate_limit"
	reasonHeaderless = "secondary_rate_limit_no_header"
	reasonPace       = "content_pace"
)
