package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func gauges(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
	}
	return got
}

// TestDepthGauges: pending, in a worker's hands, the oldest intent's age
// and the dead letters, as a scrape reports them.
func TestDepthGauges(t *testing.T) {
	q, _ := newQueue(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	d, err := q.Depth(ctx)
	if err != nil || d != (Depth{}) {
		t.Fatalf("empty queue depth = %+v %v", d, err)
	}
	publish(t, q, msg(1), msg(2), msg(3))
	d, err = q.Depth(ctx)
	if err != nil || d.Pending != 3 || d.Oldest.IsZero() {
		t.Fatalf("depth = %+v %v", d, err)
	}
	at := d.Oldest.Add(90 * time.Second)
	c := depthCollector{q: q, now: func() time.Time { return at }}
	got := gauges(t, c)
	want := map[string]float64{"promobot_queue_pending": 3, "promobot_queue_ack_pending": 0,
		"promobot_queue_oldest_intent_age_seconds": 90, "promobot_queue_dead_letters": 0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}

	// One intent held by a worker, one dead-lettered, one acked.
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	stop := consume(t, q, 2, func(_ context.Context, d *Delivery) Outcome {
		switch string(d.Data()) {
		case `{"n":1}`:
			once.Do(func() { close(held) })
			<-release
			return Outcome{Action: Ack}
		case `{"n":2}`:
			return Outcome{Action: Terminal, Reason: "test"}
		}
		return Outcome{Action: Ack}
	})
	<-held
	eventually(t, "one intent in a worker's hands", func() (bool, error) {
		d, err := q.Depth(ctx)
		return err == nil && d.Pending == 0 && d.AckPending == 1 && d.DeadLetters == 1, err
	})
	close(release)
	settled(t, q)
	stop()
	got = gauges(t, c)
	if got["promobot_queue_oldest_intent_age_seconds"] != 0 || got["promobot_queue_dead_letters"] != 1 || got["promobot_queue_ack_pending"] != 0 {
		t.Errorf("after the work = %v", got)
	}
}

// TestDepthRegistered: Open with a Registerer exports the gauges.
func TestDepthRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	newQueue(t, Config{Registerer: reg})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	if !names["promobot_queue_pending"] || !names["promobot_queue_oldest_intent_age_seconds"] {
		t.Fatalf("registered: %v", names)
	}
}
