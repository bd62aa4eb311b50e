package redeliver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// fakeHook is a hook's delivery log, newest first, served in pages of
// perPage with cursors "c<index>".
type fakeHook struct {
	mu        sync.Mutex
	name      string
	log       []Delivery // newest first
	perPage   int
	listErr   error
	refuse    map[int64]error // Redeliver answers
	lists     []string        // cursors asked for
	requested []int64
	nextID    int64
}

func newHook() *fakeHook {
	return &fakeHook{name: "app", perPage: 3, refuse: map[int64]error{}, nextID: 100}
}

// add records an attempt at minute m after t0 (newest goes first).
func (h *fakeHook) add(guid string, m int, status string, code int, redelivery bool) Delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextID++
	d := Delivery{ID: h.nextID, GUID: guid, DeliveredAt: t0.Add(time.Duration(m) * time.Minute), Status: status, StatusCode: code,
		Redelivery: redelivery, Event: "workflow_run", Action: "completed"}
	h.log = append([]Delivery{d}, h.log...)
	return d
}

func (h *fakeHook) Name() string { return h.name }

func (h *fakeHook) List(_ context.Context, cursor string) (Page, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lists = append(h.lists, cursor)
	if h.listErr != nil {
		return Page{}, h.listErr
	}
	start := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor[1:])
		if err != nil {
			return Page{}, fmt.Errorf("bad cursor %q", cursor)
		}
		start = n
	}
	end := min(start+h.perPage, len(h.log))
	p := Page{Deliveries: append([]Delivery(nil), h.log[start:end]...)}
	if end < len(h.log) {
		p.Next = "c" + strconv.Itoa(end)
	}
	return p, nil
}

func (h *fakeHook) Redeliver(_ context.Context, id int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.refuse[id]; err != nil {
		return err
	}
	h.requested = append(h.requested, id)
	return nil
}

func (h *fakeHook) reset() {
	h.mu.Lock()
	h.lists, h.requested = nil, nil
	h.mu.Unlock()
}

type memStore struct {
	mu      sync.Mutex
	states  map[string]State
	saveErr error
}

func (s *memStore) Load(_ context.Context, hook string) (State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.states[hook], nil
}

func (s *memStore) Save(_ context.Context, hook string, st State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saveErr != nil {
		return s.saveErr
	}
	if s.states == nil {
		s.states = map[string]State{}
	}
	s.states[hook] = st
	return nil
}

// fakeLock is held elsewhere when elsewhere is set; runs counts the locks
// taken.
type fakeLock struct {
	elsewhere bool
	err       error
	runs      chan struct{}
}

func (l *fakeLock) TryLock(ctx context.Context) (context.Context, func(), error) {
	switch {
	case l.elsewhere:
		return nil, nil, fmt.Errorf("%w: lease redeliver", ErrHeld)
	case l.err != nil:
		return nil, nil, l.err
	}
	if l.runs != nil {
		l.runs <- struct{}{}
	}
	return ctx, func() {}, nil
}

type rig struct {
	r     *Reconciler
	hook  *fakeHook
	store *memStore
	lock  *fakeLock
	reg   *prometheus.Registry
	now   time.Time
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	g := &rig{hook: newHook(), store: &memStore{}, lock: &fakeLock{}, reg: prometheus.NewRegistry(), now: t0.Add(time.Hour)}
	cfg.Source, cfg.Store, cfg.Lock, cfg.Registerer = Hooks{g.hook}, g.store, g.lock, g.reg
	cfg.Now = func() time.Time { return g.now }
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.r = r
	return g
}

func (g *rig) once(t *testing.T) Report {
	t.Helper()
	g.hook.reset()
	rep, err := g.r.Once(context.Background())
	if err != nil {
		t.Fatalf("Once: %v", err)
	}
	return rep
}

