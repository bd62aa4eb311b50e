package budget

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics: what this process charged and delayed, and a collector that
// reads the shared state at scrape time, so every process reports the
// deployment's budget, not its own share.
type metrics struct {
	writes *prometheus.CounterVec
	delays *prometheus.CounterVec
}

var (
	remainingDesc = prometheus.NewDesc("promobot_github_write_budget_remaining",
		"GitHub content-creating requests the deployment may still make in the window now, per installation (account) and window.",
		[]string{"installation", "window"}, nil)
	waitingDesc = prometheus.NewDesc("promobot_github_write_budget_waiting",
		"Promotions waiting in line for GitHub's write budget, per installation and priority.",
		[]string{"installation", "priority"}, nil)
)

func newMetrics(reg prometheus.Registerer, b *Budget) *metrics {
	m := &metrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promobot_github_write_budget_spent_total",
			Help: "GitHub content-creating requests this process charged to the write budget, per installation.",
		}, []string{"installation"}),
		delays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promobot_github_write_budget_delays_total",
			Help: "Promotions and writes this process sent away to wait for GitHub's write budget, per installation.",
		}, []string{"installation"}),
	}
	if reg == nil {
		return m
	}
	m.writes = register(reg, b, m.writes)
	m.delays = register(reg, b, m.delays)
	if err := reg.Register(&collector{b: b}); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			b.log.Error().Err(err).Msg("write budget metrics not registered")
		}
	}
	return m
}

func (m *metrics) spent(acct string, n int) { m.writes.WithLabelValues(acct).Add(float64(n)) }

// register shares a collector already registered (two budgets in one
// process, in tests).
func register[T prometheus.Collector](reg prometheus.Registerer, b *Budget, c T) T {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if ex, ok := are.ExistingCollector.(T); ok {
			return ex
		}
	}
	b.log.Error().Err(err).Msg("write budget metrics not registered")
	return c
}

// collector reports the remaining budget and the line of every account.
type collector struct{ b *Budget }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- remainingDesc
	ch <- waitingDesc
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	keys, err := b.kv.ListKeys(ctx)
	if err != nil {
		b.log.Debug().Err(err).Msg("write budget metrics: list accounts")
		return
	}
	now := b.now()
	for key := range keys.Keys() {
		e, err := b.kv.Get(ctx, key)
		if err != nil {
			continue
		}
		var st state
		if json.Unmarshal(e.Value(), &st) != nil {
			continue
		}
		acct := accountOfKey(key)
		l := newLedger(st.events(b.pol, now))
		for _, w := range b.pol.windows {
			rem := max(w.Limit-l.used(b.pol, w, now), 0)
			ch <- prometheus.MustNewConstMetric(remainingDesc, prometheus.GaugeValue, float64(rem), acct, w.Name)
		}
		waiting := map[Priority]int{Urgent: 0, Bulk: 0}
		for _, t := range st.Tickets {
			if t.blocking(b.pol, now) {
				waiting[t.Prio]++
			}
		}
		for p, n := range waiting {
			ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, float64(n), acct, p.String())
		}
	}
	_ = keys.Stop()
}
