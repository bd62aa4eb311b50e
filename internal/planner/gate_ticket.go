package planner

import (
	"context"
	"fmt"
)

// ticketGate is closed when the environment requires a change ticket and
// none was found, or when the ticket found does not match its pattern.
type ticketGate struct{}

func (ticketGate) Name() string { return GateTicket }

func (ticketGate) Check(_ context.Context, in GateInput) (GateResult, error) {
	t, env := in.Ticket, in.Env
	switch {
	case t != "" && !in.Rules.TicketValid(in.Service.Name, env.Name, t):
		return GateResult{Reason: fmt.Sprintf("ticket %q does not match the required pattern %s", t, env.Ticket.Pattern)}, nil
	case t != "":
		return GateResult{Open: true, Reason: "ticket " + t}, nil
	case env.Ticket.Required:
		return GateResult{Reason: fmt.Sprintf("%s requires a change ticket (pass --ticket KEY or name it in the commit message)", env.Name)}, nil
	}
	return GateResult{Open: true, Reason: "no ticket required"}, nil
}
