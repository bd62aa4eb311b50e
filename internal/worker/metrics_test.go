package worker

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/promobot/promobot/internal/intent"
)

func TestMetricsCountOutcomesAndLatency(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := NewMetrics(reg); err != nil || again.intents != m.intents {
		t.Fatalf("second NewMetrics = %v %v, want the first one's series", again, err)
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := intent.Intent{Kind: intent.KindUpdate, CreatedAt: created}
	for _, tc := range []struct {
		out   Outcome
		after time.Duration
	}{
		{Opened, 40 * time.Second}, {Updated, 3 * time.Second}, {Refused, time.Hour}, {Delayed, time.Hour}, {Committed, 2 * time.Hour},
	} {
		m.observe(Result{Intent: in, Outcome: tc.out}, created.Add(tc.after))
	}
	// A gate that opens with time (window, soak, health) holds the promotion: a wait.
	m.observe(Result{Intent: in, Outcome: Refused, RetryAt: created.Add(time.Hour)}, created)
	if got := testutil.ToFloat64(m.waits); got != 1 {
		t.Errorf("gate waits = %v, want 1 (a refusal without a retry time is no wait)", got)
	}
	m.observe(Result{Intent: intent.Intent{Kind: intent.KindReply}, Outcome: Opened}, created) // no CreatedAt: counted, no latency
	var nilM *Metrics
	nilM.observe(Result{Intent: in, Outcome: Opened}, created) // no metrics: nothing, no panic

	if got := testutil.ToFloat64(m.intents.WithLabelValues("update", "refused")); got != 2 {
		t.Errorf("refused = %v", got)
	}
	if got := testutil.ToFloat64(m.intents.WithLabelValues("reply", "opened")); got != 1 {
		t.Errorf("reply opened = %v", got)
	}
	if n := testutil.CollectAndCount(m.latency); n != 3 {
		t.Errorf("latency series = %d, want opened, updated, committed", n)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "promobot_promotion_latency_seconds" {
			continue
		}
		for _, s := range mf.GetMetric() {
			h := s.GetHistogram()
			if s.GetLabel()[0].GetValue() == "opened" && (h.GetSampleCount() != 1 || h.GetSampleSum() != 40) {
				t.Errorf("opened latency = %v", h)
			}
		}
	}
}
