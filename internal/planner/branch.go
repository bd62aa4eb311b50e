package planner

import (
	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// BranchFor names the promotion branch of an intent: the rules' branch
// template for its target, with the target's part appended when the
// environment opens one PR per target. A template that does not render is
// a rules error no retry fixes.
func BranchFor(rs *rules.Rules, in intent.Intent) (string, error) {
	t := in.Target()
	branch, err := rs.Branch(t.Env, t.Service)
	if err != nil {
		return "", fate.Terminalf("render branch: %w", err)
	}
	if t.Part != "" {
		branch += "/" + t.Part
	}
	return branch, nil
}

// Parts names the targets an intent is split into when its environment
// opens one PR per target (splitTargets): one service's promotion that is
// not already one part's. nil means the intent is promoted as one.
func Parts(rs *rules.Rules, in intent.Intent) []string {
	if in.Part != "" || in.Group || len(in.Services) != 1 {
		return nil
	}
	svc, ok := rs.Service(in.Services[0])
	if !ok {
		return nil
	}
	env, ok := rs.Env(svc.Name, in.To)
	if !ok || !env.SplitTargets || len(svc.Targets[in.To]) < 2 {
		return nil
	}
	parts := make([]string, 0, len(svc.Targets[in.To]))
	for _, t := range svc.Targets[in.To] {
		parts = append(parts, t.Part())
	}
	return parts
}
