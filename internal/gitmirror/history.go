package gitmirror

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// MaxHistory bounds how many first-parent commits FirstSeen walks. When the
// walk stops there the oldest commit walked is returned: a later time than
// the truth, so a soak gate computed from it errs on the closed side.
const MaxHistory = 5000

// FirstSeen walks the first-parent history of branch from its head backwards
// and returns the committer time of the oldest commit of the unbroken run,
// ending at head, in which holds(content of path) is true. ok is false when
// it does not hold at head. A missing file does not hold (holds is not
// called). Content is judged per blob, so holds sees each distinct version
// once.
func (m *Mirrors) FirstSeen(ctx context.Context, repo, branch, path string, holds func([]byte) bool) (time.Time, bool, error) {
	p, err := cleanPath(path)
	if err != nil {
		return time.Time{}, false, err
	}
	head, err := m.Head(repo, branch) // a branch, not a sha: history is the branch's
	if err != nil {
		return time.Time{}, false, err
	}
	snap, err := m.Snapshot(ctx, repo, head)
	if err != nil {
		return time.Time{}, false, err
	}
	snap.st.mu.Lock()
	defer snap.st.mu.Unlock()
	st := snap.st.s

	judge := fileJudge(st, p, holds)

	c, err := object.GetCommit(st, snap.commit)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("gitmirror: read commit %s: %w", snap.commit, err)
	}
	ok, err := judge(c)
	if err != nil || !ok {
		return time.Time{}, false, err
	}
	since := c.Committer.When
	for i := 1; i < MaxHistory && len(c.ParentHashes) > 0; i++ {
		if err := ctx.Err(); err != nil {
			return time.Time{}, false, err
		}
		parent, err := object.GetCommit(st, c.ParentHashes[0])
		if err != nil {
			return time.Time{}, false, fmt.Errorf("gitmirror: read commit %s: %w", c.ParentHashes[0], err)
		}
		ok, err := judge(parent)
		if err != nil {
			return time.Time{}, false, err
		}
		if !ok {
			break
		}
		c, since = parent, parent.Committer.When
	}
	return since, true, nil
}

// fileJudge answers whether the file at p holds what holds looks for in a
// commit's tree: false when it is absent, not a regular file or a symlink.
// Verdicts are kept per blob, so a walk reads each version of the file once.
func fileJudge(st *filesystem.Storage, p string, holds func([]byte) bool) func(*object.Commit) (bool, error) {
	verdicts := map[plumbing.Hash]bool{} // blob -> holds
	return func(c *object.Commit) (bool, error) {
		t, err := c.Tree()
		if err != nil {
			return false, fmt.Errorf("gitmirror: tree of %s: %w", c.Hash, err)
		}
		e, err := t.FindEntry(p)
		if err != nil {
			if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
				return false, nil
			}
			return false, fmt.Errorf("gitmirror: %s at %s: %w", p, c.Hash, err)
		}
		if !e.Mode.IsFile() || e.Mode == filemode.Symlink {
			return false, nil
		}
		if v, ok := verdicts[e.Hash]; ok {
			return v, nil
		}
		data, err := readBlob(st, p, e.Hash)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return false, nil
			}
			return false, err
		}
		v := holds(data)
		verdicts[e.Hash] = v
		return v, nil
	}
}
