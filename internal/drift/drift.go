// Package drift raises the flags that say an environment is not where
// promobot's promotions would have put it: a tag that skipped the
// environment before it, a file last changed by hand, an environment that
// lags the one before it for longer than its lagWarning, and a service
// whose environments run different image repositories. It reads a
// history.History only; `promobot status`, its --check and the status page
// show the flags.
package drift

import (
	"fmt"
	"sort"
	"time"

	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/rules"
)

// Kind names a flag.
type Kind string

// The flags.
const (
	// Skipped: the environment runs a tag that never ran in the
	// environment before it (a skipped promotion or a hand edit).
	Skipped Kind = "skipped"
	// HandEdit: the environment's file was last changed by someone other
	// than promobot.
	HandEdit Kind = "hand-edit"
	// Lag: the environment has run another tag than the one before it
	// for longer than its lagWarning.
	Lag Kind = "lag"
	// Image: the service points at another image repository here than in
	// its first environment.
	Image Kind = "image"
)

// Flag is one raised flag.
type Flag struct {
	Kind    Kind   `json:"kind"`
	Service string `json:"service"`
	Env     string `json:"env"`
	Message string `json:"message"`
}

// Check returns every flag h raises under rs at now, by service, then
// environment order, then kind.
func Check(h *history.History, rs *rules.Rules, now time.Time) []Flag {
	lag := map[string]time.Duration{}
	order := map[string]int{}
	for i, e := range rs.Environments {
		lag[e.Name] = e.LagWarning.Duration
		order[e.Name] = i
	}
	cur := map[[2]string]history.Current{}
	for _, c := range h.Current {
		cur[[2]string{c.Service, c.Env}] = c
	}
	// first[service, env, ref]: when ref first ran there.
	first := map[[3]string]time.Time{}
	for _, c := range h.Changes { // newest first: the last write is the oldest
		if c.To != "" {
			first[[3]string{c.Service, c.Env, c.To}] = c.Time
		}
	}
	var out []Flag
	for _, c := range h.Current {
		svc, ok := rs.Service(c.Service)
		if !ok || c.Error != "" {
			continue
		}
		flag := func(k Kind, format string, args ...any) {
			out = append(out, Flag{Kind: k, Service: c.Service, Env: c.Env, Message: fmt.Sprintf(format, args...)})
		}
		if le := c.LastEdit; le != nil && le.Via == history.ViaHand {
			flag(HandEdit, "%s was last changed by hand: %s by %s on %s", le.Path, short(le.Commit), le.Author.Name, day(le.Time))
		}
		prevEnv, hasPrev := rs.Prev(svc, c.Env)
		if !hasPrev {
			continue
		}
		prev, ok := cur[[2]string{c.Service, prevEnv}]
		if !ok || prev.Error != "" {
			continue
		}
		if ran, ok := first[[3]string{c.Service, prevEnv, c.Ref}]; c.Ref != "" && (!ok || (!c.Since.IsZero() && ran.After(c.Since))) {
			flag(Skipped, "runs %s, which never ran in %s", c.Ref, prevEnv)
		}
		if w := lag[c.Env]; w > 0 && c.Ref != prev.Ref && prev.Ref != "" {
			behind := now.Sub(prev.Since)
			if prev.Since.IsZero() || behind > w {
				flag(Lag, "runs %s while %s has run %s for %s (lagWarning %s)", c.Ref, prevEnv, prev.Ref, age(prev.Since, now), rules.LagDuration{Duration: w})
			}
		}
	}
	out = append(out, images(h, rs)...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Env != b.Env {
			return order[a.Env] < order[b.Env]
		}
		return a.Kind < b.Kind
	})
	return out
}

// images flags the environments whose image repository differs from the
// service's first environment's.
func images(h *history.History, rs *rules.Rules) []Flag {
	first := map[string]history.Current{}
	var out []Flag
	for _, c := range h.Current { // by service, then environment order
		if c.Image == "" {
			continue
		}
		f, ok := first[c.Service]
		if !ok {
			first[c.Service] = c
			continue
		}
		if f.Image != c.Image {
			out = append(out, Flag{Kind: Image, Service: c.Service, Env: c.Env,
				Message: fmt.Sprintf("runs image %s, %s runs %s", c.Image, f.Env, f.Image)})
		}
	}
	return out
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// age renders how long since t, in days and hours ("longer than the
// history walked" when t is unknown).
func age(t, now time.Time) string {
	if t.IsZero() {
		return "longer than the history read"
	}
	d := now.Sub(t).Round(time.Hour)
	if d >= 24*time.Hour {
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), (d%(24*time.Hour))/time.Hour)
	}
	return d.String()
}
