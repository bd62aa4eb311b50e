// Package redeliver recovers webhook deliveries GitHub failed to make.
//
// GitHub does not try a failed delivery again by itself: an event sent while
// promobot was down (no connection), slow (timed out) or without NATS (it
// answers 503) is lost unless someone asks GitHub to redeliver it. The
// Reconciler does that: on every run it reads the hook's recent deliveries
// from GitHub (newest first, up to the newest it read last time), finds the
// events (a delivery's guid; its redeliveries share it) none of whose
// attempts succeeded, and asks GitHub to deliver each again, oldest event
// first, within GitHub's retention window. The redelivered webhook goes
// through the normal signed path with the event's guid as
// X-GitHub-Delivery, so an event promobot had in fact stored (its answer
// timed out) is dropped by the queue's duplicate window.
//
// The Reconciler runs in one process of a deployment at a time (a Lock) and
// keeps, per hook, where it stopped and the events it is redelivering (a
// Store), so a restart neither reads the whole window again nor forgets an
// event whose redelivery has not succeeded yet.
package redeliver

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// GitHub keeps deliveries it can redeliver for three days on github.com and
// for seven on GitHub Enterprise Server.
const (
	Retention           = 3 * 24 * time.Hour
	RetentionEnterprise = 7 * 24 * time.Hour
)

// StatusOK is the status of a delivery GitHub counts as successful (a 2xx
// answer). Every other status is a failure: "Invalid HTTP Response: 503", a
// timeout, "failed to connect to host" (no answer at all: status code 0).
const StatusOK = "OK"

// Delivery is one delivery attempt as GitHub records it.
type Delivery struct {
	ID          int64 // the attempt's id; redeliveries have their own
	GUID        string
	DeliveredAt time.Time
	Redelivery  bool
	Status      string
	StatusCode  int // 0: no HTTP answer (connection failure, timeout)
	Event       string
	Action      string
}

// Succeeded reports whether GitHub counts the attempt as delivered.
func (d Delivery) Succeeded() bool { return d.Status == StatusOK }

// refused reports whether the receiver refused the delivery's content, so
// the same bytes would be refused again: promobot answers 400 to a payload
// it cannot read, 405, 413 to one over its size limit, 415 to a content type
// it does not take, 422. Anything else (5xx, 401 after a secret rotation,
// 404 from a proxy while promobot was being deployed, no answer) is worth
// another attempt.
func (d Delivery) refused() bool {
	switch d.StatusCode {
	case 400, 405, 413, 415, 422:
		return true
	}
	return false
}

// Page is one page of a hook's deliveries, newest first.
type Page struct {
	Deliveries []Delivery
	Next       string // cursor of the next (older) page; "" on the last
}

// ErrRefused marks a redelivery GitHub will never make (the delivery is
// unknown or too old): the event is given up.
var ErrRefused = errors.New("github refuses to redeliver")

// Hook is one webhook's deliveries on GitHub.
type Hook interface {
	// Name identifies the hook in the Store and in logs; it must stay the
	// same across restarts ("app", "repo/owner/name/hook/42").
	Name() string
	// List returns the page of deliveries at cursor ("" for the newest).
	List(ctx context.Context, cursor string) (Page, error)
	// Redeliver asks GitHub for another attempt of delivery id; an error
	// wrapping ErrRefused means it never will.
	Redeliver(ctx context.Context, id int64) error
}

// Source names the hooks to reconcile on a run.
type Source interface {
	Hooks(ctx context.Context) ([]Hook, error)
}

// Hooks is a fixed set of hooks.
type Hooks []Hook

// Hooks returns hs.
func (hs Hooks) Hooks(context.Context) ([]Hook, error) { return hs, nil }

