package gitmirror

import (
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Objects returns a read-only object store over repo's mirror, for one
// caller at a time (go-git storage is not safe for concurrent use), and
// the commit branch points at as of the last completed fetch. It shares
// no lock with snapshots, so a long history walk (internal/history) never
// holds up a worker; objects a later fetch adds are not needed, since the
// walk starts at this head. Opening it reads nothing until it is used; it
// keeps pack files open while in use, as snapshots' stores do.
func (m *Mirrors) Objects(repo, branch string) (storer.EncodedObjectStorer, plumbing.Hash, error) {
	refs, _, err := m.loadedState(repo)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	h, ok := refs[branch]
	if !ok {
		return nil, plumbing.ZeroHash, fmt.Errorf("%w: branch %q in %s", ErrNoRev, branch, repo)
	}
	st, err := m.state(repo)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	return newStore(st.dir).s, h, nil // its open packs close when it is collected
}
