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

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/automerge"
	"github.com/promobot/promobot/internal/chatops"
	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/gitmirror"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/policycheck"
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
	// Statuses posts commit statuses on the intent's source repository
	// (the build's commit) with the installation of the delivery that
	// reported the build: a source repository of another organisation is
	// not reachable with the GitOps repository's installation.
	Statuses prwriter.StatusSetter
	// Merge finishes autoMerge pull requests (internal/automerge).
	Merge automerge.GitHub
	// Commits comments on commits (a failed health check after a direct
	// commit).
	Commits CommitComments
	Read    func(ctx context.Context) (Tree, error)
	// Policy reads pull requests and writes their promobot/policy check.
	Policy policycheck.GitHub
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

	// Fresh is how old a mirror fetch may be for an intent that names no
	// commit of the GitOps repository (a build, a command) to be found a
	// no-op on it without a fetch; zero: DefaultFresh. See fresh.go.
	Fresh time.Duration
	// MaxAge bounds how old a fetch may be for an intent that names a
	// GitOps commit to be found a no-op on it, when the fetch holds that
	// commit; zero: DefaultMaxAge.
	MaxAge time.Duration
	// AlwaysFetch fetches on every Read, as promobot did before no-op
	// intents stopped costing a fetch: a switch for operators and the
	// benchmark's baseline.
	AlwaysFetch bool
	// Now is the clock of the no-op check's gates; nil: time.Now. Use the
	// worker's clock.
	Now func() time.Time
	// RepoConfigPath is where a GitOps repository configures itself
	// (--repo-config-path); "": rules.DefaultRepoConfigPath. See repoconfig.go.
	RepoConfigPath string
	// Index, when set, is told of every configuration read at a base
	// branch commit (index.go).
	Index ConfigIndex
	// Log receives configuration decisions (an invalid configuration, a
	// repository outside the policy); the zero value logs nothing.
	Log zerolog.Logger

	expansions rules.Expansions
	configs    configs
}

// Open returns the intent's repository. It asks GitHub at most for the
// installation (cached per process); nothing is fetched until Read.
func (s *Source) Open(ctx context.Context, in intent.Intent) (Repo, error) {
	inst, err := s.Clients.For(ctx, in.Repo, in.InstallationID)
	if err != nil {
		return Repo{}, err
	}
	w := prwriter.REST(inst.Client)
	return Repo{
		Writer:   marksStale{w, s.Mirrors},
		ChatOps:  chatops.REST(inst.Client),
		Statuses: sourceStatuses{s.Clients, in.Source.InstallationID, inst.ID, w},
		Merge:    automerge.REST(inst.Client),
		Commits:  RESTCommitComments(inst.Client),
		Read: func(ctx context.Context) (Tree, error) {
			t, err := s.read(ctx, inst, in)
			if err == nil {
				t.Views.Checks = checks{s.Mirrors, in.Repo, baseBranch(t.Rules), RESTChecks(inst.Client)}
			}
			return t, err
		},
		Policy: policycheck.REST(inst.Client),
	}, nil
}

// sourceStatuses sets statuses with the source delivery's installation,
// resolved only when a status is set (most intents set none).
type sourceStatuses struct {
	clients      *ghapp.Clients
	source, home int64 // installation ids: the build's delivery, the GitOps repository
	gitops       prwriter.StatusSetter
}

func (s sourceStatuses) CreateStatus(ctx context.Context, repo, sha string, st prwriter.CommitStatus) error {
	if s.source == 0 || s.source == s.home {
		return s.gitops.CreateStatus(ctx, repo, sha, st)
	}
	inst, err := s.clients.For(ctx, repo, s.source)
	if err != nil {
		return err
	}
	return prwriter.REST(inst.Client).CreateStatus(ctx, repo, sha, st)
}

