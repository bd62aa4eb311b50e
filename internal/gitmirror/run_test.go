package gitmirror

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.commit("main", hour(0), map[string]string{stagingFile: kust("v1")})
	u.commit("main", hour(1), map[string]string{stagingFile: kust("v2")}) // v2 arrives
	u.commit("main", hour(2), map[string]string{"README.md": "a\nbody"})  // v2 still
	u.commit("main", hour(3), map[string]string{"README.md": "b"})        // v2 still
	u.commit("main", hour(4), map[string]string{"README.md": "c"})        // v2 still, head
	m := newMirrors(t)
	mustFetch(t, m, u)
	whens := func(cs []RunCommit) []int {
		var out []int
		for _, c := range cs {
			out = append(out, int(c.When.Sub(hour(0)).Hours()))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		tag  string
		keep int
		want []int
	}{
		{"the whole run, newest first", "v2", 10, []int{4, 3, 2, 1}},
		{"long run: the newest and the arrival", "v2", 3, []int{4, 3, 1}},
		{"keep below 2 still names the arrival", "v2", 0, []int{4, 1}},
		{"not at head", "v1", 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.Run(context.Background(), testRepo, "main", stagingFile, runs(tc.tag), tc.keep)
			if err != nil {
				t.Fatal(err)
			}
			if g := whens(got); !slices.Equal(g, tc.want) {
				t.Errorf("run hours %v, want %v", g, tc.want)
			}
			for _, c := range got {
				if len(c.SHA) != 40 || strings.Contains(c.Message, "\n") {
					t.Errorf("commit %+v: want a full sha and one line", c)
				}
			}
		})
	}
}
