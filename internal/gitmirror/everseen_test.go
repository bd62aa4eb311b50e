package gitmirror

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestEverSeen(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.commit("main", hour(0), map[string]string{"README.md": "no staging yet"})
	u.commit("main", hour(1), map[string]string{stagingFile: kust("v1")})
	u.commit("main", hour(2), map[string]string{stagingFile: kust("v2")})
	u.commit("main", hour(3), map[string]string{stagingFile: kust("v1")}) // v1 again
	u.commit("main", hour(4), map[string]string{stagingFile: kust("v3")})
	u.commit("gone", hour(5), map[string]string{stagingFile: ""}) // deleted at head
	m := newMirrors(t)
	mustFetch(t, m, u)
	for _, tc := range []struct {
		name, branch, tag string
		want              time.Time
		wantOK            bool
	}{
		{"ran and moved on: the first run counts", "main", "v1", hour(1), true},
		{"ran once, replaced", "main", "v2", hour(2), true},
		{"running at head", "main", "v3", hour(4), true},
		{"never ran", "main", "v9", time.Time{}, false},
		{"ran before the file was deleted", "gone", "v3", hour(4), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := m.EverSeen(context.Background(), testRepo, tc.branch, stagingFile, runs(tc.tag))
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantOK || !got.Equal(tc.want) {
				t.Errorf("EverSeen = %v, %v; want %v, %v", got.UTC(), ok, tc.want, tc.wantOK)
			}
		})
	}
	if _, _, err := m.EverSeen(context.Background(), testRepo, "nope", stagingFile, runs("v1")); !errors.Is(err, ErrNoRev) {
		t.Errorf("unknown branch err = %v, want ErrNoRev", err)
	}
	if _, _, err := m.EverSeen(context.Background(), testRepo, "main", "../etc/passwd", runs("v1")); err == nil {
		t.Error("a path escaping the repository is refused")
	}
}
