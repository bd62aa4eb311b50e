package budget

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// tenPerTen is one window of 10 writes per 10 s, no margin.
var tenPerTen = policy{windows: []Window{{Name: "10s", Period: 10 * time.Second, Limit: 10}}, holdMax: time.Minute, grace: 5 * time.Second, forget: time.Hour}

func bulk(id string, writes int) ticket {
	return ticket{ID: id, Prio: Bulk, Created: t0, Writes: writes}
}

// closed settles every open spend at its grant time with its full count.
func closeAll(st *state) {
	for i := range st.Spends {
		st.Spends[i].Open = ""
	}
}

func TestReserveFillsThenWaitsForTheWindow(t *testing.T) {
	var st state
	for i, id := range []string{"d:0", "d:1"} {
		v := st.reserve(tenPerTen, bulk(id, 4), "g"+id, t0.Add(time.Duration(i)*time.Second), t0)
		if !v.granted {
			t.Fatalf("%s: %+v, want granted (8 of 10 used)", id, v)
		}
	}
	closeAll(&st)
	// 8 used: 4 more fit once the first spend (at t0) leaves, at t0+10s.
	v := st.reserve(tenPerTen, bulk("d:2", 4), "g2", t0.Add(2*time.Second), t0.Add(2*time.Second))
	if v.granted || !v.until.Equal(t0.Add(10*time.Second)) || !v.away || !v.first || v.ahead != 0 {
		t.Fatalf("third: %+v, want sent away until t0+10s, first time", v)
	}
	// Asked again too early (redelivered early): still away, not "first".
	v = st.reserve(tenPerTen, bulk("d:2", 4), "g2", t0.Add(5*time.Second), t0.Add(5*time.Second))
	if v.granted || v.first || st.Tickets[0].Delays != 2 {
		t.Fatalf("early again: %+v, delays %d", v, st.Tickets[0].Delays)
	}
	// In its time: granted, having waited since it first asked.
	v = st.reserve(tenPerTen, bulk("d:2", 4), "g2", t0.Add(10*time.Second), t0.Add(10*time.Second))
	if !v.granted || v.waited != 8*time.Second {
		t.Fatalf("in its time: %+v", v)
	}
	if len(st.Tickets) != 0 {
		t.Errorf("line %+v after the grant, want empty", st.Tickets)
	}
}

// The line is served in order: a small promotion that would fit now does
// not pass an older one that waits for more room.
func TestReserveNoOvertaking(t *testing.T) {
	var st state
	st.Spends = []spend{{At: t0, N: 7}}
	now := t0.Add(time.Second)
	if v := st.reserve(tenPerTen, bulk("d:0", 5), "a", now, now); v.granted {
		t.Fatalf("d:0 granted with 3 of 10 left: %+v", v)
	}
	v := st.reserve(tenPerTen, bulk("d:1", 2), "b", now, now)
	if v.granted {
		t.Fatalf("d:1 (2 writes, 3 free) overtook d:0 that waits for 5: %+v", v)
	}
	if v.ahead != 1 || v.aheadWrites != 5 || !v.until.Equal(t0.Add(10*time.Second)) {
		t.Errorf("d:1 verdict %+v, want behind d:0, at t0+10s", v)
	}
}

