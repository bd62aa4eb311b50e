package gitmirror

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func badCreds(context.Context) (string, string, error) { return "x-access-token", "wrong", nil }

// TestFetchSinceReusesARecentFetch: a fetch that started after since
// serves the caller; one that started before does not.
func TestFetchSinceReusesARecentFetch(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	c1 := u.commit("main", hour(0), map[string]string{"a": "1"})
	m := newMirrors(t)
	ctx := context.Background()

	before := time.Now()
	if err := m.FetchSince(ctx, testRepo, u.url, goodCreds, time.Time{}); err != nil {
		t.Fatal(err) // no mirror yet: a fetch, whatever since says
	}
	if got := m.Fetches(); got != 1 {
		t.Fatalf("first FetchSince: %d fetches, want 1", got)
	}
	c2 := u.commit("main", hour(1), map[string]string{"a": "2"})
	for _, since := range []time.Time{{}, before.Add(-time.Hour), before} {
		if err := m.FetchSince(ctx, testRepo, u.url, goodCreds, since); err != nil {
			t.Fatal(err)
		}
	}
	if got, head := m.Fetches(), mustHead(t, m); got != 1 || head != c1 {
		t.Errorf("FetchSince before the last fetch: %d fetches, head %.7s; want 1, %.7s", got, head, c1)
	}
	if err := m.FetchSince(ctx, testRepo, u.url, goodCreds, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, head := m.Fetches(), mustHead(t, m); got != 2 || head != c2 {
		t.Errorf("FetchSince now: %d fetches, head %.7s; want 2, %.7s", got, head, c2)
	}
	// Fetch never reuses.
	mustFetch(t, m, u)
	if got := m.Fetches(); got != 3 {
		t.Errorf("Fetch after FetchSince: %d fetches, want 3", got)
	}
}

// TestFetchSinceNotServedByFailuresOrOtherProcesses: a failed fetch, and a
// mirror found on disk, never count as recent.
func TestFetchSinceNotServedByFailuresOrOtherProcesses(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	c := u.commit("main", hour(0), map[string]string{"a": "1"})
	m := newMirrors(t)
	ctx := context.Background()
	if err := m.FetchSince(ctx, testRepo, u.url, badCreds, time.Time{}); err == nil {
		t.Fatal("fetch with a wrong token succeeded")
	}
	if err := m.FetchSince(ctx, testRepo, u.url, goodCreds, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got, head := m.Fetches(), mustHead(t, m); got != 2 || head != c {
		t.Errorf("after a failed fetch: %d fetches, head %.7s; want 2, %.7s", got, head, c)
	}

	again := New(m.root) // the next process on the same data directory
	if err := again.FetchSince(ctx, testRepo, u.url, goodCreds, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := again.Fetches(); got != 1 {
		t.Errorf("mirror from an earlier process: %d fetches, want 1", got)
	}
}

// TestFetchSinceJoinsARunningFetch: callers whose since is before a fetch
// on the wire started share it; a caller that asks for a fetch from after
// that waits for the next one, as with Fetch.
func TestFetchSinceJoinsARunningFetch(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.commit("main", hour(0), map[string]string{"a": "1"})
	m := newMirrors(t)
	mustFetch(t, m, u)
	base := u.infoRefs.Load()

	arrived, release := u.hold()
	defer release()
	ctx := context.Background()
	since := time.Now()
	errs := make(chan error, 8)
	go func() { errs <- m.Fetch(ctx, testRepo, u.url, goodCreds) }()
	<-arrived // on the wire, started after since

	const joiners = 4
	for range joiners {
		go func() { errs <- m.FetchSince(ctx, testRepo, u.url, goodCreds, since) }()
	}
	st, _ := m.state(testRepo)
	waitFor(t, "joiners on the running fetch", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.running != nil && st.running.waiters == joiners+1
	})
	late := time.Now() // after the running fetch started: it must wait for the next
	go func() { errs <- m.FetchSince(ctx, testRepo, u.url, goodCreds, late) }()
	waitFor(t, "the late caller queued", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.pending != nil && st.pending.waiters == 1
	})
	release()
	for range joiners + 2 {
		if err := <-errs; err != nil {
			t.Errorf("fetch: %v", err)
		}
	}
	if got := u.infoRefs.Load() - base; got != 2 {
		t.Errorf("%d network fetches, want 2 (the running one, shared by %d, and the late caller's)", got, joiners+1)
	}
}

// TestMarkStale: after MarkStale no earlier fetch serves FetchSince.
func TestMarkStale(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.commit("main", hour(0), map[string]string{"a": "1"})
	m := newMirrors(t)
	ctx := context.Background()
	mustFetch(t, m, u)
	c2 := u.commit("main", hour(1), map[string]string{"a": "2"}) // "promobot pushed"
	m.MarkStale(testRepo)
	m.MarkStale("not a repo") // ignored
	for range 2 {
		if err := m.FetchSince(ctx, testRepo, u.url, goodCreds, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if got, head := m.Fetches(), mustHead(t, m); got != 2 || head != c2 {
		t.Errorf("after MarkStale: %d fetches, head %.7s; want 2 (one more, then reused), %.7s", got, head, c2)
	}
}

// TestViewIsPinned: a View keeps its branch heads across later fetches.
func TestViewIsPinned(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	c1 := u.commit("main", hour(0), map[string]string{stagingFile: kust("v1")})
	m := newMirrors(t)
	ctx := context.Background()
	if _, err := m.View(testRepo); !errors.Is(err, ErrNoRepo) {
		t.Errorf("View before any fetch: %v, want ErrNoRepo", err)
	}
	mustFetch(t, m, u)
	v, err := m.View(testRepo)
	if err != nil {
		t.Fatal(err)
	}
	c2 := u.commit("main", hour(1), map[string]string{stagingFile: kust("v2")})
	u.commit("promobot/staging/app", hour(2), map[string]string{stagingFile: kust("v3")})
	mustFetch(t, m, u)
	if head := mustHead(t, m); head != c2 {
		t.Fatalf("mirror head %.7s, want %.7s", head, c2)
	}

	if h, err := v.Head("main"); err != nil || h != c1 {
		t.Errorf("view Head(main) = %.7s, %v; want %.7s", h, err, c1)
	}
	if _, err := v.Head("promobot/staging/app"); !errors.Is(err, ErrNoRev) {
		t.Errorf("view Head of a later branch: %v, want ErrNoRev", err)
	}
	for rev, want := range map[string]string{"main": "v1", c2: "v2"} {
		s, err := v.Snapshot(ctx, rev)
		if err != nil {
			t.Fatalf("view Snapshot(%.7s): %v", rev, err)
		}
		if b, err := s.ReadFile(ctx, stagingFile); err != nil || string(b) != kust(want) {
			t.Errorf("view %.7s: %q, %v; want %s", rev, b, err, want)
		}
	}
	if _, err := v.Snapshot(ctx, "nope"); !errors.Is(err, ErrNoRev) {
		t.Errorf("view Snapshot(nope): %v, want ErrNoRev", err)
	}
	if _, err := v.Snapshot(ctx, strings.Repeat("0", 40)); !errors.Is(err, ErrNoRev) {
		t.Errorf("view Snapshot(unknown sha): %v, want ErrNoRev", err)
	}
}

// TestReaches: the branch head is the commit or a descendant of it, through
// any parent; anything else (or anything unknown) is false.
func TestReaches(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	c1 := u.commit("main", hour(0), map[string]string{"a": "1"})
	c2 := u.commit("main", hour(1), map[string]string{"a": "2"})
	side := u.commit("feature", hour(2), map[string]string{"b": "1"}) // off c2
	u.checkout("main")
	c3 := u.commit("main", hour(3), map[string]string{"a": "3"})
	gitCmd(t, u.work, dated(hour(4)), "merge", "-q", "--no-ff", "-m", "merge feature", "feature")
	gitCmd(t, u.work, nil, "push", "-q", "origin", "HEAD:refs/heads/main")
	merge := gitCmd(t, u.work, nil, "rev-parse", "HEAD")
	other := u.commit("other", hour(5), map[string]string{"c": "1"}) // off the merge, not on main
	skewed := u.commit("skewed", hour(100), map[string]string{"d": "1"})
	behind := u.commit("skewed", hour(50), map[string]string{"d": "2"}) // committed "before" its parent

	m := newMirrors(t)
	mustFetch(t, m, u)
	unfetched := u.commit("main", hour(6), map[string]string{"a": "4"})
	v, err := m.View(testRepo)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name, branch, sha string
		want              bool
	}{
		{"head", "main", merge, true},
		{"first parent", "main", c3, true},
		{"second parent", "main", side, true},
		{"deep ancestor", "main", c1, true},
		{"ancestor of both parents", "main", c2, true},
		{"commit of another branch", "main", other, false},
		{"descendant", "feature", merge, false},
		{"not fetched", "main", unfetched, false},
		{"no such branch", "nope", c1, false},
		{"short sha", "main", c1[:7], false},
		{"upper case", "main", strings.ToUpper(c1), false},
		{"older than a day before the commit: pruned", "skewed", skewed, false},
		{"skewed head itself", "skewed", behind, true},
	} {
		got, err := v.Reaches(ctx, tc.branch, tc.sha)
		if err != nil || got != tc.want {
			t.Errorf("%s: Reaches(%s, %.7s) = %v, %v; want %v", tc.name, tc.branch, tc.sha, got, err, tc.want)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := v.Reaches(cctx, "main", c1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled walk: %v, want context.Canceled", err)
	}
}

func mustHead(t *testing.T, m *Mirrors) string {
	t.Helper()
	h, err := m.Head(testRepo, "main")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestReplacedStoresClosePacks: readers keep pack files open, and a fetch
// that replaces their store closes them: however many fetches, the mirror
// holds at most one store's worth of open packs.
func TestReplacedStoresClosePacks(t *testing.T) {
	t.Parallel()
	if _, err := os.ReadDir("/proc/self/fd"); err != nil {
		t.Skip("needs /proc/self/fd")
	}
	u := newUpstream(t)
	m := newMirrors(t)
	packs := filepath.Join(m.root, "acme", "gitops.git", "objects", "pack")
	openPacks := func() int {
		ents, _ := os.ReadDir("/proc/self/fd")
		n := 0
		for _, e := range ents {
			if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(l, packs) {
				n++
			}
		}
		return n
	}
	// Each generation reads from its newest pack and from the first: two
	// open packs per store, more than storeOpenPacks in all if none closed.
	// Its snapshot stays in use (reachable) after the next fetch.
	const fetches = storeOpenPacks/2 + 8
	ctx := context.Background()
	var inUse []*Snapshot
	for i := range fetches {
		u.commit("main", hour(i), map[string]string{fmt.Sprintf("f%d", i): "x"}) // one more pack each
		mustFetch(t, m, u)
		s, err := m.Snapshot(ctx, testRepo, "main")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"f0", fmt.Sprintf("f%d", i)} {
			if got, err := s.ReadFile(ctx, f); err != nil || string(got) != "x" {
				t.Fatalf("%s = %q, %v", f, got, err)
			}
		}
		inUse = append(inUse, s)
	}
	waitFor(t, "replaced stores closed", func() bool { return openPacks() <= storeOpenPacks })
	if n := openPacks(); n == 0 {
		t.Errorf("no pack file open after reads: descriptors are not kept")
	}
	// A snapshot of a replaced store still reads.
	if got, err := inUse[0].ReadFile(ctx, "f0"); err != nil || string(got) != "x" {
		t.Errorf("read through a replaced store: %q, %v", got, err)
	}
}
