package webhook

import (
	"fmt"

	"github.com/promobot/promobot/internal/promreg"

	"github.com/google/go-github/v60/github"
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a delivery, the "outcome" label of the deliveries counter.
const (
	OutcomeAccepted     = "accepted"     // intents published and acknowledged, or an installation change handled
	OutcomeIgnored      = "ignored"      // nothing to do (ping, unknown event, no rule matched)
	OutcomeUnauthorized = "unauthorized" // signature missing or wrong
	OutcomeInvalid      = "invalid"      // bad request, or a delivery that must not produce intents
	OutcomeUnavailable  = "unavailable"  // queue, rules or installation hook not available: GitHub may redeliver
	OutcomeTooLarge     = "too_large"    // body over MaxBody
)

type metrics struct {
	deliveries *prometheus.CounterVec
	intents    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "promobot", Subsystem: "webhook", Name: "deliveries_total",
			Help: "Webhook deliveries by GitHub event and outcome.",
		}, []string{"event", "outcome"}),
		intents: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "promobot", Subsystem: "webhook", Name: "intents_enqueued_total",
			Help: "Intents published by the webhook server and acknowledged by JetStream.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	if err := register(reg, &m.deliveries); err != nil {
		return nil, err
	}
	if err := register(reg, &m.intents); err != nil {
		return nil, err
	}
	return m, nil
}

// register is promreg.Register, its error named.
func register[C prometheus.Collector](reg prometheus.Registerer, c *C) error {
	if err := promreg.Register(reg, c); err != nil {
		return fmt.Errorf("webhook: metrics: %w", err)
	}
	return nil
}

// knownEvents bounds the "event" label: a header value GitHub does not
// send is counted as "other", so a client cannot grow the label set.
var knownEvents = func() map[string]bool {
	m := map[string]bool{}
	for _, e := range github.MessageTypes() {
		m[e] = true
	}
	return m
}()

func eventLabel(event string) string {
	if knownEvents[event] {
		return event
	}
	return "other"
}
