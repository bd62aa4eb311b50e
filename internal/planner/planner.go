// Package planner decides what a promotion intent means for a repository:
// which files change and how, which gates hold, and what the pull request
// says. It performs no network I/O: the repository is a read-only view passed
// in, so every decision is table-testable.
package planner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"time"

	"github.com/promobot/promobot/internal/edit"
	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// RepoView is a read-only view of the GitOps repository at one commit.
type RepoView interface {
	Commit() string
	ReadFile(ctx context.Context, path string) ([]byte, error)
	Exists(path string) bool
}

// History answers since when a file on the base branch has satisfied holds
// (ok is false when it does not hold at the head).
type History interface {
	FirstSeen(ctx context.Context, path string, holds func([]byte) bool) (since time.Time, ok bool, err error)
}

// TreeView is a RepoView backed by git: it knows its commit's root tree,
// which the writer builds the promotion commit on.
type TreeView interface {
	RepoView
	Tree() string
}

// Branches reads promotion branches by name: (nil, nil) when the branch
// does not exist. The planner names the branch once and asks for it here,
// so nobody else derives branch names.
type Branches interface {
	Branch(ctx context.Context, name string) (RepoView, error)
}

// BranchFunc adapts a function to Branches.
type BranchFunc func(ctx context.Context, name string) (RepoView, error)

// Branch calls f.
func (f BranchFunc) Branch(ctx context.Context, name string) (RepoView, error) { return f(ctx, name) }

// Views are what a decision reads: the base branch head, the promotion
// branches (nil: none exist), and the base branch's history (nil when
// unavailable: the soak gate then says it was not checked).
type Views struct {
	Base     RepoView
	Branches Branches
	History  History
	// Checks reads the health checks reported on base branch commits
	// (nil: the health gate says it was not checked).
	Checks Checks
}

// Change is one service's tag moving in one file.
type Change struct {
	Service string   `json:"service"`
	Env     string   `json:"env"`
	Image   string   `json:"image"`
	Path    string   `json:"path"`
	Old     edit.Ref `json:"old"`
	New     edit.Ref `json:"new"`

	spec edit.Spec // how the tag was found, to read it back from the branch
}

// FileEdit is the only thing a plan writes: a file's full new content.
type FileEdit struct {
	Path string
	Old  []byte
	New  []byte
	// Mode is the file's git mode on the base ("100644", "100755" for an
	// executable), which the commit keeps; empty when the base view does
	// not know modes (the writer then writes "100644").
	Mode string
}

// ModeView is a RepoView that knows the git mode of its regular files
// ("100644", "100755"). The planner reads modes through it when the base
// view offers it, so a promotion keeps an executable file executable.
type ModeView interface {
	FileMode(path string) (string, error)
}

// GateResult is one gate as checked, open or not.
type GateResult struct {
	Gate    string    `json:"gate"`
	Open    bool      `json:"open"`
	Reason  string    `json:"reason"`
	RetryAt time.Time `json:"retryAt,omitzero"` // set when the gate opens with time
	Policy  bool      `json:"policy,omitempty"` // the organisation policy raised what this gate checks
	// Failed is set when a health check failed: who is told, and what.
	Failed *CheckFailure `json:"failed,omitempty"`
}