// State is what the Reconciler remembers of one hook between runs.
type State struct {
	// Last is the newest delivery id read, LastAt the newest delivery
	// time: the next run reads back to them, and Overlap further for
	// attempts listed late (a slow attempt listed after quicker, newer
	// ones), skipping the ones in Recent.
	Last   int64               `json:"last"`
	LastAt time.Time           `json:"last_at,omitzero"`
	Recent map[int64]time.Time `json:"recent,omitempty"`
	// Pending are the events, by guid, all of whose attempts failed: each
	// is redelivered until an attempt succeeds or GitHub can no longer
	// redeliver it.
	Pending map[string]*Pending `json:"pending,omitempty"`
}

// Pending is an event being redelivered.
type Pending struct {
	ID          int64     `json:"id"` // its newest failed attempt, the one to redeliver
	At          time.Time `json:"at"` // when that attempt was made
	First       time.Time `json:"first"`
	Event       string    `json:"event"`
	Action      string    `json:"action,omitempty"`
	Status      string    `json:"status"` // of its newest failed attempt
	StatusCode  int       `json:"status_code"`
	Requests    int       `json:"requests"` // redeliveries GitHub accepted
	RequestedAt time.Time `json:"requested_at,omitzero"`
}

// Store keeps each hook's State (promobot: NATS KV).
type Store interface {
	// Load returns the hook's state; the zero State when there is none.
	Load(ctx context.Context, hook string) (State, error)
	Save(ctx context.Context, hook string, s State) error
}

// ErrHeld is what Lock.TryLock returns when another process holds the lock.
var ErrHeld = errors.New("redeliver: another process is reconciling")

// Lock lets one process of a deployment reconcile at a time.
type Lock interface {
	// TryLock takes the lock without waiting: ErrHeld (wrapped) when
	// another process has it. The returned context ends when the lock is
	// lost; release gives it back.
	TryLock(ctx context.Context) (held context.Context, release func(), err error)
}

