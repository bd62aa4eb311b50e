package gitmirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

func TestFetchAndRead(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	c1 := u.commit("main", hour(0), map[string]string{
		"envs/staging/kustomization.yaml": "images:\n- name: app\n  newTag: v1\n",
		"envs/prod/kustomization.yaml":    "images:\n- name: app\n  newTag: v0\n",
		"README.md":                       "hello\n",
	})
	c2 := u.commit("main", hour(1), map[string]string{"envs/staging/kustomization.yaml": "images:\n- name: app\n  newTag: v2\n"})

	m := newMirrors(t)
	mustFetch(t, m, u)

	head, err := m.Head(testRepo, "main")
	if err != nil || head != c2 {
		t.Fatalf("Head = %q, %v; want %s", head, err, c2)
	}
	tests := []struct {
		rev, path, want string
	}{
		{"main", "envs/staging/kustomization.yaml", "images:\n- name: app\n  newTag: v2\n"},
		{c2, "envs/staging/kustomization.yaml", "images:\n- name: app\n  newTag: v2\n"},
		{c1, "envs/staging/kustomization.yaml", "images:\n- name: app\n  newTag: v1\n"},
		{c1, "./envs/prod//kustomization.yaml", "images:\n- name: app\n  newTag: v0\n"},
		{"main", "README.md", "hello\n"},
	}
	for _, tc := range tests {
		if got := mustRead(t, m, tc.rev, tc.path); got != tc.want {
			t.Errorf("ReadFile(%s, %s) = %q, want %q", tc.rev[:4], tc.path, got, tc.want)
		}
	}

	s, err := m.Snapshot(context.Background(), testRepo, "main")
	if err != nil {
		t.Fatal(err)
	}
	if s.Commit() != c2 || !s.CommitTime().Equal(hour(1)) {
		t.Errorf("snapshot commit %s at %v, want %s at %v", s.Commit(), s.CommitTime(), c2, hour(1))
	}
	if _, err := s.ReadFile(context.Background(), "envs/dev/kustomization.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := s.ReadFile(context.Background(), "envs"); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("directory: err = %v, want an is-a-directory error", err)
	}
	for p, want := range map[string]bool{"envs": true, "envs/prod/kustomization.yaml": true, "nope": false, "README.md/x": false} {
		if got := s.Exists(p); got != want {
			t.Errorf("Exists(%q) = %v, want %v", p, got, want)
		}
	}
	got, err := fs.Glob(s.FS(), "envs/*/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"envs/prod/kustomization.yaml", "envs/staging/kustomization.yaml"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Glob = %v, want %v", got, want)
	}

	// New commits appear only after the next fetch.
	c3 := u.commit("main", hour(2), map[string]string{"README.md": "hello again\n"})
	if head, _ := m.Head(testRepo, "main"); head != c2 {
		t.Errorf("Head before refetch = %s, want %s", head, c2)
	}
	mustFetch(t, m, u)
	if head, _ := m.Head(testRepo, "main"); head != c3 {
		t.Errorf("Head after refetch = %s, want %s", head, c3)
	}
	if got := mustRead(t, m, "main", "README.md"); got != "hello again\n" {
		t.Errorf("README after refetch = %q", got)
	}
	// The old snapshot still reads its own commit.
	if b, err := s.ReadFile(context.Background(), "README.md"); err != nil || string(b) != "hello\n" {
		t.Errorf("old snapshot README = %q, %v", b, err)
	}
}

func TestSnapshotFS(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.commit("main", hour(0), map[string]string{
		"a.yaml": "a", "dir/b.yaml": "bb", "dir/sub/c.yaml": "ccc", "z/d.txt": "d",
	})
	m := newMirrors(t)
	mustFetch(t, m, u)
	s, err := m.Snapshot(context.Background(), testRepo, "main")
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(s.FS(), "a.yaml", "dir/b.yaml", "dir/sub/c.yaml", "z/d.txt"); err != nil {
		t.Fatal(err)
	}
}

