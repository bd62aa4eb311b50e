package gitmirror

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
)

// RunCommit is one commit of a run (see Run).
type RunCommit struct {
	SHA     string
	Message string // the first line
	When    time.Time
}

// Run walks the first-parent history of branch from its head backwards,
// like FirstSeen, and returns the commits of the unbroken run ending at
// head in which holds(content of path) is true, newest first: the last is
// the commit that brought the content. At most keep commits are returned:
// the newest keep-1 and that last one. Empty when it does not hold at head.
func (m *Mirrors) Run(ctx context.Context, repo, branch, path string, holds func([]byte) bool, keep int) ([]RunCommit, error) {
	p, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	keep = max(keep, 2)
	head, err := m.Head(repo, branch)
	if err != nil {
		return nil, err
	}
	snap, err := m.Snapshot(ctx, repo, head)
	if err != nil {
		return nil, err
	}
	snap.st.mu.Lock()
	defer snap.st.mu.Unlock()
	st := snap.st.s

	judge := fileJudge(st, p, holds)
	one := func(c *object.Commit) RunCommit {
		line, _, _ := strings.Cut(c.Message, "\n")
		if len(line) > 200 {
			line = line[:200]
		}
		return RunCommit{SHA: c.Hash.String(), Message: line, When: c.Committer.When}
	}

	c, err := object.GetCommit(st, snap.commit)
	if err != nil {
		return nil, fmt.Errorf("gitmirror: read commit %s: %w", snap.commit, err)
	}
	ok, err := judge(c)
	if err != nil || !ok {
		return nil, err
	}
	out := []RunCommit{one(c)}
	last := c
	for i := 1; i < MaxHistory && len(c.ParentHashes) > 0; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		parent, err := object.GetCommit(st, c.ParentHashes[0])
		if err != nil {
			return nil, fmt.Errorf("gitmirror: read commit %s: %w", c.ParentHashes[0], err)
		}
		ok, err := judge(parent)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		c, last = parent, parent
		if len(out) < keep-1 {
			out = append(out, one(c))
		}
	}
	if out[len(out)-1].SHA != last.Hash.String() {
		out = append(out, one(last))
	}
	return out, nil
}
