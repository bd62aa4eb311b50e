package queue

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Whoever keeps a record of a message's progress (the status page's
// waiting promotions) learns of every way it is given up: the handler's
// Terminal, the delivery limit, and a last delivery that died with its
// worker.
func TestDeadLetteredHookSeesEveryDeadLetter(t *testing.T) {
	cases := []struct {
		name    string
		max     int
		handler Handler
		crash   bool // a "crashed worker" takes the first delivery and never settles it
		reason  string
		n       uint64
	}{
		{name: "terminal", max: 5, reason: "404 kustomization.yaml", n: 1,
			handler: func(context.Context, *Delivery) Outcome {
				return Outcome{Action: Terminal, Reason: "404 kustomization.yaml"}
			}},
		{name: "delivery limit", max: 2, reason: "gave up after 2 deliveries: window closed", n: 2,
			handler: func(context.Context, *Delivery) Outcome {
				return Outcome{Action: Retry, Delay: 10 * time.Millisecond, Reason: "window closed"}
			}},
		{name: "crashed last delivery", max: 1, crash: true, reason: "delivered 2 times, limit 1", n: 2,
			handler: func(context.Context, *Delivery) Outcome { return Outcome{Action: Ack} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seen := make(chan DeadLetter, 4)
			q, _ := newQueue(t, Config{MaxDeliver: tc.max, AckWait: time.Second, DeadLettered: func(dl DeadLetter) { seen <- dl }})
			m := msg(4)
			publish(t, q, m)
			if tc.crash {
				batch, err := q.cons.Fetch(1, jetstream.FetchMaxWait(waitLong))
				if err != nil {
					t.Fatal(err)
				}
				if got := <-batch.Messages(); got == nil {
					t.Fatal("no message fetched")
				}
			}
			consume(t, q, 1, tc.handler)
			var dl DeadLetter
			select {
			case dl = <-seen:
			case <-time.After(waitLong):
				t.Fatal("the hook never saw the dead letter")
			}
			if dl.MsgID != m.ID || dl.Subject != m.Subject || !bytes.Equal(dl.Data, m.Data) || dl.NumDelivered != tc.n ||
				!strings.Contains(dl.Reason, tc.reason) || dl.Seq == 0 || dl.Time.IsZero() {
				t.Errorf("hook saw %+v", dl)
			}
			stored := deadLetters(t, q, 1)
			if stored[0].Seq != dl.Seq || stored[0].Reason != dl.Reason {
				t.Errorf("hook saw seq %d %q, the stream holds %d %q", dl.Seq, dl.Reason, stored[0].Seq, stored[0].Reason)
			}
		})
	}
}

// A message that is done never reaches the hook.
func TestDeadLetteredHookNotCalledOnAck(t *testing.T) {
	seen := make(chan DeadLetter, 1)
	q, _ := newQueue(t, Config{DeadLettered: func(dl DeadLetter) { seen <- dl }})
	publish(t, q, msg(1))
	acked := make(chan struct{}, 1)
	consume(t, q, 1, func(context.Context, *Delivery) Outcome { acked <- struct{}{}; return Outcome{Action: Ack} })
	<-acked
	settled(t, q)
	select {
	case dl := <-seen:
		t.Fatalf("hook called for an acked message: %+v", dl)
	default:
	}
}
