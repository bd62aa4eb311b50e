package planner

import (
	"fmt"
	"strings"

	"github.com/promobot/promobot/internal/rules"
)

// raisedBy reports whether the organisation policy raised what gate checks
// in the target environment: a required ticket, a window, a soak time.
func raisedBy(gate string, m rules.PolicyMarks) bool {
	switch gate {
	case GateTicket:
		return m.Ticket
	case GateWindow:
		return len(m.Windows) > 0
	case GateSoak:
		return m.Soak
	}
	return false
}

// policyNote marks a line whose requirement the policy raised.
func policyNote(raised bool) string {
	if !raised {
		return ""
	}
	return " (" + rules.ByPolicy + ")"
}

// policyApprovals names the reviewers the policy added, and the reviews it
// asks for, after the approvals line ("" when it added none).
func policyApprovals(p *Plan) string {
	m := p.Policy
	if m.Reviewers.Empty() && m.ReviewMinimum == 0 {
		return ""
	}
	var who []string
	for _, u := range m.Reviewers.Users {
		who = append(who, "@"+u)
	}
	for _, t := range m.Reviewers.Teams {
		who = append(who, "@"+t)
	}
	s := strings.Join(who, ", ")
	if m.ReviewMinimum > 0 {
		n := fmt.Sprintf("at least %d review", m.ReviewMinimum)
		if m.ReviewMinimum > 1 {
			n += "s"
		}
		if s != "" {
			s += ", "
		}
		s += n
	}
	return " (" + s + ": " + rules.ByPolicy + ")"
}

// configOf returns the repository configuration rs was read from; nil for
// the server's rules.
func configOf(rs *rules.Rules) *rules.ConfigSource {
	src, ok := rs.ConfigSource()
	if !ok {
		return nil
	}
	return &src
}
