package gitmirror

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// ReadObjects calls fn with repo's object storage and branch's head as of
// the last completed fetch, holding the storage's lock: fn may walk the
// branch's history (the status page does), and must only read.
func (m *Mirrors) ReadObjects(ctx context.Context, repo, branch string, fn func(st storer.EncodedObjectStorer, head plumbing.Hash) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	refs, gen, err := m.loadedState(repo)
	if err != nil {
		return err
	}
	h, ok := refs[branch]
	if !ok {
		return fmt.Errorf("%w: branch %q in %s", ErrNoRev, branch, repo)
	}
	gen.mu.Lock()
	defer gen.mu.Unlock()
	return fn(gen.s, h)
}