// Plan is what the writer applies: every fact it needs is decided here
// and carried, so nothing downstream re-derives one.
type Plan struct {
	IntentID string
	Kind     intent.Kind
	// Target is the unit of leases and PRs; Target.String() keys the PR state.
	Target     intent.Target
	BaseBranch string
	BaseSHA    string
	// BaseTree is BaseSHA's root tree when the base view is backed by git
	// (the writer builds on it); empty otherwise.
	BaseTree string
	// Branch is the promotion branch (per-target part included); BranchExists
	// says whether it existed when the plan was made.
	Branch       string
	BranchExists bool
	// Direct commits to the base branch instead of opening a PR.
	Direct    bool
	AutoMerge bool
	// MergeMethod is the rules' mergeMethod for AutoMerge ("": the first
	// the repository allows).
	MergeMethod string
	// BranchCurrent is true when the existing promotion branch already holds
	// exactly these edits (a re-processed intent): no new commit is needed.
	BranchCurrent bool
	// BranchStale is true when the existing branch proposes nothing the base
	// does not already run (its PR was merged or closed): open a new PR.
	BranchStale bool
	Changes     []Change
	// Supersedes lists what the existing promotion branch proposed before.
	Supersedes    []Change
	Edits         []FileEdit
	Title         string
	Body          string
	CommitMessage string
	Reviewers     rules.Principals
	Labels        []string
	Gates         []GateResult
	Ticket        string
	TicketURL     string
	Policy        rules.PolicyMarks   // what organisation policy raised in the target environment
	Config        *rules.ConfigSource // the repository configuration decided with; nil: the server's rules
}

// Refusal says a gate is closed. RetryAt is set when the gate opens with time.
type Refusal struct {
	Gates   []GateResult
	Reason  string
	RetryAt time.Time
}

// Decision is exactly one of Plan, Skip (nothing to do, with the reason) or Refusal.
type Decision struct {
	Plan    *Plan
	Skip    string
	Refusal *Refusal
}

