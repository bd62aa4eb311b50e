package budget

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/queue/queuetest"
)

const waitLong = 30 * time.Second

// jetStream starts an embedded NATS server and returns a connect function:
// each call is one more process's connection.
func jetStream(t *testing.T) func() jetstream.JetStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	return queuetest.JetStream(t, ctx)
}

func open(t *testing.T, js jetstream.JetStream, cfg Config) *Budget {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	b, err := Open(ctx, js, cfg)
	if err != nil {
		t.Fatalf("open budget: %v", err)
	}
	return b
}

// recorder is GitHub: it notes when each request arrives.
type recorder struct {
	mu    sync.Mutex
	sends []send
}

type send struct {
	at     time.Time
	method string
	path   string
	who    string // X-Who header: the promotion that sent it
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.sends = append(r.sends, send{time.Now(), req.Method, req.URL.Path, req.Header.Get("X-Who")})
	r.mu.Unlock()
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("{}")), Request: req}, nil
}

func (r *recorder) writes() []send {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []send
	for _, s := range r.sends {
		if s.method != http.MethodGet {
			out = append(out, s)
		}
	}
	return out
}

func write(ctx context.Context, t *testing.T, rt http.RoundTripper, method, path, who string) error {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, "https://api.github.com"+path, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Who", who)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// maxInWindow is the most sends in any period-long window.
func maxInWindow(sends []send, period time.Duration) int {
	most := 0
	for i := range sends {
		n := 0
		for j := range sends {
			if !sends[j].at.After(sends[i].at) && sends[j].at.After(sends[i].at.Add(-period)) {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

// Two processes share one budget: 20 promotions of 3 writes each, from 8
// workers split across both, never make more than the window allows, and
// a promotion asked for by a person, arriving after the fan-out, writes
// before the fan-out's tail.
func TestSharedAcrossProcesses(t *testing.T) {
	connect := jetStream(t)
	win := Window{Name: "w", Period: 300 * time.Millisecond, Limit: 6}
	cfg := Config{Windows: []Window{win}, Margin: 20 * time.Millisecond, WaitInPlace: waitLong}
	gh := &recorder{}
	procs := []*Budget{open(t, connect(), cfg), open(t, connect(), cfg)}
	rts := []http.RoundTripper{procs[0].Transport(gh), procs[1].Transport(gh)}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()

	created := time.Now()
	promote := func(i int, id string, prio Priority, created time.Time) error {
		b, rt := procs[i%2], rts[i%2]
		spend, done, err := b.Reserve(ctx, Ticket{Repo: "acme/gitops", ID: id, Priority: prio, Created: created, Writes: 3})
		if err != nil {
			return err
		}
		defer done()
		for range 3 {
			if err := write(spend, t, rt, http.MethodPost, "/repos/acme/gitops/git/trees", id); err != nil {
				return err
			}
		}
		return nil
	}
	jobs := make(chan int)
	errs := make(chan error, 21)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range jobs {
				errs <- promote(w, fmt.Sprintf("fan:%d", i), Bulk, created)
			}
		})
	}
	for i := range 20 {
		jobs <- i
	}
	// Every worker now holds a fan-out promotion; the person's comes next.
	wg.Go(func() { errs <- promote(1, "cmd:0", Urgent, time.Now()) })
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ws := gh.writes()
	if len(ws) != 63 {
		t.Fatalf("%d writes, want 63", len(ws))
	}
	if most := maxInWindow(ws, win.Period); most > win.Limit {
		t.Errorf("%d writes within %v, limit %d", most, win.Period, win.Limit)
	}
	// The command's last write comes before the fan-out's last 6.
	last := map[string]int{}
	for i, s := range ws {
		last[s.who] = i
	}
	var order []string
	for who := range last {
		order = append(order, who)
	}
	slices.SortFunc(order, func(a, b string) int { return last[a] - last[b] })
	if pos := slices.Index(order, "cmd:0"); pos >= len(order)-2 {
		t.Errorf("the command finished %d of %d, not before the fan-out's tail: %v", pos+1, len(order), order)
	} else {
		t.Logf("the command finished %d of %d promotions", pos+1, len(order))
	}
}

// A promotion whose turn is beyond the in-place wait is sent away with a
// Delay marked RetryAt; it is "first" once, and keeps its place.
func TestReserveSendsAway(t *testing.T) {
	connect := jetStream(t)
	win := Window{Name: "w", Period: time.Hour, Limit: 4}
	b := open(t, connect(), Config{Windows: []Window{win}, WaitInPlace: -1})
	ctx := context.Background()
	_, done, err := b.Reserve(ctx, Ticket{Repo: "acme/gitops", ID: "d:0", Writes: 4})
	if err != nil {
		t.Fatal(err)
	}
	done() // nothing written: the 4 go back
	spend, done, err := b.Reserve(ctx, Ticket{Repo: "acme/gitops", ID: "d:1", Writes: 3})
	if err != nil {
		t.Fatal(err)
	}
	rt := b.Transport(&recorder{})
	for range 3 {
		if err := write(spend, t, rt, http.MethodPatch, "/repos/acme/gitops/pulls/1", "d:1"); err != nil {
			t.Fatal(err)
		}
	}
	done()
	for i, first := range []bool{true, false} {
		_, _, err = b.Reserve(ctx, Ticket{Repo: "acme/gitops", ID: "d:2", Writes: 2})
		var d *Delay
		if !errors.As(err, &d) || d.First != first || d.Account != "acme" {
			t.Fatalf("ask %d: %v, want a Delay (first: %v)", i, err, first)
		}
		if k, at := fate.Of(err); k != fate.RetryAt || !at.Equal(d.Until) || !at.Equal(d.Retry) || time.Until(at) < 59*time.Minute {
			t.Errorf("fate %v at %v (%+v), want RetryAt an hour on", k, at, d)
		}
		if !strings.Contains(err.Error(), "waiting for GitHub's write budget (installation acme)") {
			t.Errorf("message %q", err)
		}
	}
	// With a lead, the intent comes back before its turn, to wait in place.
	lead := open(t, connect(), Config{Windows: []Window{win}, WaitInPlace: -1, Lead: 10 * time.Second})
	_, _, err = lead.Reserve(ctx, Ticket{Repo: "acme/gitops", ID: "d:3", Writes: 2})
	var d *Delay
	if !errors.As(err, &d) || !d.Retry.Equal(d.Until.Add(-10*time.Second)) || d.Ahead != 1 {
		t.Errorf("with a lead: %v (%+v), want back 10s before its turn, behind d:2", err, d)
	}
	// A write outside a reservation goes when it fits (3 of 4 spent)...
	if err := write(ctx, t, rt, http.MethodPost, "/api/v3/repos/ACME/gitops/issues/1/comments", "reply"); err != nil {
		t.Fatalf("reply with 1 of 4 left: %v", err)
	}
	// ... and waits when it does not.
	err = write(ctx, t, rt, http.MethodPost, "/api/v3/repos/ACME/gitops/issues/1/comments", "reply")
	if k, _ := fate.Of(err); k != fate.RetryAt {
		t.Errorf("reply with the hour spent: %v, want RetryAt", err)
	}
	// Another installation has its own budget.
	if err := write(ctx, t, rt, http.MethodPost, "/repos/other/repo/statuses/abc", "status"); err != nil {
		t.Errorf("other installation: %v", err)
	}
}

func TestTransportCharges(t *testing.T) {
	connect := jetStream(t)
	reg := prometheus.NewRegistry()
	win := Window{Name: "minute", Period: time.Minute, Limit: 10}
	b := open(t, connect(), Config{Windows: []Window{win}, Registerer: reg})
	gh := &recorder{}
	rt := b.Transport(gh)
	ctx := context.Background()
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/repos/acme/gitops/pulls"},             // a read
		{http.MethodPost, "/app/installations/77/access_tokens"}, // the App's token
		{http.MethodPost, "/api/v3/app/installations/77/access_tokens"},
		{http.MethodPost, "/graphql"}, // no installation named
	} {
		if err := write(ctx, t, rt, r.method, r.path, "free"); err != nil {
			t.Fatal(err)
		}
	}
	spend, done, err := b.Reserve(ctx, Ticket{Repo: "acme/gitops", ID: "d:0", Writes: 2})
	if err != nil {
		t.Fatal(err)
	}
	if Waited(spend) != 0 {
		t.Errorf("waited %v for an empty budget", Waited(spend))
	}
	for range 3 { // one more than reserved: charged on its own
		if err := write(spend, t, rt, http.MethodPut, "/api/v3/repos/acme/gitops/pulls/1/merge", "d:0"); err != nil {
			t.Fatal(err)
		}
	}
	done()
	done() // twice is harmless
	if err := write(ctx, t, rt, http.MethodDelete, "/repos/Acme/gitops/git/refs/heads/x", "x"); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP promobot_github_write_budget_remaining GitHub content-creating requests the deployment may still make in the window now, per installation (account) and window.
# TYPE promobot_github_write_budget_remaining gauge
promobot_github_write_budget_remaining{installation="acme",window="minute"} 6
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "promobot_github_write_budget_remaining"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(b.m.writes.WithLabelValues("acme")); got != 4 {
		t.Errorf("spent_total %v, want 4", got)
	}
}

func TestTokenModeAndNil(t *testing.T) {
	connect := jetStream(t)
	b := open(t, connect(), Config{Windows: GitHubWindows(80, 0), Token: true})
	if b.Account("acme/gitops") != TokenAccount || b.Account("other/x") != TokenAccount {
		t.Error("token mode: every repository spends the token's budget")
	}
	if len(b.cfg.Windows) != 1 || b.cfg.Windows[0].Period != time.Minute {
		t.Errorf("windows %+v, want the minute only", b.cfg.Windows)
	}
	if nb := open(t, connect(), Config{}); nb != nil {
		t.Fatal("no windows: want no budget")
	}
	var none *Budget
	ctx, done, err := none.Reserve(context.Background(), Ticket{Repo: "acme/gitops", Writes: 5})
	if err != nil || ctx == nil {
		t.Fatalf("nil budget: %v", err)
	}
	done()
	gh := &recorder{}
	if none.Transport(gh) != gh {
		t.Error("nil budget wraps the transport")
	}
	if keyOf("Acme.x") != "acct.Acme=2Ex" || accountOfKey(keyOf("Acme.x")) != "Acme.x" {
		t.Errorf("key %q → %q", keyOf("Acme.x"), accountOfKey(keyOf("Acme.x")))
	}
}