// Urgent promotions go before bulk ones; within a priority, older intents
// first, whatever the order they asked in.
func TestReserveOrder(t *testing.T) {
	var st state
	st.Spends = []spend{{At: t0, N: 10}} // full until t0+10s
	now := t0.Add(time.Second)
	for i := 9; i >= 0; i-- { // a fan-out, asking in reverse
		st.reserve(tenPerTen, ticket{ID: "fan:" + itoa(i), Prio: Bulk, Created: t0, Writes: 5}, "g", now, now)
	}
	ids := func() []string {
		var out []string
		for _, k := range st.Tickets {
			out = append(out, k.ID)
		}
		return out
	}
	if want := []string{"fan:0", "fan:1", "fan:2", "fan:3", "fan:4", "fan:5", "fan:6", "fan:7", "fan:8", "fan:9"}; !slices.Equal(ids(), want) {
		t.Fatalf("line %v, want %v", ids(), want)
	}
	// A /promote prod, made after the fan-out, goes first.
	prod := ticket{ID: "cmd:0", Prio: Urgent, Created: t0.Add(time.Second), Writes: 5}
	v := st.reserve(tenPerTen, prod, "p", now, now)
	if v.ahead != 0 || !v.until.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("prod: %+v, want first in line at t0+10s", v)
	}
	// The fan-out's head now waits behind it: both fit in the window that
	// opens at t0+10s, the next pair at t0+20s.
	v = st.reserve(tenPerTen, bulk("fan:0", 5), "g", now, now)
	if v.ahead != 1 || !v.until.Equal(t0.Add(10*time.Second)) {
		t.Errorf("fan:0: %+v, want behind prod at t0+10s", v)
	}
	v = st.reserve(tenPerTen, bulk("fan:1", 5), "g", now, now)
	if v.ahead != 2 || !v.until.Equal(t0.Add(20*time.Second)) {
		t.Errorf("fan:1: %+v, want at t0+20s", v)
	}
}

// A promotion sent away blocks the line until its time (its worker comes
// back then), and stops blocking it when it is overdue past the grace.
func TestReserveAwayAndOverdue(t *testing.T) {
	var st state
	st.Spends = []spend{{At: t0, N: 10}}
	now := t0.Add(time.Second)
	st.reserve(tenPerTen, bulk("d:0", 5), "a", now, now) // due at t0+10s
	at := t0.Add(12 * time.Second)
	v := st.reserve(tenPerTen, bulk("d:1", 5), "b", at, at)
	if !v.granted {
		// d:0 is due (not back yet, within grace): it holds its 5, d:1 fits beside it.
		t.Fatalf("d:1 at t0+12s: %+v, want granted beside the due d:0", v)
	}
	v = st.reserve(tenPerTen, bulk("d:2", 1), "c", at, at)
	if v.granted || v.ahead != 1 {
		t.Fatalf("d:2 at t0+12s: %+v, want waiting behind d:0", v)
	}
	// d:0 never comes back: past its time plus grace, it no longer blocks.
	late := t0.Add(16 * time.Second)
	closeAll(&st)
	if v := st.reserve(tenPerTen, bulk("d:2", 1), "c", late, late); !v.granted {
		t.Fatalf("d:2 after d:0's grace: %+v, want granted", v)
	}
	// When d:0 comes back after all, it takes its place again: first.
	v = st.reserve(tenPerTen, bulk("d:0", 5), "a", late, late)
	if v.granted || v.ahead != 0 {
		t.Errorf("d:0 back late: %+v, want first in line (6 of 10 used)", v)
	}
}

// Both windows apply: the hour's limit holds promotions for the hour even
// when the minute has room.
func TestReserveHourWindow(t *testing.T) {
	p := policy{windows: GitHubWindows(80, 500), holdMax: time.Minute, grace: 10 * time.Second, forget: time.Hour}
	var st state
	// 500 writes over the last 50 minutes, 10 a minute.
	for i := range 50 {
		st.Spends = append(st.Spends, spend{At: t0.Add(time.Duration(i) * time.Minute), N: 10})
	}
	now := t0.Add(50 * time.Minute)
	v := st.reserve(p, bulk("d:0", 5), "a", now, now)
	if v.granted || !v.until.Equal(t0.Add(time.Hour)) {
		t.Fatalf("%+v, want until the first spend leaves the hour (t0+1h)", v)
	}
}