// Decide resolves an intent against the rules and the repository.
func Decide(ctx context.Context, rs *rules.Rules, in intent.Intent, v Views, now time.Time) (Decision, error) {
	if len(in.Services) == 0 {
		return Decision{}, fate.Terminalf("intent %s names no service", in.ID)
	}
	svcs := make([]*rules.Service, 0, len(in.Services))
	for _, name := range in.Services {
		svc, ok := rs.Service(name)
		if !ok {
			return Decision{Refusal: &Refusal{Reason: fmt.Sprintf("unknown service %q", name)}}, nil
		}
		if !strings.EqualFold(svc.Repo, in.Repo) {
			return Decision{Refusal: &Refusal{Reason: fmt.Sprintf("service %q lives in %s, not %s", name, svc.Repo, in.Repo)}}, nil
		}
		svcs = append(svcs, svc)
	}
	branchName, err := BranchFor(rs, in)
	if err != nil {
		return Decision{}, err
	}
	var onBranch RepoView
	if v.Branches != nil {
		if onBranch, err = v.Branches.Branch(ctx, branchName); err != nil {
			return Decision{}, fmt.Errorf("read branch %s: %w", branchName, err)
		}
	}
	if in.Group && onBranch != nil {
		// The group branch is rebuilt on the base each time: keep every
		// service it still proposes, not only this event's.
		pending, err := pendingOnBranch(ctx, rs, in, v.Base, onBranch, svcs)
		if err != nil {
			return Decision{}, err
		}
		svcs = append(svcs, pending...)
	}
	first := svcs[0]
	env, ok := rs.Env(first.Name, in.To)
	if !ok {
		return Decision{Refusal: &Refusal{Reason: fmt.Sprintf("service %q has no environment %q", first.Name, in.To)}}, nil
	}

	p := &Plan{
		IntentID:    in.ID,
		Kind:        in.Kind,
		Target:      in.Target(),
		BaseBranch:  env.BaseBranch,
		BaseSHA:     v.Base.Commit(),
		Branch:      branchName,
		Direct:      env.Direct,
		AutoMerge:   env.AutoMerge,
		MergeMethod: env.MergeMethod,
		Reviewers:   env.Reviewers,
		Labels:      env.Labels,
		Policy:      env.Policy,
		Config:      configOf(rs),
	}
	from := in.From
	var tags, skips []string
	for _, svc := range svcs {
		// Each service promotes from its own previous environment: in a
		// group, services need not share the same environments.
		svcFrom := in.From
		if svcFrom == "" && in.Kind == intent.KindPromote {
			prev, ok := rs.Prev(svc, in.To)
			if !ok {
				return Decision{Refusal: &Refusal{Reason: fmt.Sprintf("%s has no environment before %s to promote from", svc.Name, in.To)}}, nil
			}
			svcFrom = prev
		}
		if from == "" {
			from = svcFrom
		}
		want, skip, err := wantedRef(ctx, rs, svc, in, svcFrom, v.Base)
		if err != nil {
			return Decision{}, err
		}
		if skip != "" {
			// In a grouped promotion one service with nothing to promote
			// does not hold back the others.
			skips = append(skips, skip)
			continue
		}
		changes, edits, err := editTargets(ctx, svc, in.To, in.Part, want, v.Base)
		if err != nil {
			return Decision{}, err
		}
		p.Changes = append(p.Changes, changes...)
		p.Edits = append(p.Edits, edits...)
		tags = append(tags, refString(want))
	}

	ticket := findTicket(rs, first.Name, in)
	gates, err := checkGates(ctx, GateInput{Rules: rs, Service: first, Env: env, Kind: in.Kind, Changes: p.Changes, Ticket: ticket, Views: v, Now: now})
	if err != nil {
		return Decision{}, err
	}
	p.Gates = gates
	if closed := closedGates(p.Gates); len(closed) > 0 {
		r := &Refusal{Gates: p.Gates, Reason: closed[0].Reason}
		for _, g := range closed {
			if g.RetryAt.IsZero() {
				r.RetryAt = time.Time{}
				break
			}
			if g.RetryAt.After(r.RetryAt) {
				r.RetryAt = g.RetryAt
			}
		}
		return Decision{Refusal: r}, nil
	}

	if len(tags) == 0 {
		return Decision{Skip: strings.Join(skips, "; ")}, nil
	}
	if len(p.Edits) == 0 {
		return Decision{Skip: fmt.Sprintf("%s already runs %s in %s", strings.Join(in.Services, ", "), strings.Join(tags, ", "), in.To)}, nil
	}

	p.Ticket = ticket
	if ticket != "" {
		u, err := rs.TicketURL(first.Name, in.To, ticket)
		if err != nil {
			return Decision{}, fmt.Errorf("render ticket url: %w", err)
		}
		p.TicketURL = u
	}
	if tv, ok := v.Base.(TreeView); ok {
		p.BaseTree = tv.Tree()
	}
	title, err := rs.Title(rules.TitleData{
		Service: changedServices(p.Changes)[0], Services: changedServices(p.Changes), Tag: tags[0], Env: in.To, From: from,
		Ticket: ticket, Rollback: in.Kind == intent.KindRollback,
	})
	if err != nil {
		return Decision{}, fmt.Errorf("render title: %w", err)
	}
	p.Title = title
	if in.Part != "" {
		p.Title = capTitle(p.Title, " ("+in.Part+")")
	}
	if !p.Direct && onBranch != nil {
		p.BranchExists = true
		p.Supersedes, p.BranchCurrent, p.BranchStale, err = compareBranch(ctx, onBranch, p)
		if err != nil {
			return Decision{}, err
		}
	}
	p.Body, err = RenderBody(p, in, from)
	if err != nil {
		return Decision{}, err
	}
	p.CommitMessage = commitMessage(p, in)
	return Decision{Plan: p}, nil
}

// pendingOnBranch returns the repository's other services whose files in
// the target environment differ between the group branch and the base.
func pendingOnBranch(ctx context.Context, rs *rules.Rules, in intent.Intent, base, branch RepoView, have []*rules.Service) ([]*rules.Service, error) {
	seen := map[string]bool{}
	for _, s := range have {
		seen[s.Name] = true
	}
	var out []*rules.Service
	for _, svc := range rs.ServicesIn(in.Repo) {
		if seen[svc.Name] {
			continue
		}
		for _, t := range svc.Targets[in.To] {
			path, _ := Locate(svc, t, base.Exists)
			onBranch, err := branch.ReadFile(ctx, path)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("read %s on the group branch: %w", path, err)
			}
			onBase, err := base.ReadFile(ctx, path)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("read %s: %w", path, err)
			}
			if string(onBranch) != string(onBase) {
				out = append(out, svc)
				break
			}
		}
	}
	return out, nil
}

