package gitmirror

import (
	"errors"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/object"
)

func TestObjectsReadsTheBranchHistory(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.commit("main", hour(0), map[string]string{stagingFile: kust("v1")})
	u.commit("main", hour(1), map[string]string{stagingFile: kust("v2")})
	m := newMirrors(t)
	mustFetch(t, m, u)

	st, head, err := m.Objects(testRepo, "main")
	if err != nil {
		t.Fatal(err)
	}
	c, err := object.GetCommit(st, head)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Committer.When.Equal(hour(1)) || len(c.ParentHashes) != 1 {
		t.Errorf("head at %v with %d parents, want the second commit", c.Committer.When, len(c.ParentHashes))
	}
	if _, err := object.GetCommit(st, c.ParentHashes[0]); err != nil {
		t.Errorf("parent: %v", err)
	}
	for _, tc := range []struct{ repo, branch string }{{testRepo, "nope"}, {"acme/none", "main"}, {"../x", "main"}} {
		if _, _, err := m.Objects(tc.repo, tc.branch); err == nil {
			t.Errorf("Objects(%q, %q) gave no error", tc.repo, tc.branch)
		} else if tc.branch == "nope" && !errors.Is(err, ErrNoRev) {
			t.Errorf("unknown branch: %v, want ErrNoRev", err)
		}
	}
}
