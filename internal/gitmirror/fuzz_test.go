package gitmirror

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"strings"
	"testing"
)

// FuzzCleanPath: an accepted path is a valid io/fs path with no way out of
// the tree; a refused one is refused with ErrInvalidPath.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"a/b.yaml", "./a//b", "../x", "/abs", "a/../b", "a\x00b", "", ".", "..", `\x`, "a/./b/", "...", "a/..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := cleanPath(p)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("cleanPath(%q) err = %v", p, err)
			}
			return
		}
		if !fs.ValidPath(c) || c == "." || strings.IndexByte(c, 0) >= 0 || path.IsAbs(c) {
			t.Fatalf("cleanPath(%q) = %q, not a safe path", p, c)
		}
		for _, el := range strings.Split(c, "/") {
			if el == ".." {
				t.Fatalf("cleanPath(%q) = %q keeps ..", p, c)
			}
		}
	})
}

// FuzzSnapshotRead: any path against a real snapshot either reads a file that
// is in the tree or fails; never panics, never escapes.
func FuzzSnapshotRead(f *testing.F) {
	u := newUpstream(f)
	u.commit("main", hour(0), map[string]string{"a/b.yaml": "b", "c": "c"})
	m := newMirrors(f)
	mustFetch(f, m, u)
	s, err := m.Snapshot(context.Background(), testRepo, "main")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range []string{"a/b.yaml", "c", "a", "../c", "/c", "a/b.yaml/x", "./c", "a//b.yaml"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		b, err := s.ReadFile(context.Background(), p)
		if err == nil {
			c, _ := cleanPath(p)
			if c != "a/b.yaml" && c != "c" {
				t.Fatalf("ReadFile(%q) read %q", p, b)
			}
		}
		if fb, err := fs.ReadFile(s.FS(), p); err == nil && p != "a/b.yaml" && p != "c" {
			t.Fatalf("FS ReadFile(%q) read %q", p, fb)
		}
		_ = s.Exists(p)
	})
}
