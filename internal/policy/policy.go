// Package policy judges a pull request into a GitOps repository against the
// promotion rules, whoever wrote it: for each service and environment whose
// image reference the PR changes, the planner's gates (tag pattern, no
// downgrade, ticket, windows, soak), whether the tag ran in the previous
// environment, and the health hook. It performs no I/O: the base branch,
// its history and the PR's files are views passed in, so every verdict is
// table-testable. The result is what the promobot/policy check run shows.
package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/promobot/promobot/internal/edit"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/rules"
)

// CheckName is the name of the check run promobot keeps on every
// promotion-relevant pull request.
const CheckName = "promobot/policy"

// Gate names added to the planner's.
const (
	GatePrevious = "previous environment"
	GateHealth   = "health"
	GateFile     = "target file"
)

// Conclusions of the check run.
const (
	Success = "success"
	Failure = "failure"
)

// File is one file the PR changes: Before is its content on the base
// branch (nil: the PR adds it), After on the PR head (nil: the PR deletes it).
type File struct {
	Path   string
	Before []byte
	After  []byte
}

// PR is what the policy reads of the pull request itself.
type PR struct {
	Number int
	Title  string
	Body   string
	Branch string // head branch name
	// FromPromobot is true when promobot opened the PR (its author is the
	// App): only then is the metadata block in the body trusted, so that a
	// hand-written PR cannot call itself a rollback.
	FromPromobot bool
}

// Ran answers whether a file on the base branch ever held (at any commit
// of its history), and when it first did.
type Ran interface {
	EverSeen(ctx context.Context, path string, holds func([]byte) bool) (first time.Time, ok bool, err error)
}

// Health judges the health of a tag in an environment (the environment
// before the one the PR changes). It is the hook the health gate fills;
// nil means health is not part of the policy (no rule asks for it).
// Closed results that open with time set RetryAt (a health timeout).
type Health interface {
	Check(ctx context.Context, svc *rules.Service, env string, ref edit.Ref) (planner.GateResult, error)
}

// Input is everything one evaluation reads.
type Input struct {
	Rules *rules.Rules
	Repo  string // owner/name of the GitOps repository
	// Views are the base branch as the planner's gates read it: Base (its
	// head) is required; History (soak) and whatever else the gates read
	// may be nil, and those gates then say they were not checked.
	Views planner.Views
	Ran   Ran // the base branch's history (previous environment); nil: not checked
	// Health is the hook of the previous environment's health; nil, or a
	// planner gate of the same name, leaves it out.
	Health Health
	Files  []File
	PR     PR
	Now    time.Time
}

// Annotation points at one changed tag line that fails policy.
type Annotation struct {
	Path    string
	Line    int
	Message string
}

// Check is one changed service in one environment, with its gates.
type Check struct {
	Service string
	Env     string
	Path    string
	Old     edit.Ref
	New     edit.Ref
	Line    int
	Gates   []planner.GateResult
}

// Passed reports whether every gate of c is open.
func (c Check) Passed() bool {
	for _, g := range c.Gates {
		if !g.Open {
			return false
		}
	}
	return true
}

// Result is the verdict on one PR.
type Result struct {
	// Relevant is false when the PR changes no target file: it gets no
	// check run at all.
	Relevant    bool
	Conclusion  string // Success or Failure
	Title       string
	Summary     string // Markdown, one line per gate
	Annotations []Annotation
	Checks      []Check
	// Next is the first moment after Now at which a time gate changes (a
	// window opens or closes, a soak period ends): the PR must be judged
	// again then. Zero: time changes nothing.
	Next time.Time
}

// Evaluate judges the PR. An error means the policy could not be checked
// (a history that cannot be read); a failing gate is a Failure result.
func Evaluate(ctx context.Context, in Input) (Result, error) {
	if in.Rules == nil || in.Views.Base == nil {
		return Result{}, errors.New("policy: rules and base view are required")
	}
	changed := make(map[string]File, len(in.Files))
	for _, f := range in.Files {
		changed[strings.TrimPrefix(f.Path, "./")] = f
	}
	exists := func(p string) bool {
		if f, ok := changed[p]; ok {
			return f.After != nil || in.Views.Base.Exists(p)
		}
		return in.Views.Base.Exists(p)
	}
	md, isPromobot := planner.ParseMetadata(in.PR.Body)
	isPromobot = isPromobot && in.PR.FromPromobot && strings.EqualFold(md.Repo, in.Repo)

	var res Result
	seen := map[string]bool{}
	for _, svc := range in.Rules.ServicesIn(in.Repo) {
		for _, env := range in.Rules.EnvNames() {
			for _, t := range svc.Targets[env] {
				path, spec := planner.Locate(svc, t, exists)
				f, ok := changed[path]
				if !ok || seen[svc.Name+"\x00"+env+"\x00"+path] {
					continue
				}
				seen[svc.Name+"\x00"+env+"\x00"+path] = true
				res.Relevant = true
				c, skip, err := judge(ctx, in, svc, env, f, spec, isPromobot, md)
				if err != nil {
					return Result{}, err
				}
				if !skip {
					res.Checks = append(res.Checks, c)
				}
			}
		}
	}
	if !res.Relevant {
		return res, nil
	}
	res.Conclusion = Success
	for _, c := range res.Checks {
		if c.Passed() {
			continue
		}
		res.Conclusion = Failure
		res.Annotations = append(res.Annotations, Annotation{Path: c.Path, Line: c.Line, Message: annotation(c)})
	}
	res.Next = next(in, res.Checks)
	res.Title, res.Summary = render(res)
	return res, nil
}

