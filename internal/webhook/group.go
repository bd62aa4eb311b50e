package webhook

import (
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// group merges the intents of one event into one per target environment
// where the rules group them (defaults.group, rules.Grouped): always, or,
// with auto, where the event would open more than groupAbove PRs (a
// splitTargets environment opens one per target) into that environment.
// Each service still promotes from its own previous environment. The
// intents are numbered again in order, so a redelivered event yields the
// same message ids.
func group(d Delivery, rs *rules.Rules, ins []intent.Intent) []intent.Intent {
	if rs.Defaults.Group == rules.GroupNever {
		return ins
	}
	prs := map[string]int{}
	for _, in := range ins {
		prs[in.To] += prsOf(rs, in)
	}
	var out []intent.Intent
	at := map[string]int{}
	for _, in := range ins {
		if !rs.Grouped(prs[in.To]) {
			in.ID = intent.MsgID(d.ID, len(out))
			out = append(out, in)
			continue
		}
		if i, ok := at[in.To]; ok {
			out[i].Services = append(out[i].Services, in.Services...)
			if out[i].From != in.From {
				out[i].From = ""
			}
			if out[i].Ticket == "" {
				out[i].Ticket = in.Ticket
			}
			continue
		}
		at[in.To] = len(out)
		in.ID = intent.MsgID(d.ID, len(out))
		in.Group = true
		out = append(out, in)
	}
	return out
}

// prsOf is how many PRs (or direct commits) in opens: one, or one per
// target in an environment with splitTargets.
func prsOf(rs *rules.Rules, in intent.Intent) int {
	n := 0
	for _, name := range in.Services {
		svc, ok := rs.Service(name)
		env, eok := rs.Env(name, in.To)
		if ok && eok && env.SplitTargets {
			n += max(len(svc.Targets[in.To]), 1)
			continue
		}
		n++
	}
	return n
}
