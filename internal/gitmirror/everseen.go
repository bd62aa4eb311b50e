package gitmirror

import (
	"context"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
)

// EverSeen walks the first-parent history of branch from its head
// backwards (at most MaxHistory commits) and returns the committer time of
// the oldest commit in which holds(content of path) is true, wherever it
// lies: unlike FirstSeen the run need not reach the head. ok is false when
// no walked commit holds. A missing file does not hold; each distinct blob
// is judged once.
func (m *Mirrors) EverSeen(ctx context.Context, repo, branch, path string, holds func([]byte) bool) (time.Time, bool, error) {
	p, err := cleanPath(path)
	if err != nil {
		return time.Time{}, false, err
	}
	head, err := m.Head(repo, branch)
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

	var first time.Time
	found := false
	h := snap.commit
	for i := 0; i < MaxHistory; i++ {
		if err := ctx.Err(); err != nil {
			return time.Time{}, false, err
		}
		c, err := object.GetCommit(st, h)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("gitmirror: read commit %s: %w", h, err)
		}
		ok, err := judge(c)
		if err != nil {
			return time.Time{}, false, err
		}
		if ok {
			first, found = c.Committer.When, true
		}
		if len(c.ParentHashes) == 0 {
			break
		}
		h = c.ParentHashes[0]
	}
	return first, found, nil
}
