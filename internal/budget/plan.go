package budget

import (
	"slices"
	"sort"
	"strings"
	"time"
)

// The shared state of one account, one JSON value in the KV bucket. Every
// change is a compare-and-set on that value, so the processes of a
// deployment see one line and one ledger.
type state struct {
	// Spends is the ledger: what was written within the longest window.
	Spends []spend `json:"s,omitempty"`
	// Tickets is the line of promotions waiting for room.
	Tickets []ticket `json:"t,omitempty"`
}

// spend is one charge to the ledger.
type spend struct {
	// At is when the writes were made (the last of them), for a closed
	// spend; when the reservation was granted, for an open one.
	At time.Time `json:"a"`
	N  int       `json:"n"`
	// Open names a granted reservation whose writes are still being made:
	// it counts as spent "now" until it is settled (or HoldMax passes).
	Open string `json:"o,omitempty"`
}

// ticket is one promotion's place in the line.
type ticket struct {
	ID      string    `json:"i"`
	Prio    Priority  `json:"p,omitempty"`
	Created time.Time `json:"c"`           // the intent's creation: the order within a priority
	Writes  int       `json:"w"`           // what it will spend
	Queued  time.Time `json:"q"`           // when it first waited
	Due     time.Time `json:"d,omitzero"`  // when its worker comes back to ask again
	Delays  int       `json:"n,omitempty"` // how often it was sent away (in-place waits excluded)
}

// policy is what the scheduler needs of the configuration.
type policy struct {
	windows []Window
	margin  time.Duration // added to every window: clock skew, request latency
	holdMax time.Duration // an open spend counts as "now" for at most this long
	grace   time.Duration // a ticket not back this long after Due stops blocking the line
	forget  time.Duration // ... and is forgotten this long after that
}

// span is how long a write counts against w.
func (p policy) span(w Window) time.Duration { return w.Period + p.margin }

func (p policy) longest() time.Duration {
	var d time.Duration
	for _, w := range p.windows {
		d = max(d, p.span(w))
	}
	return d
}

// event is a spend, real or planned, at the time it counts.
type event struct {
	at time.Time
	n  int
}

// ledger is the events in time order with their running sums, so the
// earliest time n more writes fit is a binary search per window.
type ledger struct {
	evs []event
	sum []int // sum[i]: writes of evs[:i]
}

func newLedger(evs []event) *ledger {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	l := &ledger{evs: evs, sum: make([]int, 1, len(evs)+1)}
	for _, e := range evs {
		l.sum = append(l.sum, l.sum[len(l.sum)-1]+e.n)
	}
	return l
}

// add places writes at t, which is never before the last event: the line
// is served in order, so plans only move forward in time.
func (l *ledger) add(t time.Time, n int) {
	l.evs = append(l.evs, event{t, n})
	l.sum = append(l.sum, l.sum[len(l.sum)-1]+n)
}

// earliest is the first time at or after from when n more writes keep
// every window within its limit, given that nothing in the ledger happens
// after from. A request larger than a window's limit waits for that window
// to be empty.
func (l *ledger) earliest(p policy, from time.Time, n int) time.Time {
	t := from
	total := l.sum[len(l.sum)-1]
	for _, w := range p.windows {
		// Writes older than t-span no longer count: drop the oldest events
		// until what is left plus n fits.
		drop := total - (w.Limit - min(n, w.Limit))
		if drop <= 0 {
			continue
		}
		i := sort.SearchInts(l.sum, drop) // sum[i] >= drop: evs[:i] must have left the window
		if i > len(l.evs) {
			i = len(l.evs)
		}
		if at := l.evs[i-1].at.Add(p.span(w)); at.After(t) {
			t = at
		}
	}
	return t
}

// used is what counts against w at now.
func (l *ledger) used(p policy, w Window, now time.Time) int {
	from := now.Add(-p.span(w))
	i := sort.Search(len(l.evs), func(i int) bool { return l.evs[i].at.After(from) })
	return l.sum[len(l.sum)-1] - l.sum[i]
}

// events are the spends at the times they count at now: a closed spend at
// its time, an open one at now (its writes may still be made) until it
// has been open HoldMax.
func (st *state) events(p policy, now time.Time) []event {
	evs := make([]event, 0, len(st.Spends))
	for _, s := range st.Spends {
		at := s.At
		if s.Open != "" {
			at = later(s.At, earlier(now, s.At.Add(p.holdMax)))
		}
		evs = append(evs, event{at, s.N})
	}
	return evs
}

// prune forgets what can no longer matter: spends out of every window,
// tickets long gone.
func (st *state) prune(p policy, now time.Time) {
	keep := now.Add(-p.longest())
	st.Spends = slices.DeleteFunc(st.Spends, func(s spend) bool {
		at := s.At
		if s.Open != "" {
			at = s.At.Add(p.holdMax)
		}
		return !at.After(keep)
	})
	st.Tickets = slices.DeleteFunc(st.Tickets, func(t ticket) bool {
		return !t.Due.IsZero() && now.After(t.Due.Add(p.grace+p.forget))
	})
	st.compact()
}

