package localrepo

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const secret = "outside the checkout\n"

// checkout makes dir/repo with one file and a secret beside it, outside
// the checkout, plus symlinks that try to reach it.
func checkout(t testing.TB) (repo, outside string) {
	t.Helper()
	dir := t.TempDir()
	repo = filepath.Join(dir, "repo")
	outside = filepath.Join(dir, "secret.yaml")
	must(t, os.MkdirAll(filepath.Join(repo, "apps", "web"), 0o755))
	must(t, os.WriteFile(filepath.Join(repo, "apps", "web", "values.yaml"), []byte("image:\n  tag: v1\n"), 0o644))
	must(t, os.WriteFile(outside, []byte(secret), 0o644))
	must(t, os.Symlink(outside, filepath.Join(repo, "apps", "abs-link.yaml")))
	must(t, os.Symlink("../../secret.yaml", filepath.Join(repo, "apps", "rel-link.yaml")))
	must(t, os.Symlink(filepath.Dir(outside), filepath.Join(repo, "dir-link")))
	// A link that stays inside is fine.
	must(t, os.Symlink("web/values.yaml", filepath.Join(repo, "apps", "inside-link.yaml")))
	return repo, outside
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func open(t testing.TB, dir string) *Dir {
	t.Helper()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func TestReadFileConfined(t *testing.T) {
	repo, outside := checkout(t)
	d := open(t, repo)
	ctx := context.Background()
	for _, p := range []string{
		"../secret.yaml",
		"apps/../../secret.yaml",
		outside, // absolute
		"/etc/passwd",
		"apps/abs-link.yaml",
		"apps/rel-link.yaml",
		"dir-link/secret.yaml",
	} {
		t.Run(p, func(t *testing.T) {
			b, err := d.ReadFile(ctx, p)
			if err == nil {
				t.Fatalf("ReadFile(%q) = %q, want an error", p, b)
			}
			if !strings.Contains(err.Error(), "read ") {
				t.Errorf("error %q does not say what was read", err)
			}
			if d.Exists(p) {
				t.Errorf("Exists(%q) = true outside the checkout", p)
			}
			if err := d.WriteFile(p, []byte("x")); err == nil {
				t.Errorf("WriteFile(%q) succeeded outside the checkout", p)
			}
		})
	}
	got, err := os.ReadFile(outside)
	must(t, err)
	if string(got) != secret {
		t.Fatalf("file outside the checkout changed: %q", got)
	}
}

func TestReadFileInside(t *testing.T) {
	repo, _ := checkout(t)
	d := open(t, repo)
	for _, p := range []string{"apps/web/values.yaml", "apps/inside-link.yaml", "./apps/web/values.yaml", "apps/web/../web/values.yaml"} {
		b, err := d.ReadFile(context.Background(), p)
		if err != nil || string(b) != "image:\n  tag: v1\n" {
			t.Errorf("ReadFile(%q) = %q, %v", p, b, err)
		}
	}
	if !d.Exists("apps/web/values.yaml") {
		t.Error("Exists: regular file not found")
	}
	if d.Exists("apps/web") {
		t.Error("Exists: a directory is not a file")
	}
	if d.Exists("apps/missing.yaml") {
		t.Error("Exists: missing file reported")
	}
	if _, err := d.ReadFile(context.Background(), "apps/missing.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	if d.Commit() != "working-tree" {
		t.Errorf("Commit() = %q", d.Commit())
	}
	if _, err := fs.Stat(d.FS(), "apps/web/values.yaml"); err != nil {
		t.Errorf("FS: %v", err)
	}
}

func TestReadFileTooLarge(t *testing.T) {
	dir := t.TempDir()
	for name, size := range map[string]int{"limit.yaml": MaxFileSize, "over.yaml": MaxFileSize + 1, "huge.yaml": 3 * MaxFileSize} {
		f, err := os.Create(filepath.Join(dir, name))
		must(t, err)
		must(t, f.Truncate(int64(size))) // sparse: cheap on disk
		must(t, f.Close())
	}
	d := open(t, dir)
	b, err := d.ReadFile(context.Background(), "limit.yaml")
	if err != nil || len(b) != MaxFileSize {
		t.Errorf("file at the limit: %d bytes, %v", len(b), err)
	}
	for _, name := range []string{"over.yaml", "huge.yaml"} {
		if _, err := d.ReadFile(context.Background(), name); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: %v, want ErrTooLarge", name, err)
		}
	}
}

func TestWriteFileKeepsMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no unix modes")
	}
	dir := t.TempDir()
	for _, mode := range []os.FileMode{0o600, 0o644, 0o755, 0o640} {
		name := "f" + mode.String()
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, []byte("old\n"), 0o600))
		must(t, os.Chmod(p, mode)) // past the umask
		d := open(t, dir)
		must(t, d.WriteFile(name, []byte("new\n")))
		fi, err := os.Stat(p)
		must(t, err)
		if fi.Mode().Perm() != mode {
			t.Errorf("mode %v became %v", mode, fi.Mode().Perm())
		}
		if b, _ := os.ReadFile(p); string(b) != "new\n" {
			t.Errorf("content %q", b)
		}
	}
}

func TestWriteFileRefusesNewFiles(t *testing.T) {
	dir := t.TempDir()
	d := open(t, dir)
	if err := d.WriteFile("new.yaml", []byte("x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteFile of a missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("WriteFile created a file")
	}
}

func TestOpenMissing(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a missing directory: %v", err)
	}
}

// FuzzReadFile: no path, however hostile, reads the file outside the checkout.
func FuzzReadFile(f *testing.F) {
	for _, s := range []string{"../secret.yaml", "apps/rel-link.yaml", "dir-link/secret.yaml", "/tmp", "apps/web/values.yaml", "a/../../b", "\x00", strings.Repeat("../", 50) + "secret.yaml"} {
		f.Add(s)
	}
	repo, outside := checkout(f)
	d := open(f, repo)
	f.Fuzz(func(t *testing.T, p string) {
		b, err := d.ReadFile(context.Background(), p)
		if err == nil && string(b) == secret {
			t.Fatalf("ReadFile(%q) read %s", p, outside)
		}
	})
}
