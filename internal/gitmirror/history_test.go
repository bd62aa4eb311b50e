package gitmirror

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

const stagingFile = "envs/staging/kustomization.yaml"

func kust(tag string) string { return "images:\n- name: app\n  newTag: " + tag + "\n" }

func runs(tag string) func([]byte) bool {
	return func(b []byte) bool { return bytes.Contains(b, []byte("newTag: "+tag+"\n")) }
}

func TestFirstSeen(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	// History of staging, oldest first (hour = committer time):
	u.commit("main", hour(0), map[string]string{"README.md": "no staging yet"})
	u.commit("main", hour(1), map[string]string{stagingFile: kust("v1")})                     // v1 appears
	u.commit("main", hour(2), map[string]string{stagingFile: kust("v2")})                     // v2 replaces it
	u.commit("main", hour(3), map[string]string{"README.md": "unrelated"})                    // v2 still
	u.commit("main", hour(4), map[string]string{stagingFile: kust("v1")})                     // v1 reappears
	u.commit("main", hour(5), map[string]string{"README.md": "unrelated again"})              // v1 still
	u.commit("main", hour(6), map[string]string{stagingFile: "# reformatted\n" + kust("v1")}) // v1, other bytes
	u.commit("other", hour(7), map[string]string{stagingFile: kust("v9")})                    // another branch
	u.commit("gone", hour(8), map[string]string{stagingFile: kust("v1"), "README.md": "x"})   // then removed below
	u.commit("gone", hour(9), map[string]string{stagingFile: ""})                             // file deleted at head
	u.commit("main", hour(10), map[string]string{"README.md": "head of main"})                // v1 still at head
	u.commit("other", hour(11), map[string]string{"README.md": "other head"})                 // v9 still
	m := newMirrors(t)
	mustFetch(t, m, u)

	calls := 0
	counting := func(tag string) func([]byte) bool {
		f := runs(tag)
		return func(b []byte) bool { calls++; return f(b) }
	}
	tests := []struct {
		name, branch string
		holds        func([]byte) bool
		want         time.Time
		wantOK       bool
	}{
		{"tag reappeared: the latest run counts", "main", runs("v1"), hour(4), true},
		{"replaced tag does not hold", "main", runs("v2"), time.Time{}, false},
		{"other branch", "other", runs("v9"), hour(7), true},
		{"file deleted at head", "gone", runs("v1"), time.Time{}, false},
		{"holds since the file appeared", "main", func(b []byte) bool { return len(b) > 0 }, hour(1), true},
		{"holds everywhere it exists, back to the root", "other", func([]byte) bool { return true }, hour(1), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := m.FirstSeen(context.Background(), testRepo, tc.branch, stagingFile, tc.holds)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantOK || !got.Equal(tc.want) {
				t.Errorf("FirstSeen = %v, %v; want %v, %v", got.UTC(), ok, tc.want, tc.wantOK)
			}
		})
	}

	// holds sees each distinct blob once.
	if _, _, err := m.FirstSeen(context.Background(), testRepo, "main", stagingFile, counting("v1")); err != nil {
		t.Fatal(err)
	}
	if calls != 3 { // reformatted v1, plain v1, v2
		t.Errorf("holds called %d times, want 3 (once per distinct content)", calls)
	}

	if _, _, err := m.FirstSeen(context.Background(), testRepo, "nope", stagingFile, runs("v1")); !errors.Is(err, ErrNoRev) {
		t.Errorf("unknown branch err = %v, want ErrNoRev", err)
	}
	head, _ := m.Head(testRepo, "main")
	if _, _, err := m.FirstSeen(context.Background(), testRepo, head, stagingFile, runs("v1")); !errors.Is(err, ErrNoRev) {
		t.Errorf("sha as branch err = %v, want ErrNoRev", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := m.FirstSeen(ctx, testRepo, "main", stagingFile, runs("v1")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled err = %v, want context.Canceled", err)
	}
}

// TestFirstSeenFirstParent: a tag that soaked on a side branch counts from
// the merge into the walked branch, not from the side branch's commit.
func TestFirstSeenFirstParent(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.commit("main", hour(0), map[string]string{stagingFile: kust("v1")})
	u.commit("side", hour(1), map[string]string{stagingFile: kust("v2")})
	u.commit("main", hour(2), map[string]string{"README.md": "main moves on"})
	u.checkout("main")
	gitCmd(t, u.work, dated(hour(5)), "merge", "-q", "--no-ff", "-m", "merge side", "side")
	gitCmd(t, u.work, nil, "push", "-q", "origin", "main")
	u.commit("main", hour(6), map[string]string{"README.md": "after merge"})

	m := newMirrors(t)
	mustFetch(t, m, u)
	got, ok, err := m.FirstSeen(context.Background(), testRepo, "main", stagingFile, runs("v2"))
	if err != nil || !ok || !got.Equal(hour(5)) {
		t.Errorf("FirstSeen = %v, %v, %v; want %v (the merge)", got.UTC(), ok, err, hour(5))
	}
}
