package ghretry_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/ghretry"
)

const (
	secondaryMsg = `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}`
	forbiddenMsg = `{"message":"Resource not accessible by integration"}`
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func primary(reset time.Time) http.Header {
	return hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
}

func TestRoundTrip(t *testing.T) {
	ok := step{status: 200, body: `{"ok":true}`}
	s := time.Second
	tests := []struct {
		name     string
		cfg      ghretry.Config
		steps    []step
		status   int           // final status; 0 when an error is expected
		until    time.Duration // *WaitError.Until - start, when expected
		sleeps   []time.Duration
		arrivals []time.Duration // fake time of each attempt, since start
	}{
		{name: "success", steps: []step{ok}, status: 200, arrivals: []time.Duration{0}},
		{name: "5xx then success", steps: []step{{status: 502}, {status: 503}, {status: 504}, {status: 500}, ok}, status: 200,
			sleeps:   []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, s, 2 * s},
			arrivals: []time.Duration{0, 250 * time.Millisecond, 750 * time.Millisecond, 1750 * time.Millisecond, 3750 * time.Millisecond}},
		{name: "5xx exhausts attempts", steps: []step{{status: 502}}, status: 502,
			sleeps:   []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, s, 2 * s, 4 * s},
			arrivals: []time.Duration{0, 250 * time.Millisecond, 750 * time.Millisecond, 1750 * time.Millisecond, 3750 * time.Millisecond, 7750 * time.Millisecond}},
		{name: "backoff capped by MaxDelay", cfg: ghretry.Config{BaseDelay: s, MaxDelay: 3 * s, MaxAttempts: 4}, steps: []step{{status: 500}}, status: 500,
			sleeps: []time.Duration{s / 2, s, 3 * s / 2}, arrivals: []time.Duration{0, s / 2, 3 * s / 2, 3 * s}},
		{name: "404 not retried", steps: []step{{status: 404}, ok}, status: 404, arrivals: []time.Duration{0}},
		{name: "422 not retried", steps: []step{{status: 422}, ok}, status: 422, arrivals: []time.Duration{0}},
		{name: "401 not retried", steps: []step{{status: 401}, ok}, status: 401, arrivals: []time.Duration{0}},
		{name: "409 not retried", steps: []step{{status: 409}, ok}, status: 409, arrivals: []time.Duration{0}},
		{name: "501 not retried", steps: []step{{status: 501}, ok}, status: 501, arrivals: []time.Duration{0}},
		{name: "403 permission not retried", steps: []step{{status: 403, body: forbiddenMsg}, ok}, status: 403, arrivals: []time.Duration{0}},
		{name: "403 garbage Retry-After not retried", steps: []step{{status: 403, header: hdr("Retry-After", "soon"), body: forbiddenMsg}, ok}, status: 403, arrivals: []time.Duration{0}},
		{name: "primary 403 waits for reset plus 1s", steps: []step{{status: 403, header: primary(start.Add(30 * s))}, ok}, status: 200,
			sleeps: []time.Duration{31 * s}, arrivals: []time.Duration{0, 31 * s}},
		{name: "primary 429 waits for reset plus 1s", steps: []step{{status: 429, header: primary(start.Add(90 * s))}, ok}, status: 200,
			sleeps: []time.Duration{91 * s}, arrivals: []time.Duration{0, 91 * s}},
		{name: "primary reset already past waits 1s", steps: []step{{status: 403, header: primary(start.Add(-time.Hour))}, ok}, status: 200,
			sleeps: []time.Duration{s}, arrivals: []time.Duration{0, s}},
		{name: "primary reset beyond MaxWait", steps: []step{{status: 403, header: primary(start.Add(10 * time.Minute))}, ok},
			until: 10*time.Minute + s, arrivals: []time.Duration{0}},
		{name: "primary reset absurd is clamped", steps: []step{{status: 403, header: primary(start.Add(1000 * time.Hour))}, ok},
			until: time.Hour + s, arrivals: []time.Duration{0}},
		{name: "secondary Retry-After", steps: []step{{status: 403, header: hdr("Retry-After", "7"), body: secondaryMsg}, ok}, status: 200,
			sleeps: []time.Duration{7 * s}, arrivals: []time.Duration{0, 7 * s}},
		{name: "secondary 429 Retry-After", steps: []step{{status: 429, header: hdr("Retry-After", "7")}, ok}, status: 200,
			sleeps: []time.Duration{7 * s}, arrivals: []time.Duration{0, 7 * s}},
		{name: "Retry-After wins over reset", steps: []step{{status: 403, header: func() http.Header {
			h := primary(start.Add(100 * s))
			h.Set("Retry-After", "3")
			return h
		}()}, ok}, status: 200, sleeps: []time.Duration{3 * s}, arrivals: []time.Duration{0, 3 * s}},
		{name: "Retry-After HTTP date", steps: []step{{status: 429, header: hdr("Retry-After", start.Add(42*s).UTC().Format(http.TimeFormat))}, ok}, status: 200,
			sleeps: []time.Duration{42 * s}, arrivals: []time.Duration{0, 42 * s}},
		{name: "Retry-After 0 retries at once", steps: []step{{status: 429, header: hdr("Retry-After", "0")}, ok}, status: 200,
			arrivals: []time.Duration{0, 0}},
		{name: "Retry-After beyond MaxWait", steps: []step{{status: 403, header: hdr("Retry-After", "300"), body: secondaryMsg}, ok},
			until: 300 * s, arrivals: []time.Duration{0}},
		{name: "Retry-After within custom MaxWait", cfg: ghretry.Config{MaxWait: 10 * time.Minute}, steps: []step{{status: 403, header: hdr("Retry-After", "300")}, ok},
			status: 200, sleeps: []time.Duration{300 * s}, arrivals: []time.Duration{0, 300 * s}},
		{name: "headerless secondary waits a minute, doubling", steps: []step{{status: 403, body: secondaryMsg}, {status: 403, body: secondaryMsg}, ok}, status: 200,
			sleeps: []time.Duration{60 * s, 120 * s}, arrivals: []time.Duration{0, 60 * s, 180 * s}},
		{name: "headerless secondary beyond MaxWait", steps: []step{{status: 403, body: secondaryMsg}},
			sleeps: []time.Duration{60 * s, 120 * s}, until: 180*s + 240*s, arrivals: []time.Duration{0, 60 * s, 180 * s}},
		{name: "headerless secondary longer than small MaxWait", cfg: ghretry.Config{MaxWait: 30 * s}, steps: []step{{status: 403, body: secondaryMsg}, ok},
			until: 60 * s, arrivals: []time.Duration{0}},
		{name: "headerless 429", steps: []step{{status: 429}, ok}, status: 200, sleeps: []time.Duration{60 * s}, arrivals: []time.Duration{0, 60 * s}},
		{name: "rate limited on last attempt", cfg: ghretry.Config{MaxAttempts: 2}, steps: []step{{status: 429, header: hdr("Retry-After", "5")}},
			sleeps: []time.Duration{5 * s}, until: 10 * s, arrivals: []time.Duration{0, 5 * s}},
		{name: "mixed 502 then rate limit then success", steps: []step{{status: 502}, {status: 403, header: primary(start.Add(20 * s))}, ok}, status: 200,
			sleeps: []time.Duration{250 * time.Millisecond, 20*s + s - 250*time.Millisecond}, arrivals: []time.Duration{0, 250 * time.Millisecond, 21 * s}},
		{name: "network error then success", steps: []step{{hangup: true}, ok}, status: 200,
			sleeps: []time.Duration{250 * time.Millisecond}, arrivals: []time.Duration{0, 250 * time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			srv := newScripted(t, clk, tc.steps...)
			tr := &bodyTracker{next: noKeepAlive()}
			cfg := tc.cfg
			cfg.Clock, cfg.Rand, cfg.ContentPace = clk, half, -1
			c := &http.Client{Transport: ghretry.New(tr, cfg)}
			resp, err := c.Get(srv.srv.URL + "/repos/acme/gitops")
			returned := 0
			if tc.status != 0 {
				if err != nil {
					t.Fatalf("got error %v, want status %d", err, tc.status)
				}
				returned = 1
				if resp.StatusCode != tc.status {
					t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
				}
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				if want := tc.steps[min(len(srv.arrivals())-1, len(tc.steps)-1)].body; string(b) != want {
					t.Errorf("body %q, want %q (intact for the caller)", b, want)
				}
				if err := resp.Body.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				var we *ghretry.WaitError
				if !errors.As(err, &we) || !errors.Is(err, ghretry.ErrRateLimited) {
					t.Fatalf("got %v, %v; want *WaitError", resp, err)
				}
				if got := we.Until.Sub(start); got != tc.until {
					t.Errorf("Until = start+%v, want start+%v", got, tc.until)
				}
			}
			if got := clk.Sleeps(); !slices.Equal(got, tc.sleeps) {
				t.Errorf("sleeps %v, want %v", got, tc.sleeps)
			}
			if got := offsets(srv.arrivals()); !slices.Equal(got, tc.arrivals) {
				t.Errorf("attempts at %v, want %v", got, tc.arrivals)
			}
			tr.check(t, returned)
		})
	}
}

