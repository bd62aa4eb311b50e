package planner

import (
	"context"
	"fmt"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/promobot/promobot/internal/edit"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// Gate names, in the order SPEC §7 checks them.
const (
	GateTagPattern = "tag pattern"
	GateDowngrade  = "no downgrade"
	GateTicket     = "change ticket"
	GateWindow     = "deployment window"
	GateSoak       = "soak time"
)

// checkGates evaluates every gate for the planned changes; it never stops at
// the first closed one, so the PR body or the reply can list them all.
func checkGates(ctx context.Context, rs *rules.Rules, svc *rules.Service, env rules.EnvSettings, in intent.Intent, changes []Change, ticket string, v Views, now time.Time) ([]GateResult, error) {
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

	gs = append(gs, windowGate(rs.Windows(svc.Name, env.Name), now))

	soak, err := soakGate(ctx, rs, in, env, changes, v, now)
	if err != nil {
		return nil, err
	}
	return append(gs, soak), nil
}

// windowGate is open when now is inside an allow window (if any are
// configured) and outside every deny window. When closed, RetryAt is the
// next moment it opens.
func windowGate(ws []rules.WindowSchedule, now time.Time) GateResult {
	if len(ws) == 0 {
		return GateResult{Gate: GateWindow, Open: true, Reason: "no windows configured"}
	}
	open, why := windowOpen(ws, now)
	if open {
		return GateResult{Gate: GateWindow, Open: true, Reason: "inside the allowed windows"}
	}
	// Walk forward: out of each deny window, into the next allow window,
	// until a moment satisfies both (bounded: cron horizons are finite).
	t := now
	for i := 0; i < 100; i++ {
		next := time.Time{}
		for _, w := range ws {
			switch {
			case !w.Allow && w.Open(t):
				if e := w.End(t); e.After(next) {
					next = e
				}
			}
		}
		if next.IsZero() {
			for _, w := range ws {
				if w.Allow {
					if n := w.NextOpen(t); !n.IsZero() && (next.IsZero() || n.Before(next)) {
						next = n
					}
				}
			}
		}
		if next.IsZero() {
			return GateResult{Gate: GateWindow, Reason: why + "; no window opens again"}
		}
		t = next
		if ok, _ := windowOpen(ws, t); ok {
			return GateResult{Gate: GateWindow, Reason: fmt.Sprintf("%s; opens %s", why, t.UTC().Format(time.RFC3339)), RetryAt: t}
		}
	}
	return GateResult{Gate: GateWindow, Reason: why + "; no opening found"}
}

func windowOpen(ws []rules.WindowSchedule, t time.Time) (bool, string) {
	allowed, anyAllow := false, false
	for _, w := range ws {
		if !w.Allow && w.Open(t) {
			return false, fmt.Sprintf("inside the deny window %q (%s) until %s", w.Spec, w.Location, w.End(t).UTC().Format(time.RFC3339))
		}
		if w.Allow {
			anyAllow = true
			allowed = allowed || w.Open(t)
		}
	}
	if anyAllow && !allowed {
		return false, "outside every allow window"
	}
	return true, ""
}

// soakGate checks that each new tag has run in the previous environment for
// at least the soak time, from the git history of that environment's file.
func soakGate(ctx context.Context, rs *rules.Rules, in intent.Intent, env rules.EnvSettings, changes []Change, v Views, now time.Time) (GateResult, error) {
	g := GateResult{Gate: GateSoak, Open: true}
	switch {
	case env.Soak <= 0:
		g.Reason = "no soak time required"
		return g, nil
	case in.Kind == intent.KindRollback:
		g.Reason = "rollback: no soak time"
		return g, nil
	case v.History == nil:
		g.Reason = "not checked: no git history available"
		return g, nil
	}
	seen := map[string]bool{}
	for _, c := range changes {
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
			return g, fmt.Errorf("soak history of %s: %w", path, err)
		}
		if !ok {
			return GateResult{Gate: GateSoak, Reason: fmt.Sprintf("%s %s is not running in %s", c.Service, refString(want), prev)}, nil
		}
		if ready := since.Add(env.Soak); now.Before(ready) {
			return GateResult{Gate: GateSoak, RetryAt: ready, Reason: fmt.Sprintf("%s %s has run in %s since %s; %s soak ends %s",
				c.Service, refString(want), prev, since.UTC().Format(time.RFC3339), env.Soak, ready.UTC().Format(time.RFC3339))}, nil
		}
	}
	g.Reason = fmt.Sprintf("ran at least %s in the previous environment", env.Soak)
	return g, nil
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
