package planner

import (
	"context"
	"fmt"
	"time"

	"github.com/promobot/promobot/internal/edit"
	"github.com/promobot/promobot/internal/intent"
)

// soakGate is closed until each new tag has run in the previous environment
// for at least the target environment's soak time, read from the git history
// of that environment's file. Rollbacks skip it: going back to a tag that
// ran before should not wait.
type soakGate struct{}

func (soakGate) Name() string { return GateSoak }

func (soakGate) Check(ctx context.Context, in GateInput) (GateResult, error) {
	rs, env, v := in.Rules, in.Env, in.Views
	switch {
	case env.Soak <= 0:
		return GateResult{Open: true, Reason: "no soak time required"}, nil
	case in.Kind == intent.KindRollback:
		return GateResult{Open: true, Reason: "rollback: no soak time"}, nil
	case v.History == nil:
		return GateResult{Open: true, Reason: "not checked: no git history available"}, nil
	}
	seen := map[string]bool{}
	for _, c := range in.Changes {
		if seen[c.Service] {
			continue
		}
		seen[c.Service] = true
		svc, ok := rs.Service(c.Service)
		if !ok {
			continue
		}
		prev, ok := rs.Prev(svc, env.Name)
		if !ok || len(svc.Targets[prev]) == 0 {
			continue
		}
		path, spec := Locate(svc, svc.Targets[prev][0], v.Base.Exists)
		want := c.New
		since, ok, err := v.History.FirstSeen(ctx, path, func(b []byte) bool {
			ref, err := edit.Get(b, spec)
			return err == nil && sameRef(ref, want)
		})
		if err != nil {
			return GateResult{}, fmt.Errorf("read history of %s: %w", path, err)
		}
		if !ok {
			return GateResult{Reason: fmt.Sprintf("%s %s is not running in %s", c.Service, refString(want), prev)}, nil
		}
		if ready := since.Add(env.Soak); in.Now.Before(ready) {
			return GateResult{RetryAt: ready, Reason: fmt.Sprintf("%s %s has run in %s since %s; %s soak ends %s",
				c.Service, refString(want), prev, since.UTC().Format(time.RFC3339), env.Soak, ready.UTC().Format(time.RFC3339))}, nil
		}
	}
	return GateResult{Open: true, Reason: fmt.Sprintf("ran at least %s in the previous environment", env.Soak)}, nil
}