func TestWrongTokenNotLeaked(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.commit("main", hour(0), map[string]string{"a": "a"})
	m := newMirrors(t)

	wrong := "ghs_wrongTokenValue0987654321"
	err := m.Fetch(context.Background(), testRepo, u.url, func(context.Context) (string, string, error) {
		return "x-access-token", wrong, nil
	})
	if err == nil {
		t.Fatal("fetch with a wrong token succeeded")
	}
	if strings.Contains(err.Error(), wrong) {
		t.Fatalf("error leaks the token: %v", err)
	}
	if _, err := m.Head(testRepo, "main"); err == nil {
		t.Error("Head succeeded after a failed first fetch")
	}

	credErr := errors.New("app key revoked")
	err = m.Fetch(context.Background(), testRepo, u.url, func(context.Context) (string, string, error) { return "", "", credErr })
	if !errors.Is(err, credErr) {
		t.Errorf("credentials error = %v, want it wrapped", err)
	}

	// A good fetch leaves neither the token nor the URL on disk.
	mustFetch(t, m, u)
	err = filepath.WalkDir(m.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(testToken)) || bytes.Contains(b, []byte(wrong)) || bytes.Contains(b, []byte(u.url)) {
			t.Errorf("%s holds the token or the clone URL", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	err := redact(fmt.Errorf("fetch: %w", fmt.Errorf("server said token=%s: %w", testToken, context.DeadlineExceeded)), testToken)
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("redact kept the secret: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("redact lost the cause: %v", err)
	}
	for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
		if strings.Contains(e.Error(), testToken) {
			t.Errorf("unwrapping reaches the secret: %v", e)
		}
	}
}

func TestPruneAndForcePush(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.commit("main", hour(0), map[string]string{"a": "1"})
	u.commit("feature", hour(1), map[string]string{"a": "feature"})
	old := u.commit("rewrite", hour(2), map[string]string{"a": "before"})

	m := newMirrors(t)
	mustFetch(t, m, u)
	if got := mustRead(t, m, "feature", "a"); got != "feature" {
		t.Fatalf("feature a = %q", got)
	}

	gitCmd(t, u.work, nil, "push", "-q", "origin", "--delete", "feature")
	u.checkout("rewrite")
	gitCmd(t, u.work, nil, "reset", "-q", "--hard", "main")
	forced := u.commit("rewrite", hour(3), map[string]string{"a": "after"})

	mustFetch(t, m, u)
	if _, err := m.Head(testRepo, "feature"); !errors.Is(err, ErrNoRev) {
		t.Errorf("deleted branch: Head err = %v, want ErrNoRev", err)
	}
	if _, err := m.Snapshot(context.Background(), testRepo, "feature"); !errors.Is(err, ErrNoRev) {
		t.Errorf("deleted branch: Snapshot err = %v, want ErrNoRev", err)
	}
	if head, _ := m.Head(testRepo, "rewrite"); head != forced {
		t.Errorf("force-pushed Head = %s, want %s", head, forced)
	}
	if got := mustRead(t, m, "rewrite", "a"); got != "after" {
		t.Errorf("force-pushed a = %q", got)
	}
	// The orphaned commit stays readable by sha (objects are never pruned).
	if got := mustRead(t, m, old, "a"); got != "before" {
		t.Errorf("orphaned commit a = %q", got)
	}
	br, err := m.Branches(testRepo)
	if err != nil || len(br) != 2 || br["main"] == "" || br["rewrite"] != forced {
		t.Errorf("Branches = %v, %v", br, err)
	}
}

func TestEmptyRemotePrunesAll(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.commit("main", hour(0), map[string]string{"a": "1"})
	m := newMirrors(t)
	mustFetch(t, m, u)
	gitCmd(t, u.bare, nil, "update-ref", "-d", "refs/heads/main")
	mustFetch(t, m, u)
	if br, err := m.Branches(testRepo); err != nil || len(br) != 0 {
		t.Errorf("Branches after remote emptied = %v, %v; want none", br, err)
	}
}

func TestReopenFromDisk(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	c := u.commit("main", hour(0), map[string]string{"a": "1"})
	root := filepath.Join(t.TempDir(), "mirrors")
	mustFetch(t, New(root), u)

	m := New(root) // a new process: nothing in memory
	if head, err := m.Head(testRepo, "main"); err != nil || head != c {
		t.Fatalf("Head after reopen = %q, %v; want %s", head, err, c)
	}
	c2 := u.commit("main", hour(1), map[string]string{"a": "2"})
	mustFetch(t, m, u)
	if got := mustRead(t, m, c2, "a"); got != "2" {
		t.Errorf("a = %q", got)
	}
}

func TestFetchRemovesInterruptedPacks(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.commit("main", hour(0), map[string]string{"a": "1"})
	m := newMirrors(t)
	mustFetch(t, m, u)
	leftover := filepath.Join(m.root, "acme", "gitops.git", "objects", "pack", "tmp_pack_123")
	if err := os.WriteFile(leftover, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustFetch(t, m, u)
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover temp pack still there: %v", err)
	}
}

func TestNoRepo(t *testing.T) {
	t.Parallel()
	m := newMirrors(t)
	ctx := context.Background()
	if _, err := m.Head(testRepo, "main"); !errors.Is(err, ErrNoRepo) {
		t.Errorf("Head: %v", err)
	}
	if _, err := m.Snapshot(ctx, testRepo, "main"); !errors.Is(err, ErrNoRepo) {
		t.Errorf("Snapshot: %v", err)
	}
	if _, _, err := m.FirstSeen(ctx, testRepo, "main", "a", func([]byte) bool { return true }); !errors.Is(err, ErrNoRepo) {
		t.Errorf("FirstSeen: %v", err)
	}
	if _, err := m.Branches(testRepo); !errors.Is(err, ErrNoRepo) {
		t.Errorf("Branches: %v", err)
	}
}

func TestUnknownRevisions(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.commit("main", hour(0), map[string]string{"a": "1"})
	m := newMirrors(t)
	mustFetch(t, m, u)
	for _, rev := range []string{"nope", "0123456789012345678901234567890123456789", "", "HEAD", "refs/heads/main", "abc"} {
		if _, err := m.Snapshot(context.Background(), testRepo, rev); !errors.Is(err, ErrNoRev) {
			t.Errorf("Snapshot(%q) err = %v, want ErrNoRev", rev, err)
		}
	}
	// A sha that names a blob, not a commit.
	blob := gitCmd(t, u.work, nil, "rev-parse", "HEAD:a")
	if _, err := m.Snapshot(context.Background(), testRepo, blob); err == nil {
		t.Error("Snapshot of a blob sha succeeded")
	}
}

func TestHostileInputs(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.commit("main", hour(0), map[string]string{"a/b.yaml": "b"})
	if err := os.Symlink("/etc/passwd", filepath.Join(u.work, "passwd")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../..", filepath.Join(u.work, "a", "up")); err != nil {
		t.Fatal(err)
	}
	u.commit("main", hour(1), nil)

	m := newMirrors(t)
	ctx := context.Background()
	mustFetch(t, m, u)
	s, err := m.Snapshot(ctx, testRepo, "main")
	if err != nil {
		t.Fatal(err)
	}

	paths := []string{"/etc/passwd", "../a/b.yaml", "a/../../etc/passwd", "a/b.yaml\x00", "", ".", "./", "a/..", `\etc\passwd`, "/"}
	for _, p := range paths {
		if _, err := s.ReadFile(ctx, p); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("ReadFile(%q) err = %v, want ErrInvalidPath", p, err)
		}
		if s.Exists(p) {
			t.Errorf("Exists(%q) = true", p)
		}
		if _, _, err := m.FirstSeen(ctx, testRepo, "main", p, func([]byte) bool { return true }); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("FirstSeen(%q) err = %v, want ErrInvalidPath", p, err)
		}
		if p != "." {
			if _, err := fs.ReadFile(s.FS(), p); err == nil {
				t.Errorf("FS ReadFile(%q) succeeded", p)
			}
		}
	}
	for _, p := range []string{"passwd", "a/up", "a/up/etc/passwd"} {
		b, err := s.ReadFile(ctx, p)
		if err == nil {
			t.Errorf("ReadFile(%q) through a symlink = %q", p, b)
		}
		if _, err := fs.ReadFile(s.FS(), p); err == nil {
			t.Errorf("FS ReadFile(%q) through a symlink succeeded", p)
		}
	}

	urls := []string{
		"ssh://git@github.com/acme/gitops.git",
		"git@github.com:acme/gitops.git",
		"git://github.com/acme/gitops.git",
		"ext::sh -c touch% /tmp/pwned",
		"file://" + u.bare,
		u.bare,
		"https://x-access-token:" + testToken + "@github.com/acme/gitops.git",
		"https:///nohost",
		"://",
	}
	for _, raw := range urls {
		err := m.Fetch(ctx, testRepo, raw, goodCreds)
		if !errors.Is(err, ErrInvalidURL) {
			t.Errorf("Fetch(%q) err = %v, want ErrInvalidURL", raw, err)
		}
		if err != nil && strings.Contains(err.Error(), testToken) {
			t.Errorf("Fetch(%q) error leaks the token: %v", raw, err)
		}
	}
	for _, repo := range []string{"../x", "acme/..", "acme/gitops/extra", "acme", "", "/etc", "acme/gi\x00ps"} {
		if err := m.Fetch(ctx, repo, u.url, goodCreds); !errors.Is(err, ErrInvalidRepo) {
			t.Errorf("Fetch(repo %q) err = %v, want ErrInvalidRepo", repo, err)
		}
		if _, err := m.Head(repo, "main"); !errors.Is(err, ErrInvalidRepo) {
			t.Errorf("Head(repo %q) err = %v, want ErrInvalidRepo", repo, err)
		}
	}
}

