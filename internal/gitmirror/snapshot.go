package gitmirror

import (
	"context"
	"errors"
	"fmt"
	"github.com/promobot/promobot/internal/fate"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

var (
	errIsDir      = errors.New("is a directory")
	errNotRegular = errors.New("not a regular file (symlink or submodule)")
)

// Snapshot is a read-only view of a repository at one commit. It is safe for
// concurrent use; it holds no open files.
type Snapshot struct {
	commit plumbing.Hash
	when   time.Time

	st   *store // shared with the repository's other readers; trees fill caches too
	root *object.Tree
}

// Snapshot returns a view of repo at rev: a full 40-hex commit sha, or a
// branch name resolved as of the last completed fetch.
func (m *Mirrors) Snapshot(ctx context.Context, repo, rev string) (*Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	refs, gen, err := m.loadedState(repo)
	if err != nil {
		return nil, err
	}
	h, ok := refs[rev]
	if !ok {
		if !isFullSHA(rev) {
			return nil, fmt.Errorf("%w: %q in %s", ErrNoRev, rev, repo)
		}
		h = plumbing.NewHash(rev)
	}
	s, err := newSnapshotAt(gen, h.String())
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, repo)
	}
	return s, nil
}

func newSnapshotAt(gen *store, sha string) (*Snapshot, error) {
	h := plumbing.NewHash(sha)
	gen.mu.Lock()
	defer gen.mu.Unlock()
	c, err := object.GetCommit(gen.s, h)
	if err != nil {
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, fmt.Errorf("%w: %s", ErrNoRev, h)
		}
		return nil, fmt.Errorf("gitmirror: read commit %s: %w", h, err)
	}
	root, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("gitmirror: read tree of %s: %w", h, err)
	}
	return &Snapshot{commit: h, when: c.Committer.When, st: gen, root: root}, nil
}

func isFullSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Commit returns the snapshot's commit sha.
func (s *Snapshot) Commit() string { return s.commit.String() }

// Tree returns the sha of the snapshot's root tree (the Git Data API's
// base_tree for a commit on top of this one).
func (s *Snapshot) Tree() string { return s.root.Hash.String() }

// CommitTime returns the committer time of the snapshot's commit.
func (s *Snapshot) CommitTime() time.Time { return s.when }

