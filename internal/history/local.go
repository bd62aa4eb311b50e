package history

import (
	"fmt"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// OpenDir opens the git repository of checkout dir (its root) and
// resolves branch: the local branch, else origin's, else HEAD when branch
// is "" or neither exists.
func OpenDir(dir, branch string) (storer.EncodedObjectStorer, plumbing.Hash, error) {
	r, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("history: open git repository at %s: %w", dir, err)
	}
	names := []plumbing.ReferenceName{plumbing.HEAD}
	if branch != "" {
		names = []plumbing.ReferenceName{plumbing.NewBranchReferenceName(branch),
			plumbing.NewRemoteReferenceName("origin", branch), plumbing.HEAD}
	}
	for _, n := range names {
		ref, err := r.Reference(n, true)
		if err == nil {
			return r.Storer, ref.Hash(), nil
		}
	}
	return nil, plumbing.ZeroHash, fmt.Errorf("history: %s has no commit on %q or HEAD", dir, branch)
}
