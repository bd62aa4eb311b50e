package planner

import (
	"fmt"

	"github.com/Masterminds/semver/v3"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// Gate names, in the order SPEC §7 checks them.
const (
	GateTagPattern = "tag pattern"
	GateDowngrade  = "no downgrade"
	GateTicket     = "change ticket"
)

// checkGates evaluates every gate for the planned changes; it never stops at
// the first closed one, so the PR body or the reply can list them all.
func checkGates(rs *rules.Rules, svc *rules.Service, env rules.EnvSettings, in intent.Intent, changes []Change, ticket string) []GateResult {
	var gs []GateResult

	pattern := GateResult{Gate: GateTagPattern, Open: true, Reason: "every tag matches the service's tag pattern"}
	for _, c := range changes {
		if c.New.Tag != "" && !rs.TagAllowed(svcFor(rs, c.Service, svc), c.New.Tag) {
			pattern = GateResult{Gate: GateTagPattern, Reason: fmt.Sprintf("tag %q of %s does not match the tag pattern", c.New.Tag, c.Service)}
			break
		}
	}
	gs = append(gs, pattern)

	down := GateResult{Gate: GateDowngrade, Open: true, Reason: "no tag moves backwards"}
	if in.Kind == intent.KindRollback {
		down.Reason = "rollback: downgrades allowed"
	} else {
		for _, c := range changes {
			if isDowngrade(c.Old.Tag, c.New.Tag) {
				down = GateResult{Gate: GateDowngrade, Reason: fmt.Sprintf("%s %s is older than %s running in %s (use /rollback)", c.Service, c.New.Tag, c.Old.Tag, c.Env)}
				break
			}
		}
	}
	gs = append(gs, down)

	tk := GateResult{Gate: GateTicket, Open: true, Reason: "no ticket required"}
	switch {
	case ticket != "" && !rs.TicketValid(svc.Name, env.Name, ticket):
		tk = GateResult{Gate: GateTicket, Reason: fmt.Sprintf("ticket %q does not match the required pattern %s", ticket, env.Ticket.Pattern)}
	case ticket != "":
		tk.Reason = "ticket " + ticket
	case env.Ticket.Required:
		tk = GateResult{Gate: GateTicket, Reason: fmt.Sprintf("%s requires a change ticket (pass --ticket KEY or name it in the commit message)", env.Name)}
	}
	gs = append(gs, tk)
	return gs
}

func svcFor(rs *rules.Rules, name string, fallback *rules.Service) *rules.Service {
	if s, ok := rs.Service(name); ok {
		return s
	}
	return fallback
}

// isDowngrade is true only when both tags are semantic versions and next is older.
func isDowngrade(cur, next string) bool {
	if cur == "" || next == "" {
		return false
	}
	a, err := semver.NewVersion(cur)
	if err != nil {
		return false
	}
	b, err := semver.NewVersion(next)
	if err != nil {
		return false
	}
	return b.LessThan(a)
}
