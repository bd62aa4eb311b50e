// Package budget is the GitHub write budget one promobot deployment shares
// per App installation (per token in token mode). GitHub allows, in
// general, no more than 80 content-generating requests a minute and 500 an
// hour (its secondary rate limits); a promotion PR costs five to seven of
// them, and every worker process of a deployment spends from the same
// allowance. The budget keeps the whole deployment within it, so GitHub
// never has to refuse a write, and decides who writes first when there is
// not room for everyone.
//
// The state of each account (an App installation is one per account: the
// owner of the repositories written to) is one value in the JetStream KV
// bucket promobot-budget, changed only by compare-and-set:
//
//   - a ledger of what was written (POST, PATCH, PUT, DELETE) within the
//     longest window, each spend at the time of its last write;
//   - a line of promotions waiting for room, each with its priority
//     (Urgent: ChatOps commands and environments only people promote into;
//     Bulk: automatic promotions), its intent's creation time, and the
//     writes it will make.
//
// A promotion asks with Reserve before it writes. The line is planned from
// now, in order (priority, then age): each promotion gets the earliest time
// its writes fit every window, after everyone before it, and never before
// its worker said it would be back. A promotion whose time is now is
// granted; its writes go into the ledger at once (open until they are
// made, then settled with the real count). Otherwise it waits, keeping its
// place: in place when its time is near, else its intent is sent away
// until then (fate RetryAt) and comes back in its turn. So a promotion
// spends only when no older or more urgent one waits, a 200-service
// fan-out cannot starve a /promote prod, and nothing spins on 403s.
//
// Writes made outside a reservation (a command's reaction and reply, a
// status, a write beyond a reservation's estimate) are charged one by one
// by the Transport when they fit, waiting in place for room when it is
// near.
package budget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/promobot/promobot/internal/queue"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/fate"
)

// Bucket is the KV bucket of the budget state, one key per account.
const Bucket = "promobot-budget"

// GitHub's documented content-creation limits.
const (
	DefaultPerMinute = 80
	DefaultPerHour   = 500
)

// Defaults for zero Config fields.
const (
	DefaultWaitInPlace = 15 * time.Second
	DefaultGrace       = 10 * time.Second
	DefaultHoldMax     = 2 * time.Minute
	DefaultMargin      = time.Second
	DefaultLead        = 5 * time.Second
)

// TokenAccount is the one account of token mode: every request spends from
// the token's budget.
const TokenAccount = "token"

// Window is one limit: at most Limit writes in any Period.
type Window struct {
	Name   string // metric label: "minute", "hour"
	Period time.Duration
	Limit  int
}

// GitHubWindows are GitHub's two windows with the given limits; a limit of
// 0 or less leaves that window out.
func GitHubWindows(perMinute, perHour int) []Window {
	var ws []Window
	if perMinute > 0 {
		ws = append(ws, Window{Name: "minute", Period: time.Minute, Limit: perMinute})
	}
	if perHour > 0 {
		ws = append(ws, Window{Name: "hour", Period: time.Hour, Limit: perHour})
	}
	return ws
}

// Config configures the budget. With no Windows there is no budget.
type Config struct {
	Windows []Window
	// Token says promobot runs with one token (PROMOBOT_GITHUB_TOKEN):
	// one budget for every request, instead of one per installation.
	Token bool
	// Replicas of the KV bucket: 1, or 3 on a cluster (as the queue's).
	Replicas int
	// WaitInPlace is the longest a worker waits for room while holding its
	// intent (the queue heartbeats it meanwhile); a longer wait sends the
	// intent away until then. Zero: DefaultWaitInPlace.
	WaitInPlace time.Duration
	// Lead is how long before its turn a promotion sent away comes back
	// (it is read and planned again, then waits in place), so the budget
	// does not idle while it does. Zero: a third of WaitInPlace, at most
	// DefaultLead; negative: none.
	Lead time.Duration
	// Grace is how long past its time a waiting promotion blocks the line
	// for its worker to come back. Zero: DefaultGrace.
	Grace time.Duration
	// HoldMax is the longest a granted reservation counts as writing now
	// (a worker that died mid-promotion). Zero: DefaultHoldMax.
	HoldMax time.Duration
	// Margin is added to every window for clock skew between processes and
	// request latency. Zero: DefaultMargin; negative: none.
	Margin time.Duration
	// Now and Sleep are the clock (tests).
	Now        func() time.Time
	Sleep      func(ctx context.Context, d time.Duration) error
	Registerer prometheus.Registerer
	Log        zerolog.Logger
}

// Priority orders the line: lower first.
type Priority int

// The priorities.
const (
	// Urgent: a person asked (a ChatOps command), or the environment is
	// one only people promote into (prod, auto: false).
	Urgent Priority = iota
	// Bulk: automatic promotions.
	Bulk
)