// TestNetworkErrors uses real failures: a closed port, a TLS certificate
// the client does not trust, a server that never answers.
func TestNetworkErrors(t *testing.T) {
	t.Run("connection refused exhausts attempts", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		if err := ln.Close(); err != nil {
			t.Fatal(err)
		}
		clk := newClock()
		c := &http.Client{Transport: ghretry.New(noKeepAlive(), ghretry.Config{Clock: clk, Rand: half, MaxAttempts: 3})}
		_, err = c.Get("http://" + addr + "/repos/a/b")
		if !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "3 attempts") {
			t.Fatalf("err = %v, want connection refused after 3 attempts", err)
		}
		if got, want := clk.Sleeps(), []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}; !slices.Equal(got, want) {
			t.Errorf("sleeps %v, want %v", got, want)
		}
	})
	t.Run("untrusted certificate not retried", func(t *testing.T) {
		var n int
		var mu sync.Mutex
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			n++
			mu.Unlock()
		}))
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
		srv.StartTLS()
		defer srv.Close()
		clk := newClock()
		c := &http.Client{Transport: ghretry.New(noKeepAlive(), ghretry.Config{Clock: clk, Rand: half})}
		_, err := c.Get(srv.URL)
		var cve *tls.CertificateVerificationError
		if !errors.As(err, &cve) {
			t.Fatalf("err = %v, want certificate error", err)
		}
		if got := clk.Sleeps(); len(got) != 0 {
			t.Errorf("retried a certificate error: sleeps %v", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if n != 0 {
			t.Errorf("handler ran %d times behind an untrusted certificate", n)
		}
	})
	t.Run("response header timeout retried", func(t *testing.T) {
		release := make(chan struct{})
		var mu sync.Mutex
		n := 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			n++
			first := n == 1
			mu.Unlock()
			if first {
				<-release
			}
		}))
		defer srv.Close()
		defer close(release)
		clk := newClock()
		next := noKeepAlive()
		next.ResponseHeaderTimeout = 100 * time.Millisecond
		c := &http.Client{Transport: ghretry.New(next, ghretry.Config{Clock: clk, Rand: half})}
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		mu.Lock()
		defer mu.Unlock()
		if n != 2 {
			t.Errorf("attempts %d, want 2", n)
		}
	})
	t.Run("cancelled before sending", func(t *testing.T) {
		clk := newClock()
		srv := newScripted(t, clk, step{status: 200})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", srv.srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = (&http.Client{Transport: ghretry.New(noKeepAlive(), ghretry.Config{Clock: clk})}).Do(req)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if len(clk.Sleeps()) != 0 {
			t.Errorf("retried after cancellation: %v", clk.Sleeps())
		}
	})
}