func TestFileURLOption(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	c := u.commit("main", hour(0), map[string]string{"a": "1"})
	m := newMirrors(t, AllowFileURLs())
	if err := m.Fetch(context.Background(), testRepo, "file://"+u.bare, nil); err != nil {
		t.Fatal(err)
	}
	if head, _ := m.Head(testRepo, "main"); head != c {
		t.Errorf("Head = %s, want %s", head, c)
	}
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.commit("main", hour(0), map[string]string{
		"big":  strings.Repeat("x", MaxFileSize+1),
		"edge": strings.Repeat("y", MaxFileSize),
	})
	m := newMirrors(t)
	mustFetch(t, m, u)
	s, err := m.Snapshot(context.Background(), testRepo, "main")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadFile(context.Background(), "big"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("big: err = %v, want ErrTooLarge", err)
	}
	if _, err := fs.ReadFile(s.FS(), "big"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("FS big: err = %v, want ErrTooLarge", err)
	}
	if b, err := s.ReadFile(context.Background(), "edge"); err != nil || len(b) != MaxFileSize {
		t.Errorf("edge: %d bytes, %v", len(b), err)
	}
}

// TestFetchCoalesces: callers that arrive while a fetch runs share one
// follow-up fetch; a caller that gives up gets its context error.
func TestFetchCoalesces(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.commit("main", hour(0), map[string]string{"a": "1"})
	m := newMirrors(t)
	mustFetch(t, m, u)
	before := u.infoRefs.Load()

	arrived, release := u.hold()
	defer release()
	ctx := context.Background()
	errs := make(chan error, 8)
	go func() { errs <- m.Fetch(ctx, testRepo, u.url, goodCreds) }()
	<-arrived // the leader's fetch is on the wire

	// A caller that gives up while waiting.
	cctx, cancel := context.WithCancel(ctx)
	quitter := make(chan error, 1)
	go func() { quitter <- m.Fetch(cctx, testRepo, u.url, goodCreds) }()

	const followers = 5
	for range followers {
		go func() { errs <- m.Fetch(ctx, testRepo, u.url, goodCreds) }()
	}
	st, _ := m.state(testRepo)
	waitFor(t, "followers queued", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.pending != nil && st.pending.waiters == followers+1
	})
	cancel()
	if err := <-quitter; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller err = %v, want context.Canceled", err)
	}
	release()
	for range followers + 1 {
		if err := <-errs; err != nil {
			t.Errorf("fetch: %v", err)
		}
	}
	if got := u.infoRefs.Load() - before; got != 2 {
		t.Errorf("%d network fetches for %d callers, want 2 (one running, one follow-up)", got, followers+2)
	}
}

