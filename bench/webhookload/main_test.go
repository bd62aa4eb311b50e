package main

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDeliveryBody(t *testing.T) {
	for _, tc := range []struct{ size, want int }{{100, 7168}, {7168, 7168}, {7200, 7200}, {10000, 10000}} {
		b, err := deliveryBody(tc.size)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != tc.want || !json.Valid(b) {
			t.Errorf("size %d: %d bytes, valid %v", tc.size, len(b), json.Valid(b))
		}
	}
}

// A short in-process run: every delivery is accepted, every 202 is a
// stored intent (run checks the stream), and both raw phases complete.
func TestRunInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server and drives HTTP load")
	}
	o := options{secret: "s", conc: 4, dur: 300 * time.Millisecond, warmup: 100 * time.Millisecond,
		rawDur: 200 * time.Millisecond, size: 7 << 10, logLevel: "info"}
	if err := run(o); err != nil {
		t.Fatal(err)
	}
}