// TestCancelDuringWait: a ctx cancelled while the transport waits (backoff,
// rate limit, pacing) ends the call at once with the ctx error.
func TestCancelDuringWait(t *testing.T) {
	tests := []struct {
		name   string
		method string
		pace   time.Duration
		steps  []step
		want   time.Duration // the wait that was interrupted
		calls  int
	}{
		{name: "backoff", method: "GET", pace: -1, steps: []step{{status: 503}}, want: 250 * time.Millisecond, calls: 1},
		{name: "rate limit", method: "GET", pace: -1, steps: []step{{status: 403, header: hdr("Retry-After", "7")}}, want: 7 * time.Second, calls: 1},
		{name: "content pacing", method: "POST", pace: time.Second, steps: []step{{status: 201}}, want: time.Second, calls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			clk.block = make(chan time.Duration, 1)
			srv := newScripted(t, clk, tc.steps...)
			rt := ghretry.New(noKeepAlive(), ghretry.Config{Clock: clk, Rand: half, ContentPace: tc.pace})
			c := &http.Client{Transport: rt}
			if tc.method == "POST" {
				// The first content request takes the slot; the second waits for the next one.
				clk.mu.Lock()
				clk.block = nil
				clk.mu.Unlock()
				resp, err := c.Post(srv.srv.URL, "application/json", strings.NewReader("{}"))
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				clk.mu.Lock()
				clk.block = make(chan time.Duration, 1)
				clk.mu.Unlock()
			}
			block := clk.block
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				req, err := http.NewRequestWithContext(ctx, tc.method, srv.srv.URL, strings.NewReader("{}"))
				if err != nil {
					done <- err
					return
				}
				resp, err := c.Do(req)
				if err == nil {
					_ = resp.Body.Close()
				}
				done <- err
			}()
			select {
			case d := <-block:
				if d != tc.want {
					t.Errorf("waiting %v, want %v", d, tc.want)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("transport never waited")
			}
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v, want context.Canceled", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("cancel did not end the wait")
			}
			if got := len(srv.arrivals()); got != tc.calls {
				t.Errorf("server saw %d requests, want %d", got, tc.calls)
			}
		})
	}
}

