package status

import (
	"github.com/promobot/promobot/internal/drift"
	"github.com/promobot/promobot/internal/history"
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

// AddHistory says, for each cell whose tag is what the history's head runs,
// since when, by whom and how (a working tree that differs from the head
// keeps its cells as they are).
func (rep *Report) AddHistory(h *history.History) {
	for i := range rep.Services {
		r := &rep.Services[i]
		for j := range r.Environments {
			c := &r.Environments[j]
			cur, ok := h.CurrentOf(r.Service, c.Env)
			if !ok || c.Error != "" || cur.Ref != c.Tag || cur.Since.IsZero() {
				continue
			}
			c.Since, c.By, c.Via, c.PR = cur.Since, cur.By, string(cur.Via), cur.PR
		}
	}
}