func (p Priority) String() string {
	if p == Urgent {
		return "urgent"
	}
	return "bulk"
}

// Ticket is a promotion asking for room.
type Ticket struct {
	// Repo is the repository written to: its owner's installation pays.
	Repo string
	// ID names the promotion across deliveries of its intent (the intent
	// id and the target).
	ID       string
	Priority Priority
	// Created is when the intent was made; within a priority the older
	// goes first. Zero: when it first asks.
	Created time.Time
	// Writes is how many content-creating requests the promotion will make.
	Writes int
}

// Delay says a promotion (or a write) has to wait for GitHub's write
// budget. Reserve and the Transport return it marked with fate.RetryAt at
// Until.
type Delay struct {
	Account string
	// Until is when its turn is expected to come.
	Until time.Time
	// Retry is when to ask again: Config.Lead before Until, so that the
	// intent is read and planned again, and waits in place, when its turn
	// comes. The error's fate is RetryAt at Retry.
	Retry       time.Time
	Ahead       int // promotions before it in the line
	AheadWrites int
	// First is true the first time this promotion is sent away: it is
	// logged and reported once, not on every delivery.
	First bool
}

func (d *Delay) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "waiting for GitHub's write budget (installation %s)", d.Account)
	if d.Ahead > 0 {
		s := "s"
		if d.Ahead == 1 {
			s = ""
		}
		fmt.Fprintf(&b, ": %d promotion%s (%d writes) ahead", d.Ahead, s, d.AheadWrites)
	}
	fmt.Fprintf(&b, ", expected by %s", d.Until.UTC().Format("15:04:05 UTC"))
	return b.String()
}

// Budget is an open budget, safe for concurrent use. A nil *Budget is no
// budget: everything passes.
type Budget struct {
	kv    jetstream.KeyValue
	cfg   Config
	pol   policy
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	log   zerolog.Logger
	m     *metrics

	seq sync.Mutex // grant ids
	n   uint64
	id  string
}