// cleanPath checks a caller's path: relative, UTF-8, no NUL, no ".." element. The
// result is slash-separated with no "." elements; "" is refused.
func cleanPath(p string) (string, error) {
	if p == "" || !utf8.ValidString(p) || strings.IndexByte(p, 0) >= 0 || path.IsAbs(p) || strings.HasPrefix(p, `\`) {
		return "", fate.MarkTerminal(fmt.Errorf("%w: %q", ErrInvalidPath, p))
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return "", fate.MarkTerminal(fmt.Errorf("%w: %q", ErrInvalidPath, p))
		}
	}
	c := path.Clean(p)
	if c == "." {
		return "", fate.MarkTerminal(fmt.Errorf("%w: %q", ErrInvalidPath, p))
	}
	return c, nil
}

// ReadFile returns the content of the regular file at p. Missing files give
// an error matching fs.ErrNotExist; files over MaxFileSize ErrTooLarge;
// symlinks and submodules are refused (a symlink may point out of the repo).
// Every refusal is marked terminal: the same commit reads the same way on
// every retry.
func (s *Snapshot) ReadFile(ctx context.Context, p string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := cleanPath(p)
	if err != nil {
		return nil, err
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.readLocked(c)
}

func (s *Snapshot) readLocked(p string) ([]byte, error) {
	e, err := s.entryLocked(p)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: p, Err: err}
	}
	return s.blobLocked(p, e)
}

func (s *Snapshot) blobLocked(p string, e *object.TreeEntry) ([]byte, error) {
	switch e.Mode {
	case filemode.Regular, filemode.Executable, filemode.Deprecated:
	case filemode.Dir:
		return nil, fate.MarkTerminal(&fs.PathError{Op: "read", Path: p, Err: errIsDir})
	default:
		return nil, notRegular(p, e.Mode)
	}
	return readBlob(s.st.s, p, e.Hash)
}

func readBlob(st *filesystem.Storage, p string, h plumbing.Hash) ([]byte, error) {
	b, err := object.GetBlob(st, h)
	if err != nil {
		return nil, fmt.Errorf("gitmirror: read %s: %w", p, err)
	}
	if b.Size > MaxFileSize {
		return nil, fate.MarkTerminal(&fs.PathError{Op: "read", Path: p, Err: ErrTooLarge})
	}
	r, err := b.Reader()
	if err != nil {
		return nil, fmt.Errorf("gitmirror: read %s: %w", p, err)
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	cerr := r.Close()
	if err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("gitmirror: read %s: %w", p, err)
	}
	if len(data) > MaxFileSize {
		return nil, fate.MarkTerminal(&fs.PathError{Op: "read", Path: p, Err: ErrTooLarge})
	}
	return data, nil
}

// entryLocked finds the tree entry at a clean path; fs.ErrNotExist when absent.
func (s *Snapshot) entryLocked(p string) (*object.TreeEntry, error) {
	e, err := s.root.FindEntry(p)
	switch {
	case err == nil:
		return e, nil
	case errors.Is(err, object.ErrEntryNotFound), errors.Is(err, object.ErrDirectoryNotFound),
		errors.Is(err, plumbing.ErrObjectNotFound):
		return nil, fs.ErrNotExist
	default:
		return nil, err
	}
}

// Exists reports whether p names a file or directory in the snapshot.
func (s *Snapshot) Exists(p string) bool {
	c, err := cleanPath(p)
	if err != nil {
		return false
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	_, err = s.entryLocked(c)
	return err == nil
}

// FS returns a read-only io/fs view of the snapshot's tree, for fs.Glob,
// fs.WalkDir and fs.ReadFile. Symlinks and submodules show in listings but
// cannot be opened; entries with names that are not valid path elements are
// hidden.
func (s *Snapshot) FS() fs.FS { return snapFS{s} }

type snapFS struct{ s *Snapshot }

var (
	_ fs.ReadFileFS = snapFS{}
	_ fs.ReadDirFS  = snapFS{}
	_ fs.StatFS     = snapFS{}
)

func (f snapFS) lookup(op, name string) (*object.TreeEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &object.TreeEntry{Name: ".", Mode: filemode.Dir, Hash: f.s.root.Hash}, nil
	}
	e, err := f.s.entryLocked(name)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return e, nil
}

func (f snapFS) Open(name string) (fs.File, error) {
	f.s.st.mu.Lock()
	defer f.s.st.mu.Unlock()
	e, err := f.lookup("open", name)
	if err != nil {
		return nil, err
	}
	info := entryInfo{e: e, name: path.Base(name)}
	if e.Mode == filemode.Dir {
		ents, err := f.readDirLocked(name, e)
		if err != nil {
			return nil, err
		}
		return &dirFile{info: info, ents: ents}, nil
	}
	data, err := f.s.blobLocked(name, e)
	if err != nil {
		return nil, err
	}
	info.size = int64(len(data))
	return &file{info: info, r: strings.NewReader(string(data))}, nil
}

func (f snapFS) ReadFile(name string) ([]byte, error) {
	f.s.st.mu.Lock()
	defer f.s.st.mu.Unlock()
	e, err := f.lookup("read", name)
	if err != nil {
		return nil, err
	}
	return f.s.blobLocked(name, e)
}

func (f snapFS) Stat(name string) (fs.FileInfo, error) {
	f.s.st.mu.Lock()
	defer f.s.st.mu.Unlock()
	e, err := f.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return f.infoLocked(name, e)
}

func (f snapFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.s.st.mu.Lock()
	defer f.s.st.mu.Unlock()
	e, err := f.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if e.Mode != filemode.Dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return f.readDirLocked(name, e)
}

func (f snapFS) infoLocked(name string, e *object.TreeEntry) (entryInfo, error) {
	info := entryInfo{e: e, name: path.Base(name)}
	if e.Mode.IsFile() {
		size, err := f.s.st.s.EncodedObjectSize(e.Hash)
		if err != nil {
			return info, &fs.PathError{Op: "stat", Path: name, Err: err}
		}
		info.size = size
	}
	return info, nil
}

func (f snapFS) readDirLocked(name string, e *object.TreeEntry) ([]fs.DirEntry, error) {
	t := f.s.root
	if name != "." {
		var err error
		if t, err = object.GetTree(f.s.st.s, e.Hash); err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
		}
	}
	out := make([]fs.DirEntry, 0, len(t.Entries))
	for i := range t.Entries {
		te := &t.Entries[i]
		// A hostile tree can hold names git itself refuses ("..", "a/b").
		if !fs.ValidPath(te.Name) || te.Name == "." || strings.Contains(te.Name, "/") {
			continue
		}
		info, err := f.infoLocked(path.Join(name, te.Name), te)
		if err != nil {
			return nil, err
		}
		out = append(out, fs.FileInfoToDirEntry(info))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

type entryInfo struct {
	e    *object.TreeEntry
	name string
	size int64
}

func (i entryInfo) Name() string       { return i.name }
func (i entryInfo) Size() int64        { return i.size }
func (i entryInfo) ModTime() time.Time { return time.Time{} }
func (i entryInfo) IsDir() bool        { return i.e.Mode == filemode.Dir }
func (i entryInfo) Sys() any           { return nil }
func (i entryInfo) Mode() fs.FileMode {
	switch i.e.Mode {
	case filemode.Dir:
		return fs.ModeDir | 0o555
	case filemode.Executable:
		return 0o555
	case filemode.Symlink:
		return fs.ModeSymlink | 0o444
	case filemode.Submodule:
		return fs.ModeIrregular | 0o444
	default:
		return 0o444
	}
}

type file struct {
	info entryInfo
	r    *strings.Reader
}

func (f *file) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *file) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *file) Close() error               { return nil }

type dirFile struct {
	info entryInfo
	ents []fs.DirEntry
	off  int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errIsDir}
}
func (d *dirFile) Close() error { return nil }

func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.ents[d.off:]
	if n <= 0 {
		d.off = len(d.ents)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.off += n
	return rest[:n], nil
}