// read returns the repository at its base branch head. A caller that holds
// the target's lease reads here what the previous holder pushed: unless the
// intent is found a no-op on the mirror as it is (fresh.go: reuse, which
// never lets a write decide), the tree comes from a fetch that started after
// read was called, so after the lease was taken.
func (s *Source) read(ctx context.Context, inst *ghapp.Installation, in intent.Intent) (Tree, error) {
	asked := time.Now()
	rs := s.Rules()
	if err := s.allowed(rs, in.Repo); err != nil {
		return Tree{}, err
	}
	cloneURL, err := s.Clients.CloneURL(ctx, inst, in.Repo, in.Source.CloneURL)
	if err != nil {
		return Tree{}, err
	}
	creds := func(ctx context.Context) (string, string, error) {
		tok, err := inst.Token(ctx)
		return "x-access-token", tok, err
	}
	branch := rs.Defaults.BaseBranch
	if branch == "" {
		branch = "main"
	}
	if s.AlwaysFetch {
		err = s.Mirrors.Fetch(ctx, in.Repo, cloneURL, creds)
	} else {
		var t Tree
		var ok bool
		if t, ok, err = s.reuse(ctx, rs, in, cloneURL, creds, branch, asked, inst); ok || err != nil {
			return t, err
		}
		err = s.Mirrors.FetchSince(ctx, in.Repo, cloneURL, creds, asked)
	}
	if err != nil {
		return Tree{}, fmt.Errorf("fetch %s: %w", in.Repo, err)
	}
	if in.Kind == intent.KindPolicy {
		// A policy check's fetch leaves no freshness behind: it comes with
		// PR events, and a merge by a person may follow within the
		// freshness bound, which a promotion's no-op check must not miss.
		s.Mirrors.MarkStale(in.Repo)
	}
	v, err := s.Mirrors.View(in.Repo)
	if err != nil {
		return Tree{}, fmt.Errorf("read %s: %w", in.Repo, err)
	}
	return s.tree(ctx, rs, in, v, branch, inst)
}

// tree reads the base branch head and the promotion branches from one view
// of the mirror (so both are as of the same fetch), with the rules that
// decide there: the repository's own configuration at that head, or the
// server's (repoconfig.go).
func (s *Source) tree(ctx context.Context, rs *rules.Rules, in intent.Intent, v *gitmirror.View, branch string, inst *ghapp.Installation) (Tree, error) {
	base, err := v.Snapshot(ctx, branch)
	if err != nil {
		return Tree{}, fmt.Errorf("read %s@%s: %w", in.Repo, branch, err)
	}
	server := rs
	rs, err = s.RulesAt(ctx, server, in.Repo, base, s.reporter(ctx, inst, in, base.Commit()))
	if err != nil {
		return Tree{}, err
	}
	if own := rs.Defaults.BaseBranch; rs != server && own != "" && own != branch {
		// The configuration names its own base branch: it decides from
		// there, and is read again at that branch's head.
		branch = own
		if base, err = v.Snapshot(ctx, branch); err != nil {
			return Tree{}, fmt.Errorf("read %s@%s: %w", in.Repo, branch, err)
		}
		if rs, err = s.RulesAt(ctx, server, in.Repo, base, s.reporter(ctx, inst, in, base.Commit())); err != nil {
			return Tree{}, err
		}
	}
	rs, err = s.expansions.For(ctx, rs, in.Repo, base.Commit(), base.FS())
	if err != nil {
		return Tree{}, err
	}
	return Tree{Rules: rs, Views: planner.Views{
		Base:     base,
		Branches: branches{v, in.Repo},
		History:  history{s.Mirrors, in.Repo, branch},
	}}, nil
}

// branches reads promotion branches from one view of the mirror: a branch
// that fetch did not see does not exist.
type branches struct {
	v    *gitmirror.View
	repo string
}

func (b branches) Branch(ctx context.Context, name string) (planner.RepoView, error) {
	if _, err := b.v.Head(name); errors.Is(err, gitmirror.ErrNoRev) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read %s@%s: %w", b.repo, name, err)
	}
	v, err := b.v.Snapshot(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read %s@%s: %w", b.repo, name, err)
	}
	return v, nil
}

// history reads soak times from the base branch's history in the mirror, as
// of the latest fetch (which may be newer than the tree's view: soak gates
// can only refuse, and the no-op check fetches on a refusal).
type history struct {
	m            *gitmirror.Mirrors
	repo, branch string
}

func (h history) FirstSeen(ctx context.Context, path string, holds func([]byte) bool) (time.Time, bool, error) {
	return h.m.FirstSeen(ctx, h.repo, h.branch, path, holds)
}

// baseBranch is the rules' base branch (main when they name none).
func baseBranch(rs *rules.Rules) string {
	if rs == nil || rs.Defaults.BaseBranch == "" {
		return "main"
	}
	return rs.Defaults.BaseBranch
}