// judge reads one target file before and after and runs the gates on the
// change; skip is true when the image reference does not change.
func judge(ctx context.Context, in Input, svc *rules.Service, env string, f File, spec edit.Spec, isPromobot bool, md planner.Metadata) (Check, bool, error) {
	c := Check{Service: svc.Name, Env: env, Path: f.Path, Line: 1}
	old, err := edit.Get(f.Before, spec)
	if err != nil && f.Before != nil && !errors.Is(err, edit.ErrNotFound) {
		old = edit.Ref{} // a base file that does not parse: judge the PR's side alone
	}
	c.Old = old
	if f.After == nil {
		c.Gates = []planner.GateResult{{Gate: GateFile, Reason: fmt.Sprintf("the PR deletes %s, where %s runs in %s", f.Path, svc.Name, env)}}
		return c, false, nil
	}
	now, err := edit.Get(f.After, spec)
	switch {
	case errors.Is(err, edit.ErrNotFound):
		c.Gates = []planner.GateResult{{Gate: GateFile, Reason: fmt.Sprintf("%s no longer sets the image %s", f.Path, svc.Image)}}
		return c, false, nil
	case err != nil:
		c.Gates = []planner.GateResult{{Gate: GateFile, Reason: fmt.Sprintf("%s cannot be read: %s", f.Path, oneLine(err.Error()))}}
		return c, false, nil
	}
	if now == old {
		return c, true, nil
	}
	c.New = now
	c.Line = tagLine(f.Before, f.After, now)

	settings, ok := in.Rules.Env(svc.Name, env)
	if !ok {
		return c, true, nil
	}
	kind := intent.KindPromote
	if isPromobot && md.Kind == intent.KindRollback && md.Env == env && proposes(md, svc.Name, now) {
		kind = intent.KindRollback
	}
	change := planner.Change{Service: svc.Name, Env: env, Image: svc.Image, Path: f.Path, Old: old, New: now}
	gin := planner.GateInput{
		Rules: in.Rules, Service: svc, Env: settings, Kind: kind, Changes: []planner.Change{change},
		Ticket: ticket(in, svc.Name, env, isPromobot, md),
		Views:  in.Views, Now: in.Now,
	}
	gates, err := planner.CheckGates(ctx, gin)
	if err != nil {
		return c, false, fmt.Errorf("policy %s in %s: %w", svc.Name, env, err)
	}
	prev, err := previous(ctx, in, svc, env, kind, now)
	if err != nil {
		return c, false, fmt.Errorf("policy %s in %s: %w", svc.Name, env, err)
	}
	// The previous environment is the first question after the tag's own.
	c.Gates = append(append(append([]planner.GateResult{}, gates[:1]...), prev), gates[1:]...)
	if in.Health != nil {
		// The hook, when given, answers for health instead of the
		// planner's gate over Views.Checks.
		c.Gates = withoutGate(c.Gates, GateHealth)
		if p, ok := in.Rules.Prev(svc, env); ok {
			h, err := in.Health.Check(ctx, svc, p, now)
			if err != nil {
				return c, false, fmt.Errorf("policy %s in %s: health: %w", svc.Name, env, err)
			}
			h.Gate = GateHealth
			c.Gates = append(c.Gates, h)
		}
	}
	return c, false, nil
}

func withoutGate(gs []planner.GateResult, name string) []planner.GateResult {
	out := gs[:0:0]
	for _, g := range gs {
		if g.Gate != name {
			out = append(out, g)
		}
	}
	return out
}

// proposes reports whether promobot's metadata moves service to ref.
func proposes(md planner.Metadata, service string, ref edit.Ref) bool {
	for _, s := range md.Services {
		if s.Name == service && (s.To == ref.Tag || s.To == ref.Digest) {
			return true
		}
	}
	return false
}