func changedServices(cs []Change) []string {
	var out []string
	for _, c := range cs {
		if len(out) == 0 || out[len(out)-1] != c.Service {
			out = append(out, c.Service)
		}
	}
	return out
}

// wantedRef decides which tag or digest the target environment should run.
func wantedRef(ctx context.Context, rs *rules.Rules, svc *rules.Service, in intent.Intent, from string, base RepoView) (edit.Ref, string, error) {
	if in.Tag != "" {
		if intent.ValidDigest(in.Tag) {
			return edit.Ref{Digest: in.Tag}, "", nil
		}
		return edit.Ref{Tag: in.Tag}, "", nil
	}
	if from == "" {
		return edit.Ref{}, "", fate.Terminalf("intent %s: %s needs a tag or a source environment", in.ID, in.Kind)
	}
	targets := svc.Targets[from]
	if len(targets) == 0 {
		return edit.Ref{}, "", fate.Terminalf("service %s has no targets in %s", svc.Name, from)
	}
	path, spec := Locate(svc, targets[0], base.Exists)
	data, err := base.ReadFile(ctx, path)
	if err != nil {
		return edit.Ref{}, "", readErr(path, err)
	}
	ref, err := edit.Get(data, spec)
	if errors.Is(err, edit.ErrNotFound) {
		return edit.Ref{}, fmt.Sprintf("%s sets no tag for %s in %s", path, svc.Image, from), nil
	}
	if err != nil {
		return edit.Ref{}, "", fate.Terminalf("read tag from %s: %w", path, err)
	}
	return ref, "", nil
}

// editTargets computes the edits that set want in every target of env.
func editTargets(ctx context.Context, svc *rules.Service, env, part string, want edit.Ref, base RepoView) ([]Change, []FileEdit, error) {
	var targets rules.TargetList
	for _, t := range svc.Targets[env] {
		if part == "" || t.Part() == part {
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		return nil, nil, fate.Terminalf("service %s has no targets in %s (part %q)", svc.Name, env, part)
	}
	var changes []Change
	var edits []FileEdit
	for _, t := range targets {
		path, spec := Locate(svc, t, base.Exists)
		old, err := base.ReadFile(ctx, path)
		if err != nil {
			return nil, nil, readErr(path, err)
		}
		cur, err := edit.Get(old, spec)
		if err != nil && !errors.Is(err, edit.ErrNotFound) {
			return nil, nil, fate.Terminalf("read tag from %s: %w", path, err)
		}
		if sameRef(cur, want) {
			continue
		}
		out, err := edit.Set(old, spec, want)
		if err != nil {
			return nil, nil, fate.Terminalf("edit %s: %w", path, err)
		}
		var mode string
		if mv, ok := base.(ModeView); ok {
			if mode, err = mv.FileMode(path); err != nil {
				return nil, nil, readErr(path, err)
			}
		}
		changes = append(changes, Change{Service: svc.Name, Env: env, Image: svc.Image, Path: path, Old: cur, New: want, spec: spec})
		edits = append(edits, FileEdit{Path: path, Old: old, New: out, Mode: mode})
	}
	return changes, edits, nil
}

// sameRef reports whether cur already runs want.
func sameRef(cur, want edit.Ref) bool {
	if want.Digest != "" {
		return cur.Digest == want.Digest
	}
	return cur.Tag == want.Tag && cur.Digest == ""
}

// Locate returns the file path and edit spec of one target, given which
// files exist. A kustomize directory without a kustomization file yields
// its directory path, which then reads as missing with a message that
// names it.
func Locate(svc *rules.Service, t rules.Target, exists func(string) bool) (string, edit.Spec) {
	path := t.TargetFile(exists)
	if path == "" {
		path = t.Kustomize + "/kustomization.yaml"
	}
	switch {
	case t.Helm != "":
		return path, edit.Spec{Kind: edit.KindHelm, Image: svc.Image, Field: t.Field}
	case t.Manifest != "":
		return path, edit.Spec{Kind: edit.KindManifest, Image: svc.Image, Container: t.Container}
	default:
		return path, edit.Spec{Kind: edit.KindKustomize, Image: svc.Image}
	}
}

func readErr(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fate.Terminalf("configured file %s does not exist: %w", path, err)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		return err // already names the file
	}
	return fmt.Errorf("read %s: %w", path, err)
}

