// Package localrepo is a read-only view of a repository checkout on disk,
// for the offline commands (plan, status, validate --repo). Reads are
// confined to the checkout with os.Root, so a path can never leave it.
package localrepo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// MaxFileSize bounds what one read returns.
const MaxFileSize = 10 << 20

// ErrTooLarge is returned for files over MaxFileSize.
var ErrTooLarge = errors.New("file too large")

// Dir is a checkout.
type Dir struct {
	root *os.Root
	path string
}

// Open opens dir.
func Open(dir string) (*Dir, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", dir, err)
	}
	return &Dir{root: r, path: dir}, nil
}

// Close releases the directory handle.
func (d *Dir) Close() error { return d.root.Close() }

// Commit names the snapshot: the working tree, not a commit.
func (d *Dir) Commit() string { return "working-tree" }

// ReadFile reads a repository-relative path.
func (d *Dir) ReadFile(_ context.Context, path string) ([]byte, error) {
	f, err := d.root.Open(filepath.FromSlash(path))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("read %s: %w", path, ErrTooLarge)
	}
	return b, nil
}

// Exists reports whether path is a regular file in the checkout.
func (d *Dir) Exists(path string) bool {
	fi, err := d.root.Stat(filepath.FromSlash(path))
	return err == nil && fi.Mode().IsRegular()
}

// WriteFile replaces a file's content (plan --write).
func (d *Dir) WriteFile(path string, data []byte) error {
	fi, err := d.root.Stat(filepath.FromSlash(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := d.root.WriteFile(filepath.FromSlash(path), data, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// FS is the checkout as an fs.FS (for generator expansion).
func (d *Dir) FS() fs.FS { return d.root.FS() }