// Config configures a Reconciler. Source, Store and Lock are required.
type Config struct {
	Source Source
	Store  Store
	Lock   Lock
	// Interval between runs of Run; default one minute.
	Interval time.Duration
	// MaxAge is how old a delivery GitHub still redelivers; default
	// Retention (github.com). Older deliveries are neither read nor asked for.
	MaxAge time.Duration
	// Overlap is how far before the newest delivery read last time a run
	// reads again, for attempts GitHub lists late; default two minutes
	// (GitHub waits 10 s for an answer, 30 s on Enterprise Server).
	Overlap time.Duration
	// Backoff is the wait before asking again for an event whose
	// redelivery failed too (or never showed up); it doubles with each
	// request up to MaxBackoff. Defaults: one minute, one hour.
	Backoff, MaxBackoff time.Duration
	// MaxRequests bounds the redeliveries asked for in one run of one
	// hook, oldest events first; default 100.
	MaxRequests int
	// MaxPending bounds the events remembered per hook; beyond it the
	// oldest are given up. Default 1000.
	MaxPending int
	Log        zerolog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Reconciler finds failed deliveries and asks GitHub to redeliver them.
type Reconciler struct {
	cfg Config
	m   *metrics
}

// New checks cfg and registers the metrics.
func New(cfg Config) (*Reconciler, error) {
	if cfg.Source == nil || cfg.Store == nil || cfg.Lock == nil {
		return nil, errors.New("redeliver: Source, Store and Lock are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = Retention
	}
	if cfg.Overlap <= 0 {
		cfg.Overlap = 2 * time.Minute
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Minute
	}
	if cfg.MaxBackoff < cfg.Backoff {
		cfg.MaxBackoff = max(time.Hour, cfg.Backoff)
	}
	if cfg.MaxRequests <= 0 {
		cfg.MaxRequests = 100
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 1000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Reconciler{cfg: cfg, m: m}, nil
}

// Run reconciles at once and then every Interval until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := r.Once(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Log.Warn().Err(err).Msg("delivery reconciler: run failed; trying again next time")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Report says what one run did.
type Report struct {
	// Skipped: another process holds the lock; nothing was done.
	Skipped bool
	Hooks   int
	// Read counts the deliveries read that the previous run had not.
	Read int
	// Failed counts the failed attempts among them.
	Failed int
	// Requested counts the redeliveries GitHub accepted.
	Requested int
	// Recovered counts the events being redelivered whose attempt succeeded.
	Recovered int
	// GivenUp counts the events that will not be redelivered (too old,
	// refused by GitHub or by promobot, or too many).
	GivenUp int
	// Pending counts the events still being redelivered after the run.
	Pending int
}

// Once runs one reconciliation under the lock: each hook of the Source in
// turn. It does nothing when another process holds the lock.
func (r *Reconciler) Once(ctx context.Context) (Report, error) {
	var rep Report
	held, release, err := r.cfg.Lock.TryLock(ctx)
	if errors.Is(err, ErrHeld) {
		rep.Skipped = true
		r.cfg.Log.Debug().Msg("delivery reconciler: another process holds the lock; skipping this run")
		return rep, nil
	}
	if err != nil {
		r.m.errors.Inc()
		return rep, fmt.Errorf("take the reconciler's lock: %w", err)
	}
	defer release()
	r.m.runs.Inc()
	hooks, err := r.cfg.Source.Hooks(held)
	var errs []error
	if err != nil {
		// The hooks found are reconciled all the same.
		r.m.errors.Inc()
		errs = append(errs, fmt.Errorf("find the webhooks to reconcile: %w", err))
	}
	for _, h := range hooks {
		if err := r.hook(held, h, &rep); err != nil {
			r.m.errors.Inc()
			errs = append(errs, fmt.Errorf("%s: %w", h.Name(), err))
		}
		rep.Hooks++
	}
	return rep, errors.Join(errs...)
}

// hook reconciles one hook.
func (r *Reconciler) hook(ctx context.Context, h Hook, rep *Report) error {
	log := r.cfg.Log.With().Str("hook", h.Name()).Logger()
	st, err := r.cfg.Store.Load(ctx, h.Name())
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	if st.Pending == nil {
		st.Pending = map[string]*Pending{}
	}
	now := r.cfg.Now()
	fresh, err := r.read(ctx, h, &st, now.Add(-r.cfg.MaxAge))
	if err != nil {
		// Nothing is saved: the next run reads the same deliveries again.
		return err
	}
	rep.Read += len(fresh)
	r.judge(log, &st, fresh, rep)
	r.giveUpOld(log, &st, now, rep)
	if err := r.request(ctx, log, h, &st, now, rep); err != nil && ctx.Err() == nil {
		log.Warn().Err(err).Msg("delivery reconciler: GitHub did not take a redelivery request; asking again next run")
	}
	r.advance(&st, fresh)
	rep.Pending += len(st.Pending)
	if err := r.cfg.Store.Save(ctx, h.Name(), st); err != nil {
		// The next run reads these deliveries again and may ask for some
		// redeliveries twice; the queue drops the duplicates.
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// read pages through the deliveries not read before and inside the window
// (after horizon), newest first.
func (r *Reconciler) read(ctx context.Context, h Hook, st *State, horizon time.Time) ([]Delivery, error) {
	var fresh []Delivery
	var floor time.Time // older deliveries were read last time
	if st.Last != 0 {
		floor = st.LastAt.Add(-r.cfg.Overlap)
	}
	cursor := ""
	seen := map[string]bool{} // a cursor GitHub hands out twice would loop
	for {
		p, err := h.List(ctx, cursor)
		if err != nil {
			return nil, fmt.Errorf("list deliveries: %w", err)
		}
		for _, d := range p.Deliveries {
			if d.DeliveredAt.Before(horizon) {
				return fresh, nil // GitHub no longer redelivers these
			}
			if d.ID <= st.Last {
				if d.DeliveredAt.Before(floor) {
					return fresh, nil // where the last run stopped
				}
				if _, ok := st.Recent[d.ID]; ok {
					continue
				}
			}
			fresh = append(fresh, d)
		}
		if p.Next == "" || seen[p.Next] {
			return fresh, nil
		}
		seen[p.Next] = true
		cursor = p.Next
	}
}

// advance moves st past the deliveries just read, keeping those of the
// overlap in Recent.
func (r *Reconciler) advance(st *State, fresh []Delivery) {
	for _, d := range fresh {
		st.Last = max(st.Last, d.ID)
		if d.DeliveredAt.After(st.LastAt) {
			st.LastAt = d.DeliveredAt
		}
	}
	floor := st.LastAt.Add(-r.cfg.Overlap)
	recent := map[int64]time.Time{}
	for id, at := range st.Recent {
		if !at.Before(floor) {
			recent[id] = at
		}
	}
	for _, d := range fresh {
		if !d.DeliveredAt.Before(floor) {
			recent[d.ID] = d.DeliveredAt
		}
	}
	st.Recent = recent
}

// judge updates the pending events with the attempts just read: an event
// with a successful attempt is done; an event whose attempts all failed is
// (still) to be redelivered, from its newest failed attempt.
func (r *Reconciler) judge(log zerolog.Logger, st *State, fresh []Delivery, rep *Report) {
	byGUID := map[string][]Delivery{} // newest first, as read
	var order []string
	for _, d := range fresh {
		if _, ok := byGUID[d.GUID]; !ok {
			order = append(order, d.GUID)
		}
		byGUID[d.GUID] = append(byGUID[d.GUID], d)
		if !d.Succeeded() {
			rep.Failed++
			r.m.failed.Inc()
		}
	}
	for _, guid := range order {
		ds := byGUID[guid]
		ok := false
		for _, d := range ds {
			ok = ok || d.Succeeded()
		}
		p := st.Pending[guid]
		if ok {
			if p != nil {
				delete(st.Pending, guid)
				rep.Recovered++
				log.Info().Str("guid", guid).Str("event", p.Event).Int("requests", p.Requests).
					Msg("delivery reconciler: a failed delivery was redelivered successfully")
			}
			continue
		}
		last, first := ds[0], ds[len(ds)-1]
		if last.refused() {
			if p != nil {
				delete(st.Pending, guid)
			}
			rep.GivenUp++
			r.m.givenUp.WithLabelValues("receiver_refused").Inc()
			log.Warn().Str("guid", guid).Str("event", last.Event).Int("status_code", last.StatusCode).Str("status", last.Status).
				Msg("delivery reconciler: promobot refused this delivery's content; another attempt would be refused too, so it is not redelivered")
			continue
		}
		if p == nil {
			p = &Pending{First: first.DeliveredAt, Event: last.Event, Action: last.Action}
			st.Pending[guid] = p
			log.Info().Str("guid", guid).Str("event", last.Event).Str("action", last.Action).Int64("delivery", last.ID).
				Int("status_code", last.StatusCode).Str("status", last.Status).Time("delivered_at", last.DeliveredAt).
				Msg("delivery reconciler: found a failed delivery; asking GitHub to redeliver it")
		}
		p.ID, p.At, p.Status, p.StatusCode = last.ID, last.DeliveredAt, last.Status, last.StatusCode
	}
}

// giveUpOld drops the events GitHub can no longer redeliver, and the oldest
// beyond MaxPending.
func (r *Reconciler) giveUpOld(log zerolog.Logger, st *State, now time.Time, rep *Report) {
	for guid, p := range st.Pending {
		if now.Sub(p.At) > r.cfg.MaxAge {
			delete(st.Pending, guid)
			rep.GivenUp++
			r.m.givenUp.WithLabelValues("too_old").Inc()
			log.Error().Str("guid", guid).Str("event", p.Event).Int("requests", p.Requests).Time("first_delivered_at", p.First).
				Msg("delivery reconciler: this event was never delivered and GitHub can no longer redeliver it; it is lost")
		}
	}
	if extra := len(st.Pending) - r.cfg.MaxPending; extra > 0 {
		for _, guid := range oldestFirst(st.Pending)[:extra] {
			p := st.Pending[guid]
			delete(st.Pending, guid)
			rep.GivenUp++
			r.m.givenUp.WithLabelValues("too_many").Inc()
			log.Error().Str("guid", guid).Str("event", p.Event).Time("first_delivered_at", p.First).
				Msg("delivery reconciler: too many failed deliveries to remember; giving up the oldest")
		}
	}
}

// request asks GitHub to redeliver the events that are due, oldest first,
// so promotions happen in the order their events did.
func (r *Reconciler) request(ctx context.Context, log zerolog.Logger, h Hook, st *State, now time.Time, rep *Report) error {
	asked := 0
	for _, guid := range oldestFirst(st.Pending) {
		p := st.Pending[guid]
		if !r.due(p, now) {
			continue
		}
		if asked == r.cfg.MaxRequests {
			log.Info().Int("max", r.cfg.MaxRequests).Msg("delivery reconciler: redelivery requests for this run used up; the rest next run")
			return nil
		}
		asked++
		err := h.Redeliver(ctx, p.ID)
		switch {
		case errors.Is(err, ErrRefused):
			delete(st.Pending, guid)
			rep.GivenUp++
			r.m.errors.Inc()
			r.m.givenUp.WithLabelValues("github_refused").Inc()
			log.Error().Err(err).Str("guid", guid).Str("event", p.Event).Int64("delivery", p.ID).
				Msg("delivery reconciler: GitHub refuses to redeliver this event; it is lost")
		case err != nil:
			r.m.errors.Inc()
			return fmt.Errorf("redeliver %d (%s): %w", p.ID, guid, err) // GitHub unwell: the rest next run
		default:
			p.Requests++
			p.RequestedAt = now
			rep.Requested++
			r.m.requested.Inc()
			log.Info().Str("guid", guid).Str("event", p.Event).Int64("delivery", p.ID).Int("request", p.Requests).
				Msg("delivery reconciler: GitHub accepted the redelivery request")
		}
	}
	return nil
}

// due reports whether to ask for p now: at once the first time, then after
// a backoff that doubles with each request, whether or not its attempt
// showed up (a new failed attempt does not make it due sooner).
func (r *Reconciler) due(p *Pending, now time.Time) bool {
	if p.Requests == 0 {
		return true
	}
	wait := r.cfg.Backoff
	for i := 1; i < p.Requests && wait < r.cfg.MaxBackoff; i++ {
		wait *= 2
	}
	return !now.Before(p.RequestedAt.Add(min(wait, r.cfg.MaxBackoff)))
}

func oldestFirst(ps map[string]*Pending) []string {
	keys := make([]string, 0, len(ps))
	for k := range ps {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := ps[keys[i]], ps[keys[j]]
		if !a.First.Equal(b.First) {
			return a.First.Before(b.First)
		}
		return a.ID < b.ID
	})
	return keys
}

// metrics are the reconciler's Prometheus counters.
type metrics struct {
	runs, failed, requested, errors prometheus.Counter
	givenUp                         *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "promobot", Subsystem: "redeliver", Name: name, Help: help})
	}
	m := &metrics{
		runs:      c("runs_total", "Reconciliations this process ran (it held the lock)."),
		failed:    c("failed_found_total", "Failed webhook delivery attempts found in GitHub's delivery log."),
		requested: c("requested_total", "Redeliveries GitHub accepted."),
		errors:    c("errors_total", "Reconciler errors: GitHub, lock or state unavailable, redeliveries refused."),
		givenUp: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "promobot", Subsystem: "redeliver", Name: "given_up_total",
			Help: "Events never delivered that will not be redelivered, by reason (too_old, github_refused, receiver_refused, too_many)."},
			[]string{"reason"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, col := range []prometheus.Collector{m.runs, m.failed, m.requested, m.errors, m.givenUp} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("redeliver: metrics: %w", err)
		}
	}
	return m, nil
}