// An open reservation counts as spent now until it is settled; settling
// gives back what it did not write and dates it at its last write.
func TestSettle(t *testing.T) {
	var st state
	if v := st.reserve(tenPerTen, bulk("d:0", 8), "g", t0, t0); !v.granted {
		t.Fatal(v)
	}
	later := t0.Add(15 * time.Second)
	if ok, until := st.take(tenPerTen, 3, later); ok {
		t.Fatalf("3 more granted while 8 are open: until %v", until)
	}
	st.settle("g", 5, t0.Add(2*time.Second))
	if len(st.Spends) != 1 || st.Spends[0].N != 5 || st.Spends[0].Open != "" || !st.Spends[0].At.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("spends %+v, want one closed spend of 5 at t0+2s", st.Spends)
	}
	if ok, _ := st.take(tenPerTen, 3, t0.Add(3*time.Second)); !ok {
		t.Error("3 more refused with 5 of 10 used")
	}
	st.settle("unknown", 0, t0)
	if len(st.Spends) != 2 {
		t.Errorf("settling an unknown grant with nothing written changed the ledger: %+v", st.Spends)
	}
}

// Writes outside the line go when they fit, whoever waits.
func TestTakeIgnoresTheLine(t *testing.T) {
	var st state
	st.Spends = []spend{{At: t0, N: 6}}
	st.reserve(tenPerTen, bulk("d:0", 5), "a", t0, t0)
	if ok, _ := st.take(tenPerTen, 1, t0); !ok {
		t.Fatal("a reply was held back by the line")
	}
	ok, until := st.take(tenPerTen, 4, t0)
	if ok || !until.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("4 with 7 used: %v until %v", ok, until)
	}
}

func TestPrune(t *testing.T) {
	st := state{
		Spends: []spend{{At: t0, N: 1}, {At: t0.Add(9 * time.Second), N: 1}, {At: t0, N: 1, Open: "crashed"}},
		Tickets: []ticket{
			{ID: "gone", Due: t0},
			{ID: "kept", Due: t0.Add(50 * time.Minute)},
		},
	}
	st.prune(tenPerTen, t0.Add(time.Hour+time.Minute))
	if len(st.Spends) != 0 {
		t.Errorf("spends %+v, want none", st.Spends)
	}
	if len(st.Tickets) != 1 || st.Tickets[0].ID != "kept" {
		t.Errorf("tickets %+v, want only the one due within the hour", st.Tickets)
	}
	// An open spend older than HoldMax counts at grant+HoldMax.
	st = state{Spends: []spend{{At: t0, N: 10, Open: "crashed"}}}
	l := newLedger(st.events(tenPerTen, t0.Add(10*time.Minute)))
	if got := l.used(tenPerTen, tenPerTen.windows[0], t0.Add(time.Minute+5*time.Second)); got != 10 {
		t.Errorf("open spend at grant+HoldMax+5s counts %d, want 10", got)
	}
}

func TestCompact(t *testing.T) {
	var st state
	for i := range 300 {
		st.Spends = append(st.Spends, spend{At: t0.Add(time.Duration(i) * 100 * time.Millisecond), N: 1})
	}
	st.Spends = append(st.Spends, spend{At: t0, N: 2, Open: "g"})
	st.compact()
	total, open := 0, 0
	for _, s := range st.Spends {
		total += s.N
		if s.Open != "" {
			open++
		}
	}
	if len(st.Spends) > maxSpends || total != 302 || open != 1 {
		t.Errorf("%d spends totalling %d (%d open), want at most %d totalling 302 with the open one kept", len(st.Spends), total, open, maxSpends)
	}
}

func TestNaturalLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"d:9", "d:10", true},
		{"d:10", "d:9", false},
		{"d:2|acme/x/svc-10/staging", "d:2|acme/x/svc-9/staging", false},
		{"a", "b", true},
		{"a", "a", false},
		{"a1", "a01", false},
		{"x:007", "x:8", true},
		{"ab", "abc", true},
	} {
		if got := naturalLess(c.a, c.b); got != c.want {
			t.Errorf("naturalLess(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func itoa(i int) string { return string(rune('0' + i)) }
