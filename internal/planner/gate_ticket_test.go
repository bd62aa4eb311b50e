package planner

import "testing"

func TestTicketGate(t *testing.T) {
	for _, tc := range []struct {
		name, env, ticket string
		want              gateWant
	}{
		{name: "required and missing", env: "prod",
			want: gateWant{reason: "prod requires a change ticket (pass --ticket KEY or name it in the commit message)"}},
		{name: "required and valid", env: "prod", ticket: "PAY-7", want: gateWant{open: true, reason: "ticket PAY-7"}},
		{name: "does not match the pattern", env: "prod", ticket: "pay7",
			want: gateWant{reason: `ticket "pay7" does not match the required pattern [A-Z][A-Z0-9]+-\d+`}},
		{name: "not required", env: "staging", want: gateWant{open: true, reason: "no ticket required"}},
		{name: "not required, named anyway", env: "staging", ticket: "OPS-1", want: gateWant{open: true, reason: "ticket OPS-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := gateInput(t, testRules, "payment-service", tc.env)
			in.Ticket = tc.ticket
			checkGate(t, ticketGate{}, in, tc.want)
		})
	}
}