// TestFetchCancelled: a lone caller's cancellation stops the fetch and the
// next fetch works.
func TestFetchCancelled(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	c := u.commit("main", hour(0), map[string]string{"a": "1"})
	m := newMirrors(t)
	arrived, release := u.hold()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Fetch(ctx, testRepo, u.url, goodCreds) }()
	<-arrived
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	release()
	// The abandoned fetch winds down; a new one then succeeds.
	mustFetch(t, m, u)
	if head, _ := m.Head(testRepo, "main"); head != c {
		t.Errorf("Head = %s, want %s", head, c)
	}

	// A fetch timeout bounds a fetch even when callers wait forever.
	m2 := newMirrors(t, WithFetchTimeout(time.Millisecond))
	arrived, release = u.hold()
	defer release()
	go func() { done <- m2.Fetch(context.Background(), testRepo, u.url, goodCreds) }()
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timed-out fetch err = %v, want DeadlineExceeded", err)
	}
	select {
	case <-arrived:
	default:
	}
}

// waitFor polls cond with a generous deadline; used only where a goroutine's
// progress cannot be signalled otherwise.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestConcurrentFetchAndRead runs fetches of new commits while many readers
// read snapshots; every read must match what was committed at that sha.
func TestConcurrentFetchAndRead(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	var mu sync.Mutex
	want := map[string]string{} // sha -> content of env.yaml
	content := func(i int) string { return fmt.Sprintf("tag: v%d\n%s", i, strings.Repeat("#", i*37)) }
	sha := u.commit("main", hour(0), map[string]string{"env.yaml": content(0)})
	want[sha] = content(0)

	m := newMirrors(t)
	mustFetch(t, m, u)
	ctx := context.Background()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var readErr error
	var errOnce sync.Once
	fail := func(err error) { errOnce.Do(func() { readErr = err }) }
	reads := make([]int, 3)
	for r := range reads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				head, err := m.Head(testRepo, "main")
				if err != nil {
					fail(err)
					return
				}
				s, err := m.Snapshot(ctx, testRepo, head)
				if err != nil {
					fail(err)
					return
				}
				b, err := s.ReadFile(ctx, "env.yaml")
				if err != nil {
					fail(err)
					return
				}
				mu.Lock()
				w, ok := want[head]
				mu.Unlock()
				if !ok || string(b) != w {
					fail(fmt.Errorf("at %s read %q, want %q", head, b, w))
					return
				}
				if _, err := fs.Glob(s.FS(), "*.yaml"); err != nil {
					fail(err)
					return
				}
				reads[r]++
			}
		}()
	}
	// Concurrent fetchers of the same repository too.
	for i := 1; i <= 4; i++ {
		sha := u.commit("main", hour(i), map[string]string{"env.yaml": content(i)})
		mu.Lock()
		want[sha] = content(i)
		mu.Unlock()
		var fw sync.WaitGroup
		for range 3 {
			fw.Add(1)
			go func() {
				defer fw.Done()
				if err := m.Fetch(ctx, testRepo, u.url, goodCreds); err != nil {
					fail(err)
				}
			}()
		}
		fw.Wait()
	}
	close(stop)
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	if head, _ := m.Head(testRepo, "main"); want[head] != content(4) {
		t.Errorf("final head %s is not the last commit", head)
	}
	total := 0
	for _, n := range reads {
		total += n
	}
	if total == 0 {
		t.Error("no reads happened")
	}
	t.Logf("%d concurrent reads", total)
}