// compareBranch reads what the existing promotion branch proposes: whether
// it already holds exactly this plan's content (current), whether it holds
// only what the base runs (stale: its PR was merged or abandoned), and which
// earlier proposal this plan replaces.
func compareBranch(ctx context.Context, branch RepoView, p *Plan) (prev []Change, current, stale bool, err error) {
	current, stale = true, true
	for i, e := range p.Edits {
		data, err := branch.ReadFile(ctx, e.Path)
		if errors.Is(err, fs.ErrNotExist) {
			current = false
			continue
		}
		if err != nil {
			return nil, false, false, fmt.Errorf("read %s on %s: %w", e.Path, p.Branch, err)
		}
		if string(data) != string(e.New) {
			current = false
		}
		if string(data) != string(e.Old) {
			stale = false
		}
		c := p.Changes[i]
		if ref, err := edit.Get(data, c.spec); err == nil && !sameRef(ref, c.New) && !sameRef(ref, c.Old) {
			prev = append(prev, Change{Service: c.Service, Env: c.Env, Image: c.Image, Path: c.Path, Old: c.Old, New: ref})
		}
	}
	return prev, current, stale, nil
}

// findTicket takes the ticket from the intent, else from the source message
// with the target environment's pattern, else with the pattern of any of the
// service's environments (a build's commit names the ticket prod will need),
// else from what promobot itself recorded earlier in the chain.
func findTicket(rs *rules.Rules, service string, in intent.Intent) string {
	if in.Ticket != "" {
		return in.Ticket
	}
	texts := []string{in.Source.Message, in.Source.Ref}
	if t := rs.FindTicket(service, in.To, texts...); t != "" {
		return t
	}
	// A key found with another environment's pattern counts only if it is
	// valid here too: otherwise it would close the ticket gate of an
	// environment that asks for no ticket at all.
	for _, env := range rs.EnvNames() {
		if t := rs.FindTicket(service, env, texts...); t != "" && rs.TicketValid(service, in.To, t) {
			return t
		}
	}
	if t := carriedTicket(in.Source.Message); rs.TicketValid(service, in.To, t) {
		return t
	}
	return ""
}

// carriedTicket finds a ticket promobot itself recorded earlier in the chain:
// the "Ticket:" trailer of its commits, or the " [KEY]" suffix of its PR
// titles (which GitHub copies into merge commit messages). This carries the
// build's ticket through environments that configure no ticket pattern.
func carriedTicket(msg string) string {
	if m := trailerRe.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	if m := titleKeyRe.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}

var (
	trailerRe  = regexp.MustCompile(`(?m)^Ticket: ([A-Za-z][A-Za-z0-9_]*-[0-9]+)\r?$`)
	titleKeyRe = regexp.MustCompile(`(?m)^Promote .* \[([A-Za-z][A-Za-z0-9_]*-[0-9]+)\]\r?$`)
)

func closedGates(gs []GateResult) []GateResult {
	var out []GateResult
	for _, g := range gs {
		if !g.Open {
			out = append(out, g)
		}
	}
	return out
}

func refString(r edit.Ref) string {
	if r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}
