package gitmirror

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// FetchSince makes sure the mirror of repo reflects a successful fetch that
// started after since, and fetches only when it does not: a caller that
// asks for "a fetch no older than two seconds" (since = now - 2s) costs no
// network when one was made in that time, joins one that is on the wire and
// started in that time, and otherwise waits for the next one, shared with
// every caller that arrives meanwhile (as Fetch). A fetch that started
// before the last MarkStale never counts. FetchSince(ctx, ..., time.Now())
// is Fetch, except that it may join a fetch that started after the call.
//
// A fetch of an earlier process (a mirror found on disk) is not counted:
// its age is unknown.
func (m *Mirrors) FetchSince(ctx context.Context, repo, cloneURL string, creds Credentials, since time.Time) error {
	return m.fetch(ctx, repo, cloneURL, creds, &since)
}

// MarkStale records that repo's remote moved now (promobot itself wrote to
// it: a branch created or moved, a pull request merged), so that FetchSince
// does not serve a later caller from a fetch that started before the write.
// Invalid names are ignored: nothing can have been fetched for them.
func (m *Mirrors) MarkStale(repo string) {
	st, err := m.state(repo)
	if err != nil {
		return
	}
	now := time.Now()
	st.mu.Lock()
	defer st.mu.Unlock()
	if now.After(st.stale) {
		st.stale = now
	}
}

// Fetches returns how many network fetches this Mirrors has started, of
// every repository (for tests, benchmarks and metrics).
func (m *Mirrors) Fetches() int64 { return m.fetches.Load() }

// View is one repository's mirror as one completed fetch left it: its
// branch heads do not move, whatever fetches follow, so a decision that
// reads the base branch and the promotion branches through one View reads
// them as of the same moment. It is safe for concurrent use.
type View struct {
	repo string
	refs map[string]plumbing.Hash // never mutated (repoState replaces it whole)
	gen  *store                   // objects are immutable and never deleted
}

// View returns repo's mirror as of the last completed fetch, or ErrNoRepo.
func (m *Mirrors) View(repo string) (*View, error) {
	refs, gen, err := m.loadedState(repo)
	if err != nil {
		return nil, err
	}
	return &View{repo: repo, refs: refs, gen: gen}, nil
}

// Head returns the commit sha branch points at in the view; ErrNoRev when
// the view has no such branch.
func (v *View) Head(branch string) (string, error) {
	h, ok := v.refs[branch]
	if !ok {
		return "", fmt.Errorf("%w: branch %q in %s", ErrNoRev, branch, v.repo)
	}
	return h.String(), nil
}

// Snapshot returns the repository at rev: a branch of the view or a full
// 40-hex commit sha (as Mirrors.Snapshot, but resolved in the view).
func (v *View) Snapshot(ctx context.Context, rev string) (*Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, ok := v.refs[rev]
	if !ok {
		if !isFullSHA(rev) {
			return nil, fmt.Errorf("%w: %q in %s", ErrNoRev, rev, v.repo)
		}
		h = plumbing.NewHash(rev)
	}
	s, err := newSnapshotAt(v.gen, h.String())
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, v.repo)
	}
	return s, nil
}

// MaxReachWalk bounds how many commits Reaches reads before it answers
// false. False only ever costs a fetch, so the bound keeps a commit that is
// not on the branch (a force push, a commit of another branch) cheap.
const MaxReachWalk = 1000

// reachSlack is how much older than the wanted commit a commit on the walk
// may be (committer times) before the walk stops descending there. Times
// are not ordered along history, so this only prunes: a pruned path makes
// Reaches answer false (a fetch), never true.
const reachSlack = 24 * time.Hour

// Reaches reports whether branch's head in the view is the commit sha or a
// descendant of it: whether the view's branch is at least as new as a push
// that made sha. It answers false, not an error, when the branch, the
// commit or the path between them is not in the view, when sha is not a
// full lower-case sha, and when the walk gives up (MaxReachWalk commits, or
// paths older than the commit by more than a day).
func (v *View) Reaches(ctx context.Context, branch, sha string) (bool, error) {
	head, ok := v.refs[branch]
	if !ok || !isFullSHA(sha) {
		return false, nil
	}
	want := plumbing.NewHash(sha)
	if head == want {
		return true, nil
	}
	target, err := v.commit(want)
	if target == nil || err != nil {
		return false, err
	}
	floor := target.Committer.When.Add(-reachSlack)
	seen := map[plumbing.Hash]bool{head: true}
	queue := []plumbing.Hash{head}
	for n := 0; len(queue) > 0 && n < MaxReachWalk; n++ {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		c, err := v.commit(queue[0])
		queue = queue[1:]
		if err != nil {
			return false, err
		}
		if c == nil || c.Committer.When.Before(floor) {
			continue
		}
		for _, p := range c.ParentHashes {
			if p == want {
				return true, nil
			}
			if !seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	return false, nil
}

// commit reads one commit; nil, nil when it is not in the mirror. The lock
// is taken per commit so that a long walk does not hold up other readers.
func (v *View) commit(h plumbing.Hash) (*object.Commit, error) {
	v.gen.mu.Lock()
	defer v.gen.mu.Unlock()
	c, err := object.GetCommit(v.gen.s, h)
	switch {
	case errors.Is(err, plumbing.ErrObjectNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("gitmirror: read commit %s in %s: %w", h, v.repo, err)
	}
	return c, nil
}
