package ghretry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// start is a whole second so X-RateLimit-Reset arithmetic is exact.
var start = time.Unix(1_700_000_000, 0)

// fakeClock never sleeps: Sleep records the wait and moves time forward
// (unless frozen). With block set, Sleep announces itself there and waits
// for ctx instead, to test cancellation during a wait.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	frozen bool
	sleeps []time.Duration
	block  chan time.Duration
}

func newClock() *fakeClock { return &fakeClock{now: start} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	if !c.frozen {
		c.now = c.now.Add(d)
	}
	block := c.block
	c.mu.Unlock()
	if block != nil {
		block <- d
		<-ctx.Done()
	}
	return ctx.Err()
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

func half() float64 { return 0.5 }

// arrival is one request as the test server saw it, stamped with fake time.
type arrival struct {
	At     time.Time
	Method string
	Body   string
	Auth   string
}

// step is one scripted server answer; hangup closes the connection without
// answering.
type step struct {
	status int
	header http.Header
	body   string
	hangup bool
}

type scripted struct {
	t     *testing.T
	clk   *fakeClock
	mu    sync.Mutex
	steps []step
	got   []arrival
	srv   *httptest.Server
}

// newScripted answers the i-th request with steps[i] (the last step
// repeats once the script runs out).
func newScripted(t *testing.T, clk *fakeClock, steps ...step) *scripted {
	s := &scripted{t: t, clk: clk, steps: steps}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scripted) serve(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		s.t.Errorf("read body: %v", err)
	}
	s.mu.Lock()
	i := len(s.got)
	s.got = append(s.got, arrival{At: s.clk.Now(), Method: r.Method, Body: string(b), Auth: r.Header.Get("Authorization")})
	st := s.steps[min(i, len(s.steps)-1)]
	s.mu.Unlock()
	if st.hangup {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			s.t.Errorf("hijack: %v", err)
			return
		}
		_ = conn.Close()
		return
	}
	for k, v := range st.header {
		w.Header()[k] = v
	}
	w.WriteHeader(st.status)
	_, _ = io.WriteString(w, st.body)
}

func (s *scripted) arrivals() []arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]arrival(nil), s.got...)
}

// bodyTracker wraps a transport and remembers every response body it hands
// out, to check that retried responses were drained and all were closed.
type bodyTracker struct {
	next   http.RoundTripper
	mu     sync.Mutex
	bodies []*trackedBody
}

type trackedBody struct {
	io.ReadCloser
	mu     sync.Mutex
	eof    bool
	closed bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.mu.Lock()
		b.eof = true
		b.mu.Unlock()
	}
	return n, err
}

func (b *trackedBody) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return b.ReadCloser.Close()
}

func (t *bodyTracker) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	tb := &trackedBody{ReadCloser: resp.Body}
	resp.Body = tb
	t.mu.Lock()
	t.bodies = append(t.bodies, tb)
	t.mu.Unlock()
	return resp, nil
}

// check asserts all but the last n bodies (handed to the caller) were read
// to the end and closed.
func (t *bodyTracker) check(tt *testing.T, returned int) {
	tt.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, b := range t.bodies[:max(len(t.bodies)-returned, 0)] {
		b.mu.Lock()
		if !b.eof || !b.closed {
			tt.Errorf("discarded response %d: drained %v, closed %v", i, b.eof, b.closed)
		}
		b.mu.Unlock()
	}
}

// noKeepAlive is a real transport that never reuses connections, so
// net/http's own retry of idempotent requests on reused connections cannot
// blur the attempt counts.
func noKeepAlive() *http.Transport {
	return &http.Transport{DisableKeepAlives: true}
}

func offsets(arr []arrival) []time.Duration {
	out := make([]time.Duration, len(arr))
	for i, a := range arr {
		out[i] = a.At.Sub(start)
	}
	return out
}