func (g *rig) counter(name string) float64 {
	mfs, err := g.reg.Gather()
	if err != nil {
		panic(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

const (
	connectFailed = "failed to connect to host"
	timedOut      = "timed out"
)

func invalid(code int) string { return "Invalid HTTP Response: " + strconv.Itoa(code) }

func TestReconcile(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		setup func(t *testing.T, g *rig)
		check func(t *testing.T, g *rig, rep Report)
	}{{
		name: "pages through every page and redelivers every kind of failure, oldest first",
		setup: func(t *testing.T, g *rig) {
			g.hook.add("ok-1", 1, StatusOK, 202, false)
			g.hook.add("refused-conn", 2, connectFailed, 0, false)
			g.hook.add("ok-2", 3, StatusOK, 200, false)
			g.hook.add("timeout", 4, timedOut, 0, false)
			g.hook.add("unavailable", 5, invalid(503), 503, false)
			g.hook.add("bad-gateway", 6, invalid(502), 502, false)
			g.hook.add("unauthorized", 7, invalid(401), 401, false) // a secret being rotated
			g.hook.add("ok-3", 8, StatusOK, 202, false)
		},
		check: func(t *testing.T, g *rig, rep Report) {
			if want := []string{"", "c3", "c6"}; !slices.Equal(g.hook.lists, want) {
				t.Errorf("pages read with cursors %q, want %q", g.hook.lists, want)
			}
			if want := []int64{102, 104, 105, 106, 107}; !slices.Equal(g.hook.requested, want) {
				t.Errorf("redelivered %v, want %v (oldest first)", g.hook.requested, want)
			}
			if rep.Read != 8 || rep.Failed != 5 || rep.Requested != 5 || rep.Pending != 5 {
				t.Errorf("report = %+v", rep)
			}
			if st := g.store.states["app"]; st.Last != 108 || !st.LastAt.Equal(t0.Add(8*time.Minute)) || len(st.Pending) != 5 {
				t.Errorf("state = %+v", st)
			}
		},
	}, {
		name: "stops at the newest delivery read last time (with the overlap)",
		setup: func(t *testing.T, g *rig) {
			for i := range 10 {
				g.hook.add(fmt.Sprint("old-", i), i*10, StatusOK, 202, false) // 10 minutes apart
			}
			g.once(t)
			g.hook.add("new-1", 101, StatusOK, 202, false)
			g.hook.add("new-2", 102, invalid(503), 503, false)
		},
		check: func(t *testing.T, g *rig, rep Report) {
			// Page 1: new-2, new-1, old-9 (read, in the overlap), page 2:
			// old-8, 10 minutes before old-9, beyond the 2-minute overlap.
			if want := []string{"", "c3"}; !slices.Equal(g.hook.lists, want) {
				t.Errorf("pages read with cursors %q, want %q", g.hook.lists, want)
			}
			if rep.Read != 2 || rep.Failed != 1 || !slices.Equal(g.hook.requested, []int64{112}) {
				t.Errorf("report = %+v, requested %v", rep, g.hook.requested)
			}
		},
	}, {
		name: "an attempt listed late, inside the overlap, is read; those read before are not",
		setup: func(t *testing.T, g *rig) {
			at := func(m float64) time.Time { return t0.Add(time.Duration(m * float64(time.Minute))) }
			a := Delivery{ID: 101, GUID: "a", DeliveredAt: at(10), Status: StatusOK, StatusCode: 202, Event: "push"}
			b := Delivery{ID: 103, GUID: "b", DeliveredAt: at(11), Status: StatusOK, StatusCode: 202, Event: "push"}
			g.hook.log = []Delivery{b, a}
			g.once(t)
			// A slow attempt, made between a and b, is listed only now.
			slow := Delivery{ID: 102, GUID: "slow", DeliveredAt: at(10.5), Status: timedOut, Event: "push"}
			g.hook.log = []Delivery{b, slow, a}
		},
		check: func(t *testing.T, g *rig, rep Report) {
			if rep.Read != 1 || rep.Failed != 1 || !slices.Equal(g.hook.requested, []int64{102}) {
				t.Errorf("report = %+v, requested %v", rep, g.hook.requested)
			}
		},
	}, {
		name: "an event redelivered successfully is not redelivered again",
		setup: func(t *testing.T, g *rig) {
			g.hook.add("healed", 1, connectFailed, 0, false)
			g.hook.add("healed", 2, StatusOK, 202, true) // someone pressed Redeliver
			g.hook.add("retried-twice", 3, invalid(503), 503, false)
			g.hook.add("retried-twice", 4, invalid(503), 503, true)
			g.hook.add("retried-twice", 5, StatusOK, 202, true)
		},
		check: func(t *testing.T, g *rig, rep Report) {
			if len(g.hook.requested) != 0 || rep.Failed != 3 || rep.Pending != 0 {
				t.Errorf("report = %+v, requested %v", rep, g.hook.requested)
			}
		},
	}, {
		name: "a pending event whose redelivery succeeded is done",
		setup: func(t *testing.T, g *rig) {
			g.hook.add("x", 1, connectFailed, 0, false)
			if rep := g.once(t); rep.Requested != 1 {
				t.Fatalf("first run: %+v", rep)
			}
			g.hook.add("x", 61, StatusOK, 202, true)
		},
		check: func(t *testing.T, g *rig, rep Report) {
			if rep.Recovered != 1 || rep.Pending != 0 || len(g.hook.requested) != 0 {
				t.Errorf("report = %+v, requested %v", rep, g.hook.requested)
			}
			if len(g.store.states["app"].Pending) != 0 {
				t.Errorf("pending = %+v", g.store.states["app"].Pending)
			}
		},
	}, {
		name: "deliveries older than GitHub's window are neither read nor redelivered",
		cfg:  Config{MaxAge: 3 * 24 * time.Hour},
		setup: func(t *testing.T, g *rig) {
			g.now = t0.Add(3*24*time.Hour + 30*time.Minute)
			g.hook.add("ancient", 1, connectFailed, 0, false)
			g.hook.add("older-still-ok", 2, StatusOK, 202, false)
			g.hook.add("recent", 40, connectFailed, 0, false)
		},
		check: func(t *testing.T, g *rig, rep Report) {
			if rep.Read != 1 || !slices.Equal(g.hook.requested, []int64{103}) {
				t.Errorf("report = %+v, requested %v", rep, g.hook.requested)
			}
		},
	}, {
		name: "a pending event that grew too old is given up",
		cfg:  Config{MaxAge: 3 * 24 * time.Hour},
		setup: func(t *testing.T, g *rig) {
			g.hook.add("doomed", 1, connectFailed, 0, false)
			g.once(t)
			g.now = t0.Add(3*24*time.Hour + 2*time.Minute)
		},
		check: func(t *testing.T, g *rig, rep Report) {
			if rep.GivenUp != 1 || rep.Pending != 0 || len(g.hook.requested) != 0 {
				t.Errorf("report = %+v, requested %v", rep, g.hook.requested)
			}
			if v := g.counter("promobot_redeliver_given_up_total"); v != 1 {
				t.Errorf("given_up = %v", v)
			}
		},
	}, {
		name: "content promobot refused is not redelivered",
		setup: func(t *testing.T, g *rig) {
			g.hook.add("malformed", 1, invalid(400), 400, false)
			g.hook.add("huge", 2, invalid(413), 413, false)
		},
		check: func(t *testing.T, g *rig, rep Report) {
			if rep.GivenUp != 2 || rep.Failed != 2 || len(g.hook.requested) != 0 {
				t.Errorf("report = %+v, requested %v", rep, g.hook.requested)
			}
		},
	}, {
		name: "lease held elsewhere: nothing is read, asked or saved",
		setup: func(t *testing.T, g *rig) {
			g.lock.elsewhere = true
			g.hook.add("x", 1, connectFailed, 0, false)
		},
		check: func(t *testing.T, g *rig, rep Report) {
			if !rep.Skipped || len(g.hook.lists) != 0 || len(g.hook.requested) != 0 || len(g.store.states) != 0 {
				t.Errorf("report = %+v, lists %v, requested %v, states %v", rep, g.hook.lists, g.hook.requested, g.store.states)
			}
			if v := g.counter("promobot_redeliver_runs_total"); v != 0 {
				t.Errorf("runs = %v", v)
			}
		},
	}, {
		name: "GitHub refusing a redelivery gives the event up; the others go on",
		setup: func(t *testing.T, g *rig) {
			d := g.hook.add("gone", 1, connectFailed, 0, false)
			g.hook.add("fine", 2, connectFailed, 0, false)
			g.hook.refuse[d.ID] = fmt.Errorf("%w: 422 Validation Failed", ErrRefused)
		},
		check: func(t *testing.T, g *rig, rep Report) {
			if rep.GivenUp != 1 || rep.Requested != 1 || rep.Pending != 1 || !slices.Equal(g.hook.requested, []int64{102}) {
				t.Errorf("report = %+v, requested %v", rep, g.hook.requested)
			}
			if v := g.counter("promobot_redeliver_errors_total"); v != 1 {
				t.Errorf("errors = %v", v)
			}
		},
	}, {
		name: "GitHub unwell: the event stays pending and is asked for next run",
		setup: func(t *testing.T, g *rig) {
			d := g.hook.add("x", 1, connectFailed, 0, false)
			g.hook.refuse[d.ID] = errors.New("502 Bad Gateway")
			g.once(t)
			delete(g.hook.refuse, d.ID)
		},
		check: func(t *testing.T, g *rig, rep Report) {
			if rep.Read != 0 || rep.Requested != 1 || !slices.Equal(g.hook.requested, []int64{101}) {
				t.Errorf("report = %+v, requested %v", rep, g.hook.requested)
			}
		},
	}, {
		name: "a redelivery that failed again is asked for after the backoff, not before",
		cfg:  Config{Backoff: time.Minute},
		setup: func(t *testing.T, g *rig) {
			g.hook.add("x", 1, connectFailed, 0, false)
			g.once(t) // request 1 at now
			g.hook.add("x", 61, invalid(503), 503, true)
			g.now = g.now.Add(30 * time.Second)
			if rep := g.once(t); rep.Requested != 0 || rep.Failed != 1 {
				t.Fatalf("inside the backoff: %+v", rep)
			}
			g.now = g.now.Add(31 * time.Second) // a minute after request 1
		},
		check: func(t *testing.T, g *rig, rep Report) {
			if !slices.Equal(g.hook.requested, []int64{102}) {
				t.Errorf("requested %v, want the newest failed attempt 102", g.hook.requested)
			}
			if p := g.store.states["app"].Pending["x"]; p == nil || p.Requests != 2 {
				t.Errorf("pending = %+v", p)
			}
		},
	}, {
		name: "at most MaxRequests a run, the oldest events first",
		cfg:  Config{MaxRequests: 2},
		setup: func(t *testing.T, g *rig) {
			for i := range 5 {
				g.hook.add(fmt.Sprint("e", i), i, connectFailed, 0, false)
			}
		},
		check: func(t *testing.T, g *rig, rep Report) {
			if !slices.Equal(g.hook.requested, []int64{101, 102}) || rep.Pending != 5 {
				t.Errorf("report = %+v, requested %v", rep, g.hook.requested)
			}
		},
	}, {
		name: "beyond MaxPending the oldest events are given up",
		cfg:  Config{MaxPending: 2},
		setup: func(t *testing.T, g *rig) {
			for i := range 4 {
				g.hook.add(fmt.Sprint("e", i), i, connectFailed, 0, false)
			}
		},
		check: func(t *testing.T, g *rig, rep Report) {
			if !slices.Equal(g.hook.requested, []int64{103, 104}) || rep.GivenUp != 2 || rep.Pending != 2 {
				t.Errorf("report = %+v, requested %v", rep, g.hook.requested)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t, tc.cfg)
			tc.setup(t, g)
			tc.check(t, g, g.once(t))
		})
	}
}

func TestListFailureSavesNothing(t *testing.T) {
	g := newRig(t, Config{})
	g.hook.add("x", 1, connectFailed, 0, false)
	g.hook.listErr = errors.New("502 Bad Gateway")
	if _, err := g.r.Once(context.Background()); err == nil {
		t.Fatal("Once succeeded with GitHub failing")
	}
	if len(g.store.states) != 0 || len(g.hook.requested) != 0 {
		t.Fatalf("state %v, requested %v", g.store.states, g.hook.requested)
	}
	if v := g.counter("promobot_redeliver_errors_total"); v != 1 {
		t.Errorf("errors = %v", v)
	}
	g.hook.listErr = nil
	if rep := g.once(t); rep.Requested != 1 {
		t.Fatalf("after GitHub recovered: %+v", rep)
	}
}

func TestStateSurvivesARestart(t *testing.T) {
	g := newRig(t, Config{})
	g.hook.add("x", 1, connectFailed, 0, false)
	g.once(t)
	// A new Reconciler (a restarted process) on the same store.
	r2, err := New(Config{Source: Hooks{g.hook}, Store: g.store, Lock: g.lock, Now: func() time.Time { return g.now.Add(10 * time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	g.hook.reset()
	rep, err := r2.Once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Read != 0 || rep.Requested != 0 || rep.Pending != 1 || len(g.hook.lists) != 1 {
		t.Fatalf("after a restart: %+v, lists %v (the old deliveries must not be read again, nor the event asked for inside its backoff)", rep, g.hook.lists)
	}
}

func TestMetrics(t *testing.T) {
	g := newRig(t, Config{})
	g.hook.add("x", 1, connectFailed, 0, false)
	g.hook.add("y", 2, invalid(503), 503, false)
	g.once(t)
	for name, want := range map[string]float64{
		"promobot_redeliver_runs_total":         1,
		"promobot_redeliver_failed_found_total": 2,
		"promobot_redeliver_requested_total":    2,
		"promobot_redeliver_errors_total":       0,
	} {
		if got := g.counter(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if n, err := testutil.GatherAndCount(g.reg); err != nil || n < 4 {
		t.Errorf("gathered %d series, %v", n, err)
	}
}

func TestRunRunsAtOnceThenEveryInterval(t *testing.T) {
	lock := &fakeLock{runs: make(chan struct{})}
	r, err := New(Config{Source: Hooks{newHook()}, Store: &memStore{}, Lock: lock, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	<-lock.runs // at once
	<-lock.runs // after an interval
	cancel()
	go func() {
		for range lock.runs { // a tick that raced the cancel
		}
	}()
	<-done
	close(lock.runs)
}

func TestNewRequiresItsParts(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New accepted a Config without Source, Store and Lock")
	}
}