// maxSpends bounds the ledger: beyond it, closed spends less than a second
// apart are merged at the later time (which only makes them count longer).
const maxSpends = 128

func (st *state) compact() {
	if len(st.Spends) <= maxSpends {
		return
	}
	var open, closed []spend
	for _, s := range st.Spends {
		if s.Open != "" {
			open = append(open, s)
		} else {
			closed = append(closed, s)
		}
	}
	sort.SliceStable(closed, func(i, j int) bool { return closed[i].At.Before(closed[j].At) })
	var merged []spend
	for _, s := range closed {
		if n := len(merged); n > 0 && s.At.Sub(merged[n-1].At) < time.Second {
			merged[n-1].At, merged[n-1].N = s.At, merged[n-1].N+s.N
			continue
		}
		merged = append(merged, s)
	}
	st.Spends = append(merged, open...)
}

// blocking reports whether t holds its place in the line: its worker is
// expected back (or is waiting in place), and not overdue by more than the
// grace. An overdue ticket stops blocking the line but keeps its history;
// when its worker comes back it takes its place again.
func (t ticket) blocking(p policy, now time.Time) bool {
	return t.Due.IsZero() || !now.After(t.Due.Add(p.grace))
}

// before orders the line: priority, then the intent's age, then its id
// (digit runs compared as numbers, so "d:9" comes before "d:10").
func before(a, b ticket) bool {
	if a.Prio != b.Prio {
		return a.Prio < b.Prio
	}
	if !a.Created.Equal(b.Created) {
		return a.Created.Before(b.Created)
	}
	return naturalLess(a.ID, b.ID)
}

// verdict is what the line says to one promotion.
type verdict struct {
	granted     bool
	waited      time.Duration // granted: how long it was in the line
	until       time.Time     // not granted: when it fits, in its turn
	ahead       int           // promotions before it in the line
	aheadWrites int
	first       bool // the first time it is sent away
	away        bool // sent away (Delay) rather than asked to wait in place
}

// reserve puts t in the line (or finds it there) and plans the line from
// now: each ticket in order gets the earliest time its writes fit, after
// every ticket before it, and never before its worker said it would be
// back. t is granted when its time is now: its writes go into the ledger
// as an open spend named grant. Otherwise t waits in place when its time
// is no later than inPlace, or is sent away until then.
func (st *state) reserve(p policy, t ticket, grant string, now, inPlace time.Time) verdict {
	st.prune(p, now)
	i := slices.IndexFunc(st.Tickets, func(k ticket) bool { return k.ID == t.ID })
	if i < 0 {
		t.Queued, t.Due, t.Delays = now, time.Time{}, 0
		st.Tickets = append(st.Tickets, t)
	} else {
		k := &st.Tickets[i]
		k.Prio, k.Writes = t.Prio, t.Writes
	}
	sort.SliceStable(st.Tickets, func(i, j int) bool { return before(st.Tickets[i], st.Tickets[j]) })
	l := newLedger(st.events(p, now))
	at := now
	var v verdict
	for i := range st.Tickets {
		k := &st.Tickets[i]
		if k.ID != t.ID {
			if !k.blocking(p, now) {
				continue
			}
			ready := l.earliest(p, later(at, k.Due), k.Writes)
			l.add(ready, k.Writes)
			at = ready
			v.ahead++
			v.aheadWrites += k.Writes
			continue
		}
		ready := l.earliest(p, at, k.Writes)
		if !ready.After(now) {
			v = verdict{granted: true, waited: now.Sub(k.Queued)}
			st.Spends = append(st.Spends, spend{At: now, N: k.Writes, Open: grant})
			st.Tickets = slices.Delete(st.Tickets, i, i+1)
			return v
		}
		v.until, k.Due = ready, ready
		if ready.After(inPlace) {
			k.Delays++
			v.away, v.first = true, k.Delays == 1
		}
		return v
	}
	panic("budget: own ticket missing from the line") // unreachable: added above
}

// take charges n writes at now outside the line (a reply, a reaction, a
// write beyond a reservation): at once when they fit, else it says when.
func (st *state) take(p policy, n int, now time.Time) (ok bool, until time.Time) {
	st.prune(p, now)
	l := newLedger(st.events(p, now))
	if until = l.earliest(p, now, n); until.After(now) {
		return false, until
	}
	st.Spends = append(st.Spends, spend{At: now, N: n})
	return true, now
}

// settle closes the open spend of grant: the writes actually made, at the
// time of the last one. A grant that wrote nothing leaves no spend.
func (st *state) settle(grant string, used int, last time.Time) {
	i := slices.IndexFunc(st.Spends, func(s spend) bool { return s.Open == grant })
	if i < 0 {
		if used > 0 {
			st.Spends = append(st.Spends, spend{At: last, N: used})
		}
		return
	}
	if used == 0 {
		st.Spends = slices.Delete(st.Spends, i, i+1)
		return
	}
	st.Spends[i] = spend{At: later(last, st.Spends[i].At), N: used}
}

// naturalLess compares strings with runs of digits compared as numbers.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
