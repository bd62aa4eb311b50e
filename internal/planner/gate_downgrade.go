package planner

import (
	"context"
	"fmt"

	"github.com/Masterminds/semver/v3"

	"github.com/promobot/promobot/internal/intent"
)

// downgradeGate is closed when a promotion would move a semantic version
// backwards; going back is what a rollback is for, so rollbacks pass.
type downgradeGate struct{}

func (downgradeGate) Name() string { return GateDowngrade }

func (downgradeGate) Check(_ context.Context, in GateInput) (GateResult, error) {
	if in.Kind == intent.KindRollback {
		return GateResult{Open: true, Reason: "rollback: downgrades allowed"}, nil
	}
	for _, c := range in.Changes {
		if isDowngrade(c.Old.Tag, c.New.Tag) {
			return GateResult{Reason: fmt.Sprintf("%s %s is older than %s running in %s (use /rollback)", c.Service, c.New.Tag, c.Old.Tag, c.Env)}, nil
		}
	}
	return GateResult{Open: true, Reason: "no tag moves backwards"}, nil
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
