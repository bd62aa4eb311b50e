package planner

import (
	"fmt"
	"strings"

	"github.com/promobot/promobot/internal/intent"
)

// writeAuditTrailers records in the commit message what the history and
// audit report read back from git alone: the intent's kind, who asked,
// and each gate as checked ("Promobot-Gate: change ticket (open)").
func writeAuditTrailers(b *strings.Builder, p *Plan, in intent.Intent) {
	if in.Kind != "" {
		fmt.Fprintf(b, "Promobot-Kind: %s\n", in.Kind)
	}
	if in.Requester != "" {
		fmt.Fprintf(b, "Promobot-Requester: %s\n", in.Requester)
	}
	for _, g := range p.Gates {
		state := "closed"
		switch {
		case g.Open:
			state = "open"
		case !g.RetryAt.IsZero():
			state = "waiting"
		}
		name := strings.NewReplacer("\n", " ", "\r", " ", "(", "", ")", "").Replace(g.Gate)
		fmt.Fprintf(b, "Promobot-Gate: %s (%s)\n", name, state)
	}
}
