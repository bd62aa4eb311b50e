package history

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// openPacks is how many pack files a walk keeps open: go-git otherwise
// opens (and resolves the path of) a pack for every object it reads, which
// was most of a walk's time. They close when the store is collected.
const openPacks = 32

// OpenDir opens the git repository of checkout dir (its root, or a bare
// repository) and resolves branch: the local branch, else origin's, else
// HEAD when branch is "" or neither exists.
func OpenDir(dir, branch string) (storer.EncodedObjectStorer, plumbing.Hash, error) {
	var st storer.Storer
	gitDir := filepath.Join(dir, ".git")
	if fi, err := os.Stat(gitDir); err != nil || !fi.IsDir() {
		gitDir = dir // bare, or a worktree's .git file (below)
	}
	if fi, err := os.Stat(filepath.Join(gitDir, "objects")); err == nil && fi.IsDir() {
		st = filesystem.NewStorageWithOptions(osfs.New(gitDir), cache.NewObjectLRUDefault(),
			filesystem.Options{MaxOpenDescriptors: openPacks})
	} else {
		r, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
		if err != nil {
			return nil, plumbing.ZeroHash, fmt.Errorf("history: open git repository at %s: %w", dir, err)
		}
		st = r.Storer
	}
	names := []plumbing.ReferenceName{plumbing.HEAD}
	if branch != "" {
		names = []plumbing.ReferenceName{plumbing.NewBranchReferenceName(branch),
			plumbing.NewRemoteReferenceName("origin", branch), plumbing.HEAD}
	}
	for _, n := range names {
		ref, err := storer.ResolveReference(st, n)
		if err == nil {
			return st, ref.Hash(), nil
		}
	}
	return nil, plumbing.ZeroHash, fmt.Errorf("history: %s has no commit on %q or HEAD", dir, branch)
}