// ticket is found in the PR title, body or branch; a promobot PR also
// carries it in its metadata block.
func ticket(in Input, service, env string, isPromobot bool, md planner.Metadata) string {
	if isPromobot && md.Ticket != "" {
		return md.Ticket
	}
	return in.Rules.FindTicket(service, env, in.PR.Title, in.PR.Body, in.PR.Branch)
}

// previous is the "no skipping" gate: the tag must have run, at some commit
// of the base branch, in the environment before env. A rollback goes back
// to a tag that ran here before and is exempt.
func previous(ctx context.Context, in Input, svc *rules.Service, env string, kind intent.Kind, want edit.Ref) (planner.GateResult, error) {
	g := planner.GateResult{Gate: GatePrevious}
	prev, ok := in.Rules.Prev(svc, env)
	switch {
	case !ok:
		g.Open, g.Reason = true, env+" is the first environment"
		return g, nil
	case kind == intent.KindRollback:
		g.Open, g.Reason = true, "rollback: may skip "+prev
		return g, nil
	case in.Ran == nil:
		g.Open, g.Reason = true, "not checked: no git history available"
		return g, nil
	case len(svc.Targets[prev]) == 0:
		g.Open, g.Reason = true, "no target in "+prev
		return g, nil
	}
	path, spec := planner.Locate(svc, svc.Targets[prev][0], in.Views.Base.Exists)
	first, ran, err := in.Ran.EverSeen(ctx, path, func(b []byte) bool {
		r, err := edit.Get(b, spec)
		return err == nil && sameRef(r, want)
	})
	if err != nil {
		return g, fmt.Errorf("read history of %s: %w", path, err)
	}
	if !ran {
		g.Reason = fmt.Sprintf("%s %s never ran in %s (promote through %s first)", svc.Name, want, prev, prev)
		return g, nil
	}
	g.Open, g.Reason = true, fmt.Sprintf("%s ran in %s from %s", want, prev, first.UTC().Format(time.RFC3339))
	return g, nil
}

// sameRef is the planner's comparison: a digest, when wanted, decides.
func sameRef(cur, want edit.Ref) bool {
	if want.Digest != "" {
		return cur.Digest == want.Digest
	}
	return cur.Tag == want.Tag && cur.Digest == ""
}

// next is the first moment after now at which a time gate of a change may
// change its verdict: a closed gate's opening time, a window's next edge.
func next(in Input, checks []Check) time.Time {
	var at time.Time
	take := func(t time.Time) {
		if t.After(in.Now) && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	envs := map[string]bool{}
	for _, c := range checks {
		for _, g := range c.Gates {
			if !g.Open {
				take(g.RetryAt)
			}
		}
		if c.New == (edit.Ref{}) || envs[c.Service+"\x00"+c.Env] {
			continue
		}
		envs[c.Service+"\x00"+c.Env] = true
		for _, w := range in.Rules.Windows(c.Service, c.Env) {
			if w.Open(in.Now) {
				take(w.End(in.Now))
			} else {
				take(w.NextOpen(in.Now))
			}
		}
	}
	return at
}

// tagLine is the 1-based line of after that sets ref: the first line
// naming it that the base did not have, else the first naming it.
func tagLine(before, after []byte, ref edit.Ref) int {
	needle := ref.Tag
	if ref.Digest != "" {
		needle = ref.Digest
	}
	needle, _, _ = strings.Cut(needle, "\n")
	had := map[string]int{}
	for _, l := range strings.Split(string(before), "\n") {
		had[l]++
	}
	first := 0
	for i, l := range strings.Split(string(after), "\n") {
		if needle == "" || !strings.Contains(l, needle) {
			continue
		}
		if had[l] == 0 {
			return i + 1
		}
		if first == 0 {
			first = i + 1
		}
	}
	return max(first, 1)
}

func annotation(c Check) string {
	var reasons []string
	for _, g := range c.Gates {
		if !g.Open {
			reasons = append(reasons, g.Gate+": "+oneLine(g.Reason))
		}
	}
	what := c.Service + " in " + c.Env
	if c.New != (edit.Ref{}) {
		what = fmt.Sprintf("%s %s in %s", c.Service, c.New, c.Env)
	}
	return capText(oneLine(what+" fails policy: "+strings.Join(reasons, "; ")), maxAnnotation)
}

// GitHub's limits on a check run's texts.
const (
	maxAnnotation = 4096
	maxSummary    = 65535
)

// capText cuts s to at most n bytes on a rune boundary, marking the cut.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = " …(cut)"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

var oneLine = strings.NewReplacer("\r", " ", "\n", " ").Replace