// Open creates or updates the KV bucket and returns the budget; nil (and no
// error) when cfg has no window.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Budget, error) {
	if len(cfg.Windows) == 0 {
		return nil, nil
	}
	for _, w := range cfg.Windows {
		if w.Period <= 0 || w.Limit <= 0 || w.Name == "" {
			return nil, fmt.Errorf("budget: invalid window %+v: name, period and limit are required", w)
		}
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.WaitInPlace == 0 {
		cfg.WaitInPlace = DefaultWaitInPlace
	}
	switch {
	case cfg.Lead == 0:
		cfg.Lead = min(max(cfg.WaitInPlace/3, 0), DefaultLead)
	case cfg.Lead < 0:
		cfg.Lead = 0
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.HoldMax <= 0 {
		cfg.HoldMax = DefaultHoldMax
	}
	switch {
	case cfg.Margin == 0:
		cfg.Margin = DefaultMargin
	case cfg.Margin < 0:
		cfg.Margin = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "promobot GitHub write budget per installation",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("budget: bucket %s: %w", Bucket, err)
	}
	b := &Budget{kv: kv, cfg: cfg, now: cfg.Now, sleep: cfg.Sleep, log: cfg.Log,
		pol: policy{windows: cfg.Windows, margin: cfg.Margin, holdMax: cfg.HoldMax, grace: cfg.Grace, forget: time.Hour},
		id:  fmt.Sprintf("%08x", rand.Uint32())}
	b.m = newMetrics(cfg.Registerer, b)
	return b, nil
}

// Account is whose budget a write to repo (owner/name) spends: the
// owner's installation (an App is installed once per account), or the
// token. "" for a string that names no owner.
func (b *Budget) Account(repo string) string {
	if b.cfg.Token {
		return TokenAccount
	}
	owner, _, ok := strings.Cut(repo, "/")
	if !ok || owner == "" {
		return ""
	}
	return strings.ToLower(owner)
}

// Reserve asks for room for t's writes. Granted, it returns spend, a
// context carrying the reservation (the Transport charges the writes made
// with it there; the reservation covers t.Writes of them), and done, which
// settles the ledger with the writes actually made: call it once they are.
//
// Otherwise the promotion waits in its turn: in place while its time is
// within Config.WaitInPlace, else Reserve returns a *Delay marked to retry
// at the time it fits (fate.RetryAt). Its place in the line is kept for its
// next delivery.
func (b *Budget) Reserve(ctx context.Context, t Ticket) (spend context.Context, done func(), err error) {
	acct := ""
	if b != nil {
		acct = b.Account(t.Repo)
	}
	if acct == "" {
		return ctx, func() {}, nil
	}
	tk := ticket{ID: t.ID, Prio: t.Priority, Created: t.Created, Writes: b.clamp(t.Writes)}
	if tk.Created.IsZero() {
		tk.Created = b.now()
	}
	g := &grant{b: b, acct: acct, id: b.grantID(), left: tk.Writes}
	inPlace := b.now().Add(b.cfg.WaitInPlace)
	for {
		var v verdict
		if err := b.update(ctx, acct, func(st *state, now time.Time) {
			v = st.reserve(b.pol, tk, g.id, now, inPlace)
		}); err != nil {
			return nil, nil, err
		}
		if v.granted {
			g.waited = v.waited
			b.m.spent(acct, tk.Writes)
			b.log.Debug().Str("installation", acct).Str("ticket", t.ID).Int("writes", tk.Writes).Dur("waited", v.waited).Msg("write budget granted")
			return context.WithValue(ctx, grantKey{}, g), g.settle, nil
		}
		if v.away {
			b.m.delays.WithLabelValues(acct).Inc()
			d := &Delay{Account: acct, Until: v.until, Retry: later(b.now(), v.until.Add(-b.cfg.Lead)),
				Ahead: v.ahead, AheadWrites: v.aheadWrites, First: v.first}
			return nil, nil, fate.MarkRetryAt(d, d.Retry)
		}
		if err := b.sleep(ctx, v.until.Sub(b.now())); err != nil {
			return nil, nil, fmt.Errorf("waiting for GitHub's write budget: %w", err)
		}
	}
}

// take charges n writes of acct outside the line, waiting in place for
// room while it is near; a *Delay (fate.RetryAt) when it is not.
func (b *Budget) take(ctx context.Context, acct string, n int) error {
	n = b.clamp(n)
	inPlace := b.now().Add(b.cfg.WaitInPlace)
	for {
		var ok bool
		var until time.Time
		if err := b.update(ctx, acct, func(st *state, now time.Time) {
			ok, until = st.take(b.pol, n, now)
		}); err != nil {
			return err
		}
		if ok {
			b.m.spent(acct, n)
			return nil
		}
		if until.After(inPlace) {
			b.m.delays.WithLabelValues(acct).Inc()
			return fate.MarkRetryAt(&Delay{Account: acct, Until: until, Retry: until}, until)
		}
		if err := b.sleep(ctx, until.Sub(b.now())); err != nil {
			return fmt.Errorf("waiting for GitHub's write budget: %w", err)
		}
	}
}

// clamp keeps a request within the smallest window: a promotion larger than
// a window waits for it to be empty.
func (b *Budget) clamp(n int) int {
	n = max(n, 1)
	for _, w := range b.cfg.Windows {
		n = min(n, w.Limit)
	}
	return n
}

func (b *Budget) grantID() string {
	b.seq.Lock()
	defer b.seq.Unlock()
	b.n++
	return fmt.Sprintf("%s-%d", b.id, b.n)
}

// maxAttempts bounds compare-and-set retries of one change; contention is
// a handful of workers, so this is never reached in practice.
const maxAttempts = 200

// update applies fn to acct's state with compare-and-set, retrying when
// another process changed it meanwhile. fn may run several times.
func (b *Budget) update(ctx context.Context, acct string, fn func(st *state, now time.Time)) error {
	key := keyOf(acct)
	for attempt := 1; ; attempt++ {
		var st state
		var rev uint64
		e, err := b.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("write budget of %s: %w", acct, err)
		default:
			rev = e.Revision()
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				b.log.Error().Err(err).Str("installation", acct).Msg("write budget state unreadable; starting afresh")
				st = state{}
			}
		}
		fn(&st, b.now())
		data, err := json.Marshal(&st)
		if err != nil {
			return fmt.Errorf("write budget of %s: %w", acct, err)
		}
		if rev == 0 {
			_, err = b.kv.Create(ctx, key, data)
		} else {
			_, err = b.kv.Update(ctx, key, data, rev)
		}
		if err == nil {
			return nil
		}
		if !conflict(err) || attempt >= maxAttempts {
			return fmt.Errorf("write budget of %s: %w", acct, err)
		}
		// Someone else changed it: read it again, after a moment that
		// spreads the contenders.
		if err := b.sleep(ctx, time.Duration(rand.Int64N(int64(2*time.Millisecond)))); err != nil {
			return err
		}
	}
}

// conflict reports a failed compare-and-set.
func conflict(err error) bool {
	if queue.CASConflict(err) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// keyOf makes an account a KV key: letters, digits, '-' and '_' as they
// are, anything else as =XX.
func keyOf(acct string) string {
	var b strings.Builder
	b.WriteString("acct.")
	for i := 0; i < len(acct); i++ {
		c := acct[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

func accountOfKey(key string) string {
	s := strings.TrimPrefix(key, "acct.")
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '=' && i+2 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+3], "%02X", &c); err == nil {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
