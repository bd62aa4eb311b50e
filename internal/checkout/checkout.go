// Package checkout opens an intent's GitOps repository for a worker: the
// installation's GitHub clients, and the repository as a decision reads it
// (the mirror fetched with the installation's token, the base branch head,
// the rules with generators expanded over that head, the promotion branches
// and the base branch's history). It is the only place that joins GitHub
// App credentials, git mirrors and rules.
package checkout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promobot/promobot/internal/chatops"
	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/gitmirror"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/prwriter"
	"github.com/promobot/promobot/internal/rules"
)

// Repo is one intent's GitOps repository: the installation's GitHub
// clients, each narrowed to what its consumer calls, and Read, which
// fetches the repository and returns what decisions read. Read is separate
// so a ChatOps command can refuse someone before anything is fetched.
type Repo struct {
	Writer  prwriter.GitHub
	ChatOps chatops.GitHub
	Read    func(ctx context.Context) (Tree, error)
}

// Tree is the repository at its base branch head, as decisions read it.
type Tree struct {
	Rules *rules.Rules // generators expanded over Views.Base
	Views planner.Views
}

// Source opens repositories. Safe for concurrent use.
type Source struct {
	Clients *ghapp.Clients
	Mirrors *gitmirror.Mirrors
	Rules   func() *rules.Rules // the current server rules

	expansions rules.Expansions
}

// Open returns the intent's repository. It asks GitHub at most for the
// installation (cached per process); nothing is fetched until Read.
func (s *Source) Open(ctx context.Context, in intent.Intent) (Repo, error) {
	inst, err := s.Clients.For(ctx, in.Repo, in.InstallationID)
	if err != nil {
		return Repo{}, err
	}
	return Repo{
		Writer:  prwriter.REST(inst.Client),
		ChatOps: chatops.REST(inst.Client),
		Read:    func(ctx context.Context) (Tree, error) { return s.read(ctx, inst, in) },
	}, nil
}

// read brings the mirror up to date and reads the base branch head. A
// caller that holds the target's lease reads here what the previous holder
// pushed: the fetch happens after the lease is taken.
func (s *Source) read(ctx context.Context, inst *ghapp.Installation, in intent.Intent) (Tree, error) {
	rs := s.Rules()
	cloneURL, err := s.Clients.CloneURL(ctx, inst, in.Repo, in.Source.CloneURL)
	if err != nil {
		return Tree{}, err
	}
	creds := func(ctx context.Context) (string, string, error) {
		tok, err := inst.Token(ctx)
		return "x-access-token", tok, err
	}
	if err := s.Mirrors.Fetch(ctx, in.Repo, cloneURL, creds); err != nil {
		return Tree{}, fmt.Errorf("fetch %s: %w", in.Repo, err)
	}
	branch := rs.Defaults.BaseBranch
	if branch == "" {
		branch = "main"
	}
	base, err := s.Mirrors.Snapshot(ctx, in.Repo, branch)
	if err != nil {
		return Tree{}, fmt.Errorf("read %s@%s: %w", in.Repo, branch, err)
	}
	rs, err = s.expansions.For(ctx, rs, in.Repo, base.Commit(), base.FS())
	if err != nil {
		return Tree{}, err
	}
	return Tree{Rules: rs, Views: planner.Views{
		Base:     base,
		Branches: branches{s.Mirrors, in.Repo},
		History:  history{s.Mirrors, in.Repo, branch},
	}}, nil
}

// branches reads promotion branches from the mirror: a branch the last
// fetch did not see does not exist.
type branches struct {
	m    *gitmirror.Mirrors
	repo string
}

func (b branches) Branch(ctx context.Context, name string) (planner.RepoView, error) {
	if _, err := b.m.Head(b.repo, name); errors.Is(err, gitmirror.ErrNoRev) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read %s@%s: %w", b.repo, name, err)
	}
	v, err := b.m.Snapshot(ctx, b.repo, name)
	if err != nil {
		return nil, fmt.Errorf("read %s@%s: %w", b.repo, name, err)
	}
	return v, nil
}

// history reads soak times from the base branch's history in the mirror.
type history struct {
	m            *gitmirror.Mirrors
	repo, branch string
}

func (h history) FirstSeen(ctx context.Context, path string, holds func([]byte) bool) (time.Time, bool, error) {
	return h.m.FirstSeen(ctx, h.repo, h.branch, path, holds)
}