// TestSnapshotSharedAcrossGoroutines: one Snapshot used from many goroutines.
func TestSnapshotSharedAcrossGoroutines(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	files := map[string]string{}
	for i := range 20 {
		files[fmt.Sprintf("d%d/f%d.yaml", i%4, i)] = fmt.Sprint(i)
	}
	u.commit("main", hour(0), files)
	m := newMirrors(t)
	mustFetch(t, m, u)
	s, err := m.Snapshot(context.Background(), testRepo, "main")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(files))
	for p, c := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := s.ReadFile(context.Background(), p)
			if err != nil || string(b) != c {
				errs <- fmt.Errorf("%s = %q, %v", p, b, err)
			}
			if !s.Exists(p) {
				errs <- fmt.Errorf("%s does not exist", p)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestIndexLoadDuringFetch: loading pack indexes while a fetch renames its
// temporary pack into place must not lose packs (go-billy's osfs ReadDir
// fails the whole listing when an entry vanishes, and go-git then sees no
// packs at all; tolerantFS guards against it).
func TestIndexLoadDuringFetch(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	first := u.commit("main", hour(0), map[string]string{"a": "0"})
	m := newMirrors(t)
	mustFetch(t, m, u)
	dir := filepath.Join(m.root, "acme", "gitops.git")

	stop := make(chan struct{})
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// A fresh storage lists packs each time, as a new generation does.
				if _, err := newSnapshotAt(newStore(dir), first); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 1; i <= 12; i++ {
		u.commit("main", hour(i), map[string]string{"a": fmt.Sprint(i)})
		mustFetch(t, m, u)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("reading a commit during a fetch: %v", err)
	}
}
