package status

import (
	"github.com/promobot/promobot/internal/drift"
)

// AddDrift attaches drift flags to the report: all of them in Drift, and
// each cell's kinds in its Drift, so the table can mark it.
func (rep *Report) AddDrift(flags []drift.Flag) {
	rep.Drift = append([]drift.Flag{}, flags...)
	for i := range rep.Services {
		r := &rep.Services[i]
		for j := range r.Environments {
			c := &r.Environments[j]
			for _, f := range flags {
				if f.Service == r.Service && f.Env == c.Env {
					c.Drift = append(c.Drift, f.Kind)
				}
			}
		}
	}
}
