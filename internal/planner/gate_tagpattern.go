package planner

import (
	"context"
	"fmt"

	"github.com/promobot/promobot/internal/rules"
)

// tagPatternGate is closed when a proposed tag does not match its service's
// tag pattern. A change to a digest has no tag to check.
type tagPatternGate struct{}

func (tagPatternGate) Name() string { return GateTagPattern }

func (tagPatternGate) Check(_ context.Context, in GateInput) (GateResult, error) {
	for _, c := range in.Changes {
		if c.New.Tag != "" && !in.Rules.TagAllowed(svcFor(in.Rules, c.Service, in.Service), c.New.Tag) {
			return GateResult{Reason: fmt.Sprintf("tag %q of %s does not match the tag pattern", c.New.Tag, c.Service)}, nil
		}
	}
	return GateResult{Open: true, Reason: "every tag matches the service's tag pattern"}, nil
}

func svcFor(rs *rules.Rules, name string, fallback *rules.Service) *rules.Service {
	if s, ok := rs.Service(name); ok {
		return s
	}
	return fallback
}