func TestBodiesReplayed(t *testing.T) {
	payload := `{"message":"promote payment to prod","content":"` + strings.Repeat("x", 4096) + `"}`
	tests := []struct {
		name    string
		getBody bool
	}{{"with GetBody", true}, {"buffered", false}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			srv := newScripted(t, clk, step{status: 502}, step{hangup: true}, step{status: 429, header: hdr("Retry-After", "2")}, step{status: 201})
			c := &http.Client{Transport: ghretry.New(noKeepAlive(), ghretry.Config{Clock: clk, Rand: half, ContentPace: -1})}
			req, err := http.NewRequest("POST", srv.srv.URL+"/repos/a/b/pulls", strings.NewReader(payload))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.getBody {
				req.GetBody = nil
				req.Body = io.NopCloser(strings.NewReader(payload)) // unknown type: must be buffered
				req.ContentLength = -1
			}
			req.Header.Set("Authorization", "token abc")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != 201 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got := srv.arrivals()
			if len(got) != 4 {
				t.Fatalf("%d attempts, want 4", len(got))
			}
			for i, a := range got {
				if a.Body != payload || a.Method != "POST" || a.Auth != "token abc" {
					t.Errorf("attempt %d: %s body %d bytes auth %q; want the original request", i+1, a.Method, len(a.Body), a.Auth)
				}
			}
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestHostileBodies(t *testing.T) {
	tests := []struct {
		name string
		body io.Reader
		want string
	}{
		{"oversized without GetBody", io.LimitReader(zeros{}, ghretry.MaxBody+1), "exceeds"},
		{"unreadable", errReader{}, "disk on fire"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			srv := newScripted(t, clk, step{status: 201})
			req, err := http.NewRequest("POST", srv.srv.URL, io.NopCloser(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			_, err = ghretry.New(noKeepAlive(), ghretry.Config{Clock: clk, ContentPace: -1}).RoundTrip(req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if n := len(srv.arrivals()); n != 0 {
				t.Errorf("server saw %d requests", n)
			}
		})
	}
	t.Run("exactly MaxBody is sent", func(t *testing.T) {
		clk := newClock()
		var got int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			if err != nil {
				t.Error(err)
			}
			got = n
		}))
		defer srv.Close()
		req, err := http.NewRequest("POST", srv.URL, io.NopCloser(io.LimitReader(zeros{}, ghretry.MaxBody)))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ghretry.New(noKeepAlive(), ghretry.Config{Clock: clk, ContentPace: -1}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if got != ghretry.MaxBody {
			t.Errorf("server read %d bytes, want %d", got, ghretry.MaxBody)
		}
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestContentPacing(t *testing.T) {
	s := time.Second
	type req struct {
		method  string
		advance time.Duration // fake time passing before the request
	}
	tests := []struct {
		name     string
		pace     time.Duration
		reqs     []req
		sleeps   []time.Duration
		arrivals []time.Duration
	}{
		{name: "content requests spaced, GETs not",
			reqs:     []req{{method: "POST"}, {method: "POST"}, {method: "GET"}, {method: "GET"}, {method: "PATCH"}, {method: "PUT"}, {method: "DELETE"}, {method: "GET"}},
			sleeps:   []time.Duration{s, s, s, s},
			arrivals: []time.Duration{0, s, s, s, 2 * s, 3 * s, 4 * s, 4 * s}},
		{name: "time already passed counts",
			reqs:     []req{{method: "POST"}, {method: "POST", advance: 400 * time.Millisecond}, {method: "POST", advance: 5 * s}},
			sleeps:   []time.Duration{600 * time.Millisecond},
			arrivals: []time.Duration{0, s, 6 * s}},
		{name: "custom pace", pace: 250 * time.Millisecond,
			reqs:     []req{{method: "POST"}, {method: "POST"}, {method: "HEAD"}, {method: "POST"}},
			sleeps:   []time.Duration{250 * time.Millisecond, 250 * time.Millisecond},
			arrivals: []time.Duration{0, 250 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond}},
		{name: "negative disables", pace: -1,
			reqs:     []req{{method: "POST"}, {method: "POST"}, {method: "DELETE"}},
			arrivals: []time.Duration{0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			srv := newScripted(t, clk, step{status: 200})
			c := &http.Client{Transport: ghretry.New(noKeepAlive(), ghretry.Config{Clock: clk, ContentPace: tc.pace})}
			for _, r := range tc.reqs {
				clk.advance(r.advance)
				req, err := http.NewRequest(r.method, srv.srv.URL, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
			}
			if got := clk.Sleeps(); !slices.Equal(got, tc.sleeps) {
				t.Errorf("sleeps %v, want %v", got, tc.sleeps)
			}
			if got := offsets(srv.arrivals()); !slices.Equal(got, tc.arrivals) {
				t.Errorf("requests at %v, want %v", got, tc.arrivals)
			}
		})
	}
}

// TestContentPacingConcurrent: concurrent content requests of one transport
// get distinct slots ContentPace apart.
func TestContentPacingConcurrent(t *testing.T) {
	clk := newClock()
	clk.frozen = true
	srv := newScripted(t, clk, step{status: 201})
	c := &http.Client{Transport: ghretry.New(noKeepAlive(), ghretry.Config{Clock: clk})}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			resp, err := c.Post(srv.srv.URL, "application/json", strings.NewReader("{}"))
			if err != nil {
				t.Error(err)
				return
			}
			_ = resp.Body.Close()
		})
	}
	wg.Wait()
	got := clk.Sleeps()
	slices.Sort(got)
	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("pacing waits %v, want %v", got, want)
	}
}

func TestLogAndMetrics(t *testing.T) {
	var buf bytes.Buffer
	reg := prometheus.NewRegistry()
	clk := newClock()
	srv := newScripted(t, clk, step{status: 502, body: `{"secret":"response-body"}`}, step{status: 403, header: hdr("Retry-After", "3")}, step{status: 201})
	cfg := ghretry.Config{Clock: clk, Rand: half, Log: zerolog.New(&buf), Registerer: reg,
		Route: func(method, path string) string { return method + " /repos/{owner}/{repo}/pulls" }}
	rt := ghretry.New(noKeepAlive(), cfg)
	ghretry.New(noKeepAlive(), cfg) // a second transport shares the registered metrics
	req, err := http.NewRequest("POST", srv.srv.URL+"/repos/acme/gitops/pulls?access_token=secret-query", strings.NewReader(`{"title":"secret-request-body"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "token secret-token")
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want one per retry:\n%s", len(lines), buf.String())
	}
	want := []map[string]any{
		{"level": "info", "method": "POST", "route": "POST /repos/{owner}/{repo}/pulls", "attempt": 1.0, "wait": 250.0, "reason": "server_error", "status": 502.0, "message": "github request retried"},
		{"level": "info", "method": "POST", "route": "POST /repos/{owner}/{repo}/pulls", "attempt": 2.0, "wait": 3000.0, "reason": "secondary_rate_limit", "status": 403.0, "message": "github request retried"},
	}
	for i, l := range lines {
		if strings.Contains(l, "secret") {
			t.Errorf("log line leaks a header, query or body: %s", l)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatal(err)
		}
		for k, v := range want[i] {
			if got[k] != v {
				t.Errorf("line %d: %s = %v, want %v", i+1, k, got[k], v)
			}
		}
	}

	const exp = `
# HELP promobot_github_retries_total GitHub API requests retried, by reason.
# TYPE promobot_github_retries_total counter
promobot_github_retries_total{reason="secondary_rate_limit"} 1
promobot_github_retries_total{reason="server_error"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "promobot_github_retries_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "promobot_github_wait_seconds"); err != nil || n != 3 {
		t.Errorf("wait histogram series = %d, %v; want 3 (server_error, secondary_rate_limit, content_pace)", n, err)
	}
}

func TestWaitErrorCountedAndLogged(t *testing.T) {
	var buf bytes.Buffer
	reg := prometheus.NewRegistry()
	clk := newClock()
	srv := newScripted(t, clk, step{status: 403, header: primary(start.Add(time.Hour))})
	rt := ghretry.New(noKeepAlive(), ghretry.Config{Clock: clk, Log: zerolog.New(&buf), Registerer: reg})
	_, err := (&http.Client{Transport: rt}).Get(srv.srv.URL)
	var we *ghretry.WaitError
	if !errors.As(err, &we) || we.Reason != "primary_rate_limit" || !we.Until.Equal(start.Add(time.Hour+time.Second)) {
		t.Fatalf("err = %v, want primary *WaitError until reset+1s", err)
	}
	if !strings.Contains(err.Error(), "retry after 2023-11-14T23:13:21Z") {
		t.Errorf("error text %q lacks the retry time", err)
	}
	const exp = `
# HELP promobot_github_rate_limit_deferrals_total GitHub API requests given up with a retry time because the rate-limit wait was too long.
# TYPE promobot_github_rate_limit_deferrals_total counter
promobot_github_rate_limit_deferrals_total{reason="primary_rate_limit"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "promobot_github_rate_limit_deferrals_total"); err != nil {
		t.Error(err)
	}
	if !strings.Contains(buf.String(), "deferring") {
		t.Errorf("no log line for the deferral: %q", buf.String())
	}
}
